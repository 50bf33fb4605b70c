"""`vapi-bridge ctl --json` answers in JSON when it fails before any daemon answers (none
running, a stale socket, a bad --profile, conflicting options): the daemon's own error shape
`{"ok": false, "error": "…", "kind": KIND}` on stdout, nothing on stderr, the same exit
code as without --json (5 no daemon, 2 usage)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import __version__
from tests.e2e.conftest import bridge_cmd, bridge_env


def ctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(bridge_cmd("ctl", *args), capture_output=True, text=True,
                          timeout=60, env=bridge_env(), cwd=cwd)


def stale_socket(path: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()  # the file stays, nothing listens: a daemon that died
    return path


def cases(tmp: Path) -> list[tuple[list[str], int, str, str]]:
    """(arguments, exit code, kind, words of the error)"""
    nobody = f"nosuch-{uuid.uuid4().hex[:8]}"
    gone, stale = tmp / "gone.sock", stale_socket(tmp / "stale.sock")
    plain = tmp / "kiosk.yaml"  # --socket given a file that is no socket
    plain.write_text("assistant: {}\n")
    return [
        (["-p", nobody, "--json", "status"], 5, "network",
         f"no vapi-bridge daemon is running for profile {nobody}"),
        (["--json", "--socket", str(gone), "say", "Hello"], 5, "network",
         f"no vapi-bridge daemon is running at {gone} (no socket there)"),
        (["--socket", str(stale), "end", "--json"], 5, "network",
         "a stale socket: the daemon is gone"),
        (["--json", "--socket", str(gone), "events"], 5, "network", "no socket there"),
        (["--json", "--socket", str(plain), "status"], 5, "network",
         f"no vapi-bridge daemon is running at {plain} (that is no socket: check --socket "
         f"or --profile)"),
        (["-p", "./missing.yaml", "--json", "status"], 2, "usage", "profile not found"),
        (["-p", nobody, "--socket", str(gone), "--json", "status"], 2, "usage",
         "give --profile or --socket, not both"),
    ]


def test_each_early_failure_is_a_json_answer_with_its_exit_code(tmp_path: Path,
                                                                short_dir: Path) -> None:
    for args, code, kind, words in cases(short_dir):  # short: a socket's path is bounded
        result = ctl(tmp_path, *args)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert result.stderr == "", (args, result.stderr)
        answer = json.loads(result.stdout)
        assert set(answer) == {"ok", "error", "kind"}, answer
        assert answer["ok"] is False and answer["kind"] == kind, (args, answer)
        assert words in answer["error"], (args, answer)


@pytest.mark.parametrize("command", ["status", "events"])
def test_without_json_it_stays_one_line_on_stderr(tmp_path: Path, command: str) -> None:
    gone = tmp_path / "gone.sock"
    result = ctl(tmp_path, "--socket", str(gone), command)
    assert result.returncode == 5
    assert result.stdout == ""
    assert result.stderr == (f"vapi-bridge: no vapi-bridge daemon is running at {gone} "
                             f"(no socket there) — start it (vapi-bridge run --profile NAME, "
                             f"or systemctl start vapi-bridge@NAME), or give --socket the "
                             f"path its log names\n")  # (the fix: none, before)


@pytest.mark.parametrize("value", ["-3", "0", "nan", "soon"])
def test_a_timeout_that_is_no_length_of_time_is_a_usage_error(tmp_path: Path,
                                                              value: str) -> None:
    result = ctl(tmp_path, "--socket", str(tmp_path / "gone.sock"), "--timeout", value,
                 "status")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"vapi-bridge ctl: error: argument --timeout: '{value}' is not a number of seconds "
        f"above 0 and below 1000000")


def test_a_usage_error_ctl_finds_itself_is_said_as_its_other_usage_errors(
        tmp_path: Path) -> None:
    """`ctl transfer 555` (tests/e2e/test_cli_messages.py) and this said `vapi-bridge: …`
    where argparse's errors say `vapi-bridge ctl …: error:` and the daemon's refusals
    `vapi-bridge ctl: …`; a problem of the machine (no daemon) keeps `vapi-bridge:`, as
    every command's."""
    result = ctl(tmp_path, "--socket", str(tmp_path / "gone.sock"), "-p", "kiosk", "status")
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == "vapi-bridge ctl: give --profile or --socket, not both\n"


@contextlib.contextmanager
def old_daemon(path: Path, answer: dict[str, object], times: int) -> Iterator[None]:
    """A daemon of another version on `path`: `answer` to the next `times` requests."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(times)

    def serve() -> None:
        for _ in range(times):
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(json.dumps(answer).encode() + b"\n")

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    try:
        yield
    finally:
        server.close()
        worker.join(5)


def test_a_status_of_another_shape_is_said_not_an_internal_error(short_dir: Path) -> None:
    """A daemon of another version (still running after an upgrade) answers `status`
    without a field this ctl renders: before, "internal error: KeyError('mode')"."""
    path = short_dir / "old.sock"
    with old_daemon(path, {"ok": True, "profile": "lobby", "state": "idle"}, 2):
        plain = ctl(short_dir, "--socket", str(path), "status")  # without --json, then with
        assert plain.returncode == 1 and plain.stdout == "", plain
        assert plain.stderr.startswith("vapi-bridge ctl: the daemon's status is not in the "
                                       "shape this ctl reads"), plain.stderr
        assert "internal error" not in plain.stderr and "Traceback" not in plain.stderr
        as_json = ctl(short_dir, "--socket", str(path), "--json", "status")
        assert as_json.returncode == 0, as_json
        assert json.loads(as_json.stdout)["profile"] == "lobby"


def test_a_status_of_another_shape_with_its_own_lines_is_printed(short_dir: Path) -> None:
    """Every daemon renders its status into `message` (bridge.control.commands.do_status):
    one of another version, whose fields this ctl cannot render, answered with its own
    lines, which ctl rendered again all the same (and failed: "not in the shape", exit 1)."""
    path = short_dir / "old.sock"
    said = "profile lobby (standby mode): waiting for trigger\nno call yet"
    with old_daemon(path, {"ok": True, "message": said, "profile": "lobby"}, 1):
        plain = ctl(short_dir, "--socket", str(path), "status")
    assert (plain.returncode, plain.stdout) == (0, said + "\n"), plain
    # a daemon from before the status carried a version: older than this ctl (said nothing)
    assert plain.stderr == ("vapi-bridge ctl: the daemon runs a vapi-bridge older than "
                            f"{__version__} (its status names no version): restart the daemon "
                            f"to run {__version__}\n"), plain.stderr


def test_a_daemon_left_running_after_an_upgrade_is_said_to_need_a_restart(
        short_dir: Path) -> None:
    """After `pip install` of a new build, a daemon still running runs the old code: its
    status said nothing of it (only /metrics' build_info carried a version)."""
    path = short_dir / "old.sock"
    said = "profile lobby (standby mode): waiting for trigger\nno call yet"
    with old_daemon(path, {"ok": True, "message": said, "version": "0.0.1\x1b[31m"}, 2):
        plain = ctl(short_dir, "--socket", str(path), "status")
        as_json = ctl(short_dir, "--socket", str(path), "--json", "status")
    assert (plain.returncode, plain.stdout) == (0, said + "\n"), plain
    assert plain.stderr.startswith("vapi-bridge ctl: the daemon runs vapi-bridge "
                                   "0.0.1\\x1b[31m, and "), plain.stderr
    assert plain.stderr.rstrip().endswith("is installed: restart the daemon to run it")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["version"] == "0.0.1\x1b[31m"
