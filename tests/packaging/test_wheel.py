"""The package as a pip user gets it: a wheel installed into a fresh venv and run from another
directory, with no checkout — the path docs/kiosk-install.md takes."""

from __future__ import annotations

import ensurepip
import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from tests.e2e.conftest import KEY, ROOT

pytestmark = pytest.mark.timeout(300)


@dataclass
class Installed:
    wheel: Path
    venv: Path
    home: Path  # the working directory: not the checkout

    @property
    def exe(self) -> Path:
        return self.venv / "bin" / "vapi-bridge"

    def run(self, *args: str, timeout: float = 60, **env: str
            ) -> subprocess.CompletedProcess[str]:
        full = {k: v for k, v in os.environ.items()
                if not k.startswith(("VAPI_", "PYTHON", "VIRTUAL_ENV"))}
        full.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"),
                    XDG_RUNTIME_DIR=str(self.home / "run"), **env)
        return subprocess.run([str(self.exe), *args], cwd=self.home, env=full,
                              capture_output=True, text=True, timeout=timeout)


def _check(cmd: list[str], **kwargs: object) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, **kwargs)
    assert result.returncode == 0, f"{shlex.join(cmd)}:\n{result.stdout}\n{result.stderr}"


def _session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of this session's that every xdist worker shares (their base temp
    directories' parent), else this run's own base temp directory."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _source_copy(dest: Path) -> Path:
    """The checkout as it is (committed or not: git's view of its working tree) in a clone
    of its history at `dest`, for pip to build in. pip built in the checkout itself: its
    build rewrote bridge/_version.py there mid-run, and a test process that had imported
    the old one (/metrics' build_info, `ctl`'s version check) met daemons reporting the
    new one; and it wrote build/ and the egg-info beside other tests reading the tree."""
    _check(["git", "clone", "-q", str(ROOT), str(dest)])
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True).stdout
    for name in {n for n in listed.decode().split("\0") if n}:
        source, target = ROOT / name, dest / name
        if target.is_symlink() or target.is_file():
            target.unlink()
        if source.is_symlink() or source.is_file():  # (deleted in the checkout: gone here)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    return dest


def _venv_with_pip(venv: Path) -> None:
    """`python -m venv`'s venv, its pip (and setuptools) the wheels Python bundles for it,
    installed --no-compile: ensurepip compiles them, 9-10 s of CPU of a CI run's."""
    bundled = sorted((Path(ensurepip.__file__).parent / "_bundled").glob("*.whl"))
    if not bundled:  # (a Python without them, as Debian's: its venv finds its own)
        _check([sys.executable, "-m", "venv", str(venv)])
        return
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    _check([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
            "-q", "--no-compile", "--no-deps", "--no-index", *map(str, bundled)])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel and a fresh venv with it installed, made once a session by the first worker
    that needs them (the others wait for it, then use them). Each worker that ran a test of
    this module made its own before: 3 in a CI run, 25-38 s each, most of it CPU (pip's
    build environment, the venv's pip, numpy and the rest unpacked). --no-compile: Python
    compiles what the tests import, as the Makefile's venvs do."""
    shared = _session_dir(tmp_path_factory) / "wheel"
    shared.mkdir(exist_ok=True)
    dist, venv, src = shared / "dist", shared / "venv", shared / "src"
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / ".installed").exists():
            for left in (dist, venv, src):  # what a build that failed left
                shutil.rmtree(left, ignore_errors=True)
            _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(dist), str(_source_copy(src))])
            wheel = next(dist.glob("vapi_bridge-*.whl"))
            _venv_with_pip(venv)
            _check([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-compile", str(wheel)])
            (shared / ".installed").touch()
    return next(dist.glob("vapi_bridge-*.whl")), venv


@pytest.fixture
def installed(built: tuple[Path, Path]) -> Iterator[Installed]:
    """The session's wheel and venv, and a working directory (not the checkout) of the
    test's own, short: its run/vapi-bridge/NAME.sock must fit a Unix socket's path."""
    home = Path(tempfile.mkdtemp(prefix="vbw-", dir="/tmp"))
    (home / "run").mkdir()
    try:
        yield Installed(*built, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _version(wheel: Path) -> Version:
    return Version(wheel.name.split("-")[1])


def _commit_of(version: Version) -> str:
    """The commit a development build names: +g<hash>, +g<hash>.d<date> if it was dirty."""
    assert version.local is not None and version.local.startswith("g"), version
    return version.local.split(".")[0][1:]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="a copy without git: version 0.1.0")
def test_each_commit_builds_a_version_that_a_plain_install_upgrades_to(
        installed: Installed, tmp_path: Path) -> None:
    """Every build was version 0.1.0: `pip install NEW.whl` over an older build answered
    "already installed with the same version" and kept the old code, and `--version` could
    not tell two builds apart. The version now comes from git: each commit's build names
    the commit and sorts above the one before, and the plain install upgrades. (4-6 s.)"""
    old = _version(installed.wheel)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert old > Version("0.1.0") and head.startswith(_commit_of(old)), old
    assert installed.run("--version").stdout == f"vapi-bridge {old}\n"

    # the next commit: this checkout's files (as they are, committed or not) on its history
    src = _source_copy(tmp_path / "src")
    _check(["git", "-C", str(src), "add", "-A"])
    _check(["git", "-C", str(src), "-c", "user.name=t", "-c", "user.email=t@example.com",
            "commit", "-q", "--allow-empty", "-m", "the next build"])
    _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
            "-w", str(tmp_path / "dist"), str(src)])
    new_wheel = next((tmp_path / "dist").glob("vapi_bridge-*.whl"))
    new = _version(new_wheel)
    next_head = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"],
                               capture_output=True, text=True, check=True).stdout.strip()
    assert new > old and next_head.startswith(_commit_of(new)), (old, new)

    # the guide's upgrade, in a venv of its own (--no-deps: only the package's version
    # decides whether pip installs it; the dependencies are the other tests' business)
    venv = tmp_path / "venv"
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
    said = [str(python), "-c", "import bridge; print(bridge.__version__)"]  # its --version
    _check([*pip, str(installed.wheel)])
    assert subprocess.run(said, capture_output=True, text=True, cwd=tmp_path).stdout == f"{old}\n"
    _check([*pip, str(new_wheel)])
    assert subprocess.run(said, capture_output=True, text=True, cwd=tmp_path).stdout == f"{new}\n"


