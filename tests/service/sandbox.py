"""The systemd unit's sandbox, emulated with libseccomp for tests/service/test_unit_files.py:
the unit's seccomp settings as a spec, and the two programs (tests/service/programs/) that
install it and exercise the daemon's stack under it."""

from __future__ import annotations

import ctypes.util
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The two programs the sandbox test runs, real files that ruff checks: the launcher installs
# the filters a spec describes, then execs the probe, which does what the daemon does.
PROGRAMS = Path(__file__).resolve().parent / "programs"
LAUNCHER = PROGRAMS / "seccomp_launcher.py"
STACK_PROBE = PROGRAMS / "stack_probe.py"


def syscall_groups(analyze: str) -> dict[str, list[str]]:
    """{"@group": [members, which may be @groups]} from `systemd-analyze syscall-filter`."""
    out = subprocess.run([analyze, "syscall-filter", "--no-pager"], capture_output=True,
                         text=True, timeout=60).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.startswith(" ") and line.strip() and \
                not line.strip().startswith("#"):
            current.append(line.strip())
        elif not line.strip():
            current = None
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for name in names:
        if name.startswith("@"):
            out |= expand(groups[name], groups)
        else:
            out.add(name)
    return out


def sandbox_spec(settings: dict[str, list[str]], analyze: str) -> dict[str, object]:
    """The unit's seccomp settings, as the launcher's spec."""
    groups = syscall_groups(analyze)
    allowed: set[str] | None = None
    for value in settings.get("Service.SystemCallFilter", []):
        deny = value.startswith("~")
        names = expand(value.lstrip("~").split(), groups)
        if allowed is None:
            assert not deny, "the unit's first SystemCallFilter= should be an allow list"
            # always allowed by systemd (see systemd.exec(5))
            allowed = names | expand(["@default"], groups)
        elif deny:
            allowed -= names
        else:
            allowed |= names
    assert allowed is not None, "no SystemCallFilter="
    fam_numbers = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16,
                   "AF_PACKET": 17}
    families = [fam_numbers[f] for f in
                settings["Service.RestrictAddressFamilies"][-1].split()]
    err = settings.get("Service.SystemCallErrorNumber", ["EPERM"])[-1]
    proc_pid = settings.get("Service.ProcSubset", ["all"])[-1] == "pid"
    return {"allow": sorted(allowed), "errno": getattr(errno, err),
            "socket_families": families,
            "clone3_enosys": settings.get("Service.RestrictNamespaces", ["no"])[-1] == "yes",
            "proc_subset_pid": proc_pid, "libseccomp": ctypes.util.find_library("seccomp")}


def can_private_proc() -> bool:
    """Whether this machine lets us mount a private /proc with subset=pid (root, kernel 5.8+)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --make-rprivate / && "
         "mount -t proc -o hidepid=invisible,subset=pid proc /proc && test ! -e /proc/cpuinfo"],
        capture_output=True, timeout=30)
    return probe.returncode == 0


def run_sandboxed(spec: dict[str, object], tmp_path: Path,
                  extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})}
    cmd = [sys.executable, str(LAUNCHER), json.dumps(spec),
           sys.executable, str(STACK_PROBE), str(tmp_path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env, cwd=ROOT)
