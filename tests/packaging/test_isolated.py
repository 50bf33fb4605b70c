"""tests/isolated.sh, which `make test` runs pytest through: as root beside a kiosk's
system unit, the tests run with an empty /run/vapi-bridge of their own, or not at all."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "isolated.sh"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="the namespace is root's (unshare)")
def test_a_mount_refused_in_the_namespace_is_said_and_fails(tmp_path: Path) -> None:
    """unshare works but the tmpfs mount is refused (a container's policy): before, no test
    ran and all that was said was mount's own line (exit 32). It says no test was run,
    why, and the fix, and exits 1; with the mount allowed the command runs with the
    directory empty; and so is /tmp/vapi-bridge-UID (`tmp`), where a kiosk's daemon run
    from a root shell binds and where `ctl` looks whatever its environment."""
    hide, tmp, bin_dir = tmp_path / "run", tmp_path / "tmp", tmp_path / "bin"
    for directory in (hide, tmp):
        directory.mkdir()
        (directory / "kiosk.sock").touch()
    bin_dir.mkdir()
    (bin_dir / "mount").write_text('#!/bin/sh\necho "mount: permission denied." >&2\nexit 32\n')
    (bin_dir / "mount").chmod(0o755)
    env = {**os.environ, "VAPI_BRIDGE_TESTS_HIDE": f"{hide} {tmp}"}
    env.pop("VAPI_BRIDGE_TESTS_ISOLATED", None)  # (make test's own run is isolated already)
    refused = subprocess.run(["sh", str(SCRIPT), "echo", "ran"], capture_output=True,
                             text=True, timeout=30,
                             env={**env, "PATH": f"{bin_dir}:{env['PATH']}"})
    assert (refused.returncode, refused.stdout) == (1, ""), refused
    assert refused.stderr.startswith(
        f"tests/isolated.sh: no test was run: {hide} {tmp} (a kiosk's control sockets) "
        "cannot be hidden from the tests (mount: permission denied.): "), refused
    ran = subprocess.run(["sh", str(SCRIPT), "ls", "-A", str(hide), str(tmp)],
                         capture_output=True, text=True, timeout=30, env=env)
    if ran.returncode != 0 and "no test was run" in ran.stderr:
        pytest.skip(f"no mount namespace here: {ran.stderr.strip()}")
    assert ran.returncode == 0 and "kiosk.sock" not in ran.stdout, ran  # both hidden