def test_the_wheel_carries_licence_metadata_profile_and_units(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(meta).decode()
    assert "License-Expression: MIT" in metadata
    assert "Classifier: Operating System :: POSIX :: Linux" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    for asset in ("bridge/assets/frontdesk.yaml", "bridge/assets/systemd/vapi-bridge@.service",
                  "bridge/assets/systemd/vapi-bridge@.user.service"):
        assert asset in names, asset
    assert not any(n.startswith(("config/", "systemd/", "tests/")) for n in names)


def test_init_unit_and_a_call_from_the_wheel_alone(installed: Installed, start_sim) -> None:
    assert installed.run("--version").stdout.strip().startswith("vapi-bridge ")

    made = installed.run("init", "frontdesk")
    assert made.returncode == 0, made.stderr
    profile = installed.home / "frontdesk.yaml"
    text = profile.read_text()
    assert text == (ROOT / "config" / "frontdesk.yaml").read_text().replace(
        "  name: front-desk ", "  name: frontdesk  ")
    again = installed.run("init", "frontdesk")
    assert again.returncode == 2 and "--force" in again.stderr
    assert profile.read_text() == text, "an existing profile is never overwritten"

    system_unit = installed.run("unit").stdout
    user_unit = installed.run("unit", "--user").stdout
    for unit, profile_path in ((system_unit, "/etc/vapi-bridge/%i.yaml"),
                               (user_unit, "%h/.config/vapi-bridge/%i.yaml")):
        assert f"ExecStart={installed.exe} run --profile {profile_path}\n" in unit
        assert "/opt/vapi-bridge/venv" not in unit.split("[Service]", 1)[1]
    assert "User=vapi-bridge" in system_unit and "User=" not in user_unit

    # the written profile, as the guide has the user edit it, places a call to the simulator
    sim = start_sim(assistant="echo")
    data = yaml.safe_load(text)
    data["api"]["base_url"] = sim.base_url
    data["assistant"] = {"id": "echo", "overrides": {"firstMessage": "Hello.",
                                                     "maxDurationSeconds": 2}}
    data["audio"].update(input="null", output="null")
    profile.write_text(yaml.safe_dump(data))
    call = installed.run("run", "-p", "frontdesk", VAPI_API_KEY=KEY)
    assert call.returncode == 0, call.stderr
    assert "assistant: Hello." in call.stdout
    assert "ended: exceeded-max-duration" in call.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not found (Debian: apt-get install systemd)")
def test_the_printed_unit_verifies(installed: Installed, tmp_path: Path) -> None:
    """`vapi-bridge unit | tee /etc/systemd/system/vapi-bridge@.service`, as the guide says:
    systemd accepts it, its ExecStart= being the installed program."""
    unit = tmp_path / "vapi-bridge@frontdesk.service"
    unit.write_text(installed.run("unit").stdout)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), \
        result.stdout + result.stderr


def test_the_extra_hint_installs_from_where_the_copy_came_from(installed: Installed) -> None:
    missing = installed.run("sim", "--port", "0")
    assert missing.returncode == 2
    line = missing.stderr.strip()
    hint = line.split(" — run: ", 1)[1]
    python = installed.venv / "bin" / "python"
    assert hint == f"{python} -m pip install '{installed.wheel}[sim]'", line
    _check(shlex.split(hint))  # the hint, as printed, works
    started = subprocess.Popen([str(installed.exe), "sim", "--port", "0"], cwd=installed.home,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert started.stdout is not None
        first = started.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first
    finally:
        started.terminate()
        started.communicate(timeout=10)
