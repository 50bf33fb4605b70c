"""The systemd units: `systemd-analyze verify` clean, exposure ≤ 2.0, the settings the daemon
relies on, and the program's stack still working inside the unit's seccomp sandbox.

No systemd is running here (nor in CI), so the units are checked offline:

* ``verify`` needs the ExecStart binary to exist and a template needs an instance name, so it
  runs on a copy named ``vapi-bridge@test.service`` whose ExecStart points at a stub script;
  everything else in the copy is the unit as shipped.
* ``security --offline=true`` runs on the shipped file itself.
* The sandbox is emulated with libseccomp: the unit's ``SystemCallFilter=`` (expanded with
  ``systemd-analyze syscall-filter``), ``SystemCallErrorNumber=``, ``RestrictAddressFamilies=``,
  ``SystemCallArchitectures=native`` and clone3's ENOSYS from ``RestrictNamespaces=``, and, as
  root, ``ProcSubset=pid`` + ``ProtectProc=invisible`` in a private mount namespace. A child
  Python then imports and exercises what the daemon uses (numpy, soxr, sounddevice with a
  cffi callback, asyncio TCP, sd_notify, threads; and a real PortAudio callback stream when the
  PulseAudio test rig is available). The same child under a MemoryDenyWriteExecute=yes filter
  shows why the unit leaves that setting off.

systemd-analyze comes with Debian's ``systemd`` package; libseccomp with ``libseccomp2``.
"""

from __future__ import annotations

import ctypes.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.sandbox import can_private_proc, run_sandboxed, sandbox_spec

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_UNIT = ROOT / "systemd" / "vapi-bridge@.service"
USER_UNIT = ROOT / "systemd" / "user" / "vapi-bridge@.service"
GUIDE = ROOT / "docs" / "kiosk-install.md"
INSTALLED_EXE = "/opt/vapi-bridge/venv/bin/vapi-bridge"
MAX_EXPOSURE = 2.0

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze not found (Debian: apt-get install systemd)")
LIBSECCOMP = ctypes.util.find_library("seccomp")
needs_seccomp = pytest.mark.skipif(
    LIBSECCOMP is None or not sys.platform.startswith("linux"),
    reason="libseccomp not found (Debian: apt-get install libseccomp2)")

# The public-key drop-in exactly as the install guide shows it.
PUBLIC_KEY_DROPIN = (
    "[Service]\n"
    "LoadCredential=vapi-public-key:/etc/vapi-bridge/credentials/frontdesk.public-key\n"
)


# ---- unit parsing ----------------------------------------------------------------------

def parse_unit(text: str) -> dict[str, list[str]]:
    """{"Section.Key": [values in order]}; comments and continuation lines handled."""
    settings: dict[str, list[str]] = {}
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a setting: {raw!r}"
        settings.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return settings


def one(settings: dict[str, list[str]], key: str) -> str:
    values = settings.get(key)
    assert values, f"{key} is not set"
    return values[-1]


@pytest.fixture(scope="module")
def system_unit() -> dict[str, list[str]]:
    return parse_unit(SYSTEM_UNIT.read_text())


@pytest.fixture(scope="module")
def user_unit() -> dict[str, list[str]]:
    return parse_unit(USER_UNIT.read_text())


def stub_copy(unit: Path, directory: Path, name: str = "vapi-bridge@test.service") -> Path:
    """The unit as an instance, with ExecStart pointing at an existing stub executable."""
    text = unit.read_text()
    assert INSTALLED_EXE in text
    stub = directory / "bin" / "vapi-bridge"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copy = directory / name
    copy.write_text(text.replace(INSTALLED_EXE, str(stub)))
    return copy


def run_analyze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60,
                          env=env)


# ---- the system unit's settings --------------------------------------------------------

def test_system_unit_runs_the_profile_as_a_notify_service(
        system_unit: dict[str, list[str]]) -> None:
    s = system_unit
    assert one(s, "Service.ExecStart") == (
        f"{INSTALLED_EXE} run --profile /etc/vapi-bridge/%i.yaml")
    assert one(s, "Service.Type") == "notify"
    assert one(s, "Service.NotifyAccess") == "main"
    assert re.fullmatch(r"\d+s?", one(s, "Service.WatchdogSec"))
    assert one(s, "Service.Restart") == "on-failure"
    assert "Unit.StartLimitIntervalSec" in s and "Unit.StartLimitBurst" in s
    assert {"2", "3"} <= set(one(s, "Service.RestartPreventExitStatus").split())
    assert "143" in one(s, "Service.SuccessExitStatus").split()
    assert one(s, "Service.KillSignal") == "SIGTERM"
    assert one(s, "Service.TimeoutStopSec") in ("20", "20s")  # a stalled network: 13 s
    assert one(s, "Service.ExecReload") == "kill -HUP $MAINPID"
    assert one(s, "Service.SyslogIdentifier") == "vapi-bridge-%i"


