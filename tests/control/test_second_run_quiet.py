"""A second `run` of a profile whose daemon runs is refused (exit 2, one line naming the
running one). Its key check, started as it began, was in flight then; stopping closed the
API client under it, and the cut request was said as a network fault before the real
cause: "Vapi was not reached as the daemon started …: connection lost (ReadError) — check
the network and api.base_url" (every time the check was still waiting for Vapi)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd


@pytest.mark.timeout(60)
def test_a_second_run_says_only_why_it_was_refused(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo", faults=("list-hang",))  # the key check waits on Vapi
    profile = profiles.write(sim.base_url, assistant={"id": None, "inline": {"firstMessage": "Hi"}},
                             service={"mode": "standby",
                                      "control_socket": str(short_dir / "ctl.sock")})
    daemon = start_daemon(profile)  # its socket bound
    second = subprocess.run(bridge_cmd("run", "--profile", str(profile)), env=daemon.env,
                            capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert second.returncode == 2, second.stderr
    assert second.stderr.startswith("vapi-bridge: another vapi-bridge daemon is already "
                                    "running"), second.stderr
