"""An absolute `record.path` outside the unit's StateDirectory, as the daemon meets it under
`ProtectSystem=strict`: a read-only mount (emulated with a mount namespace of its own and
a read-only tmpfs over the directory; root only). The directory is writable as the
operator's shell sees it, so "fix record.path or the directory" sent them to look at the
wrong thing; the line names the sandbox and its two fixes. About 1 s; needs no simulator
(the directory is checked before Vapi is asked)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, bridge_cmd, bridge_env
from tests.faults.harness import write_profile

SANDBOX = "mount --make-rprivate / && mount -t tmpfs -o ro tmpfs \"$0\" && exec \"$@\""


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="a mount namespace needs root and unshare "
                    "(and a machine that allows one)")
def test_a_read_only_record_path_under_the_unit_names_the_sandbox(tmp_path: Path) -> None:
    outside = tmp_path / "srv"
    outside.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    profile = write_profile(tmp_path, "http://127.0.0.1:9",
                            record={"path": str(outside / "recordings" / "{call_id}")})
    done = subprocess.run(["unshare", "-m", "sh", "-c", SANDBOX, str(outside),
                           *bridge_cmd("run", "--profile", str(profile))], cwd=ROOT,
                          env=bridge_env(STATE_DIRECTORY=str(state)), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"vapi-bridge: record.path: cannot write recordings in {outside}"
                           f"/recordings ") and "Read-only file system" in line, line
    assert line.endswith(f"— the unit's ProtectSystem=strict leaves only its StateDirectory "
                         f"({state}) writable: use a relative record.path (it goes there), "
                         f"or allow the directory with `systemctl edit` ([Service] "
                         f"ReadWritePaths={outside})"), line