def test_system_unit_waits_for_the_clock_without_needing_it(
        system_unit: dict[str, list[str]]) -> None:
    """A Raspberry Pi has no RTC: before NTP (or timesyncd's saved time) sets the clock, a
    call would count towards the wrong spending day. Ordering only: pulling the targets in
    (Wants=/Requires=) would keep a kiosk without network from starting."""
    after = " ".join(system_unit["Unit.After"]).split()
    assert {"time-set.target", "time-sync.target"} <= set(after)
    for pull in ("Unit.Wants", "Unit.Requires", "Unit.BindsTo", "Unit.Requisite"):
        assert not {"time-set.target", "time-sync.target"} & set(
            " ".join(system_unit.get(pull, [])).split()), pull
    assert "systemd-time-wait-sync.service" in GUIDE.read_text()


def test_system_unit_user_credential_and_directories(system_unit: dict[str, list[str]]) -> None:
    s = system_unit
    assert one(s, "Service.User") == "vapi-bridge"
    assert "DynamicUser" not in s
    assert "audio" in one(s, "Service.SupplementaryGroups").split()
    creds = dict(v.split(":", 1) for v in s["Service.LoadCredential"])
    assert creds["vapi-api-key"] == "/etc/vapi-bridge/credentials/%i.key"
    # a missing absolute LoadCredential= source fails the unit, so the optional public key
    # is not here but in a per-instance drop-in (the guide)
    assert "vapi-public-key" not in creds
    assert one(s, "Service.RuntimeDirectory") == "vapi-bridge"
    assert one(s, "Service.StateDirectory") == "vapi-bridge"
    assert one(s, "Service.UMask") == "0077"


def test_system_unit_keeps_audio_working(system_unit: dict[str, list[str]]) -> None:
    s = system_unit
    assert s.get("Service.PrivateDevices", ["no"])[-1] in ("no", "false")  # would hide /dev/snd
    assert "char-alsa rw" in s["Service.DeviceAllow"]
    families = one(s, "Service.RestrictAddressFamilies").split()
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(families)
    # cffi callbacks (sounddevice) need W+X memory: see test_mdwe_breaks_sounddevice_callbacks
    assert s.get("Service.MemoryDenyWriteExecute", ["no"])[-1] in ("no", "false")


def test_guide_matches_the_units() -> None:
    guide = GUIDE.read_text()
    for needle in ("systemctl start vapi-bridge@frontdesk",
                   "journalctl -u vapi-bridge@frontdesk -p warning",
                   "useradd --system --home /var/lib/vapi-bridge --shell /usr/sbin/nologin "
                   "--groups audio vapi-bridge",
                   "/etc/vapi-bridge/credentials/frontdesk.key",
                   "loginctl enable-linger",
                   PUBLIC_KEY_DROPIN.strip()):
        assert needle in guide, f"the guide lacks: {needle}"


# ---- systemd-analyze ---------------------------------------------------------------------

