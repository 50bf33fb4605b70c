"""A recording is its owner's alone whatever the umask: a `run` from a shell (umask 022, not
systemd's UMask=0077) makes the directories 0700 and the WAV and JSONL 0600 — the names may
hold a live call's full id. Through the real `vapi-bridge` process and the simulator."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd, bridge_env

SHORT_CALL = {"firstMessage": "Hello.", "maxDurationSeconds": 3}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("template", [
    "rec/{profile}/{started}-{call_id}",  # its directory made by the check before the call
    "rec/{profile}/{call_id}/call",       # made as the call starts
])
def test_recordings_are_private_under_a_shells_umask(start_sim, profiles: ProfileBuilder,
                                                     tmp_path: Path, template: str) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, assistant={"overrides": SHORT_CALL},
                             record={"path": str(tmp_path / template)})
    result = subprocess.run(bridge_cmd("run", "-p", str(profile)), cwd=ROOT, env=bridge_env(),
                            capture_output=True, text=True, timeout=60, umask=0o022)
    assert result.returncode == 0, result.stderr
    made = sorted((tmp_path / "rec").rglob("*"))
    files = [p for p in made if p.is_file()]
    assert sorted(p.suffix for p in files) == [".jsonl", ".wav"], made
    dirs = [tmp_path / "rec", *(p for p in made if p.is_dir())]
    assert {str(p): oct(_mode(p)) for p in dirs} == {str(p): "0o700" for p in dirs}
    assert {str(p): oct(_mode(p)) for p in files} == {str(p): "0o600" for p in files}
