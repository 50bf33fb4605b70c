"""`vapi-bridge init NAME|PATH` through the real process: a NAME writes ./NAME.yaml, a path
without .yaml gets it (`../dev` → ../dev.yaml, which the printed `--profile` then finds), and
a directory is refused with one line saying what to give instead, --force or not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import bridge_cmd, bridge_env


def init(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(bridge_cmd("init", *args), capture_output=True, text=True,
                          timeout=60, env=bridge_env(), cwd=cwd)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("arg", ["./dd", "dd/", "dd", "../up/dd"])
@pytest.mark.parametrize("force", [False, True])
def test_a_directory_is_refused_with_what_to_give_instead(tmp_path: Path, arg: str,
                                                          force: bool) -> None:
    cwd = tmp_path / "up"
    (cwd / "dd").mkdir(parents=True)
    if arg == "dd":  # a bare NAME is ./dd.yaml, whatever else is called dd
        assert init(cwd, arg, *(["--force"] if force else [])).returncode == 0
        assert (cwd / "dd.yaml").is_file()
        return
    result = init(cwd, arg, *(["--force"] if force else []))
    assert result.returncode == 2, result.stderr
    stem = arg.rstrip("/")
    assert one_line(result) == (f"vapi-bridge: {arg} is a directory — give the profile's "
                                f"file in it: vapi-bridge init {stem}/NAME.yaml")
    assert list((cwd / "dd").iterdir()) == []
    assert sorted(p.name for p in cwd.iterdir()) == ["dd"]


def test_a_directory_named_like_the_profile_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kiosk.yaml").mkdir()
    result = init(tmp_path, "kiosk", "--force")
    assert result.returncode == 2
    assert one_line(result) == ("vapi-bridge: kiosk.yaml is a directory — give another NAME, "
                                "or the profile's file in it: vapi-bridge init "
                                "kiosk.yaml/NAME.yaml")


def test_a_path_without_yaml_gets_it_and_the_hint_finds_it(tmp_path: Path) -> None:
    cwd = tmp_path / "here"
    cwd.mkdir()
    result = init(cwd, "../dev")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dev.yaml").is_file() and not (tmp_path / "dev").exists()
    assert result.stdout.startswith("wrote ../dev.yaml: ")
    assert result.stdout.rstrip().endswith("then: vapi-bridge check --profile ../dev.yaml")
    assert "name: dev" in (tmp_path / "dev.yaml").read_text()
    again = init(cwd, "../dev")
    assert again.returncode == 2
    assert one_line(again) == ("vapi-bridge: ../dev.yaml exists; choose another name, or "
                               "--force to overwrite it")
    # a path with .yaml, and a bare NAME, are written as before
    assert init(cwd, "./desk.yaml").returncode == 0 and (cwd / "desk.yaml").is_file()
    named = init(cwd, "front")
    assert named.stdout.rstrip().endswith("--profile front") and (cwd / "front.yaml").is_file()


def test_a_missing_directory_is_made_with_mkdir_where_the_user_may(tmp_path: Path) -> None:
    result = init(tmp_path, "config/x")
    assert result.returncode == 2
    assert one_line(result) == ("vapi-bridge: no directory config; create it first: "
                                "mkdir -p config")
    assert not (tmp_path / "config").exists()


def test_sudo_is_suggested_only_where_the_user_may_not_create_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from bridge.cli.scaffold import make_dir_command

    assert make_dir_command(tmp_path / "a" / "b") == f"mkdir -p {tmp_path}/a/b"
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    assert make_dir_command(tmp_path / "a" / "b") == \
        f"sudo install -d -m 0755 {tmp_path}/a/b"
    assert make_dir_command(tmp_path / "my dir") == \
        f"sudo install -d -m 0755 '{tmp_path}/my dir'"