@needs_analyze
def test_verify_system_unit(tmp_path: Path) -> None:
    copy = stub_copy(SYSTEM_UNIT, tmp_path)
    result = run_analyze("verify", str(copy))
    print(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == ""


@needs_analyze
def test_verify_system_unit_with_the_public_key_dropin(tmp_path: Path) -> None:
    copy = stub_copy(SYSTEM_UNIT, tmp_path, "vapi-bridge@frontdesk.service")
    dropin = tmp_path / "vapi-bridge@frontdesk.service.d" / "public-key.conf"
    dropin.parent.mkdir()
    dropin.write_text(PUBLIC_KEY_DROPIN)
    result = run_analyze("verify", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == ""
    # the drop-in is really read: a typo in it is reported
    dropin.write_text("[Service]\nLoadCredentiall=x:/y\n")
    broken = run_analyze("verify", str(copy))
    assert "LoadCredentiall" in broken.stdout + broken.stderr


@needs_analyze
def test_verify_reports_a_missing_executable() -> None:
    # why the tests verify a stub copy: the shipped unit names the kiosk's venv
    result = run_analyze("verify", str(SYSTEM_UNIT))
    if Path(INSTALLED_EXE).exists():
        pytest.skip(f"{INSTALLED_EXE} is installed on this machine")
    assert result.returncode != 0
    assert INSTALLED_EXE in result.stdout + result.stderr


def exposure(unit: Path) -> tuple[float, str]:
    result = run_analyze("security", "--offline=true", "--no-pager", str(unit))
    out = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out)
    assert match, f"no exposure figure in:\n{out}"
    return float(match.group(1)), out


@needs_analyze
def test_system_unit_exposure_at_most_2() -> None:
    level, out = exposure(SYSTEM_UNIT)
    failing = [ln for ln in out.splitlines() if ln.startswith("✗")]
    print(f"\nsystemd-analyze security --offline=true {SYSTEM_UNIT.relative_to(ROOT)}: "
          f"exposure {level}\n" + "\n".join(failing))
    assert level <= MAX_EXPOSURE


@needs_analyze
def test_verify_user_unit(tmp_path: Path) -> None:
    unit_dir = tmp_path / "user"
    unit_dir.mkdir()
    copy = stub_copy(USER_UNIT, unit_dir)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp_path)}
    result = run_analyze("--user", "verify", str(copy), env=env)
    print(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == ""


@needs_analyze
def test_user_unit_exposure_is_reported() -> None:
    level, _ = exposure(USER_UNIT)
    # informational: most of the sandbox needs a system unit (see the unit's comments)
    print(f"\nuser unit exposure (not bounded): {level}")


def test_user_unit_settings(user_unit: dict[str, list[str]]) -> None:
    s = user_unit
    assert one(s, "Service.ExecStart") == (
        f"{INSTALLED_EXE} run --profile %h/.config/vapi-bridge/%i.yaml")
    assert one(s, "Service.Type") == "notify"
    assert one(s, "Service.NotifyAccess") == "main"
    assert "Service.WatchdogSec" in s
    assert one(s, "Service.Restart") == "on-failure"
    creds = dict(v.split(":", 1) for v in s["Service.LoadCredential"])
    assert creds["vapi-api-key"] == "%h/.config/vapi-bridge/credentials/%i.key"
    assert "Service.RuntimeDirectory" in s and "Service.StateDirectory" in s
    assert "User" not in {k.split(".", 1)[1] for k in s}  # a user unit runs as its user
    assert s.get("Service.MemoryDenyWriteExecute", ["no"])[-1] in ("no", "false")
    assert one(s, "Install.WantedBy") == "default.target"


# ---- the sandbox, emulated with libseccomp (tests/service/sandbox.py) --------------------

@pytest.fixture(scope="module")
def audio_rig() -> Iterator[dict[str, str] | None]:
    """The PulseAudio rig's environment and devices, or None when it is not available
    (the rest of the sandbox test runs either way)."""
    from tests.rig.pulse import PulseRig

    ok, why = PulseRig.available()
    if not ok:
        print(f"(no PortAudio streams in the sandbox test: {why})")
        yield None
        return
    rig = PulseRig()
    rig.start()  # a rig that is there but fails to start is a failure, not a skip
    try:
        env = {**rig.env, "PROBE_AUDIO_DEVICE": rig.speaker_device,
               "PROBE_AUDIO_INPUT": rig.mic_device}
    except Exception:
        rig.stop()
        raise
    try:
        yield env
    finally:
        rig.stop()


@needs_analyze
@needs_seccomp
def test_stack_runs_in_the_units_sandbox(system_unit: dict[str, list[str]], tmp_path: Path,
                                         audio_rig: dict[str, str] | None) -> None:
    assert ANALYZE is not None
    spec = sandbox_spec(system_unit, ANALYZE)
    if spec["proc_subset_pid"] and not can_private_proc():
        spec["proc_subset_pid"] = False
        print("(ProcSubset=pid not emulated: needs root and unshare)")
    result = run_sandboxed(spec, tmp_path, audio_rig)
    print(result.stdout + result.stderr[-2000:])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ALL OK" in result.stdout
    # the filter is really in force (as root, each of these would otherwise succeed)
    for refused in ("AF_PACKET", "chroot", "setpriority"):
        assert f"refused {refused}" in result.stdout
    if spec["proc_subset_pid"]:
        assert "proc subset=pid: True" in result.stdout
    if audio_rig is not None:
        assert "PortAudio callback streams" in result.stdout


@needs_seccomp
def test_mdwe_breaks_sounddevice_callbacks(tmp_path: Path) -> None:
    """Why the unit has no MemoryDenyWriteExecute=yes: cffi's ffi.callback() (sounddevice's
    PortAudio callback) allocates a writable+executable trampoline, which it forbids."""
    result = run_sandboxed({"allow": None, "mdwe": True, "libseccomp": LIBSECCOMP}, tmp_path)
    assert result.returncode != 0
    assert "Cannot allocate write+execute memory for ffi.callback()" in result.stderr, \
        textwrap.shorten(result.stderr, 2000)
    assert "ok numpy + soxr" in result.stdout  # the rest of the stack would be fine
