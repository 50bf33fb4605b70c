"""A key Vapi rejects, as the operator of a unit sees it: `systemctl status` (the last
STATUS= line, which systemd keeps while the unit is down) and the journal's one line, whose
fix names the place the rejected key was read from.

Each test runs the real `vapi-bridge run` against the simulator (about 1.5 s each)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ProfileBuilder, bridge_cmd, bridge_env
from tests.faults.harness import Notify

ROOT = Path(__file__).resolve().parents[2]
WRONG = "revoked-" + "7" * 24


def run(profile: Path, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str],
                                                             list[str]]:
    notify = Notify(tmp_path)
    try:
        done = subprocess.run(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                              env=bridge_env(NOTIFY_SOCKET=str(notify.path), **env),
                              capture_output=True, text=True, timeout=60)
        notify.wait_for("STOPPING=1", timeout=5)
        return done, list(notify.messages)
    finally:
        notify.close()


def test_a_rejected_key_stays_in_systemctl_status(start_sim, profiles: ProfileBuilder,
                                                  tmp_path: Path) -> None:
    """Before, the last STATUS= was "stopping": `systemctl status` of the unit, down for
    good (exit 3 is not restarted), said `Status: "stopping"` above the journal lines."""
    sim = start_sim(assistant="echo")
    done, messages = run(profiles.write(sim.base_url), tmp_path, VAPI_API_KEY=WRONG)
    assert done.returncode == 3, done.stderr
    status = [m for m in messages if m.startswith("STATUS=")][-1]
    assert status.startswith("STATUS=stopped (exit 3): Vapi rejected the API key (401)"), \
        messages
    assert WRONG not in status and WRONG not in done.stderr


@pytest.mark.parametrize("where", ["credential", "key_env"])
def test_a_rejected_key_names_where_it_came_from(start_sim, profiles: ProfileBuilder,
                                                 tmp_path: Path, where: str) -> None:
    """Before, every 401 said "env VAPI_API_KEY, api.key_file or the systemd credential":
    under the unit, the operator was not told the credential file held the rejected key
    (nor that a reload keeps the old copy), and a profile's own `api.key_env` was not
    the variable named."""
    sim = start_sim(assistant="echo")
    if where == "credential":
        creds = tmp_path / "creds"
        creds.mkdir(mode=0o700)
        (creds / "vapi-api-key").write_text(WRONG + "\n")
        env = {"VAPI_API_KEY": "", "CREDENTIALS_DIRECTORY": str(creds)}
        profile = profiles.write(sim.base_url, name="frontdesk")
        fix = ("put the PRIVATE API key (Vapi dashboard, API Keys) in the file the unit's "
               "LoadCredential=vapi-api-key: line names (/etc/vapi-bridge/credentials/"
               "frontdesk.key in the shipped unit), where this key came from, then restart "
               "the unit")
    else:
        env = {"DESK_KEY": WRONG}
        profile = profiles.write(sim.base_url, api={"base_url": sim.base_url,
                                                    "key_env": "DESK_KEY"})
        fix = "in the environment variable DESK_KEY, where this key came from"
    done, _ = run(profile, tmp_path, **env)
    assert done.returncode == 3, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("vapi-bridge: Vapi rejected the API key (401): ") and fix in line, \
        line
    assert "VAPI_API_KEY" not in line and WRONG not in done.stderr
