"""A key Vapi rejects, as the operator of a unit sees it: `systemctl status` (the last
STATUS= line, which systemd keeps while the unit is down) and the journal's one line, whose
fix names the place the rejected key was read from.

Each test runs the real `vapi-bridge run` against the simulator (about 1.5 s each)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import KEY, ProfileBuilder, StderrLines, bridge_cmd, bridge_env
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


def start(profile: Path, notify: Notify, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(bridge_cmd("run", "--profile", str(profile), *args), cwd=ROOT,
                            env=bridge_env(NOTIFY_SOCKET=str(notify.path), **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ended(proc: subprocess.Popen[str], within: float) -> tuple[int | None, str]:
    """The exit code within `within` s (None: still up, then stopped), and stderr."""
    try:
        proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        return None, err
    return proc.returncode, proc.communicate(timeout=5)[1]


@pytest.mark.parametrize("assistant", [{"id": "echo"}, {"id": None, "inline": {
    "firstMessage": "", "model": {"provider": "openai", "model": "gpt-4o"}}}],
    ids=["assistant-id", "inline"])
def test_standby_with_a_rejected_key_exits_3_at_start(start_sim, profiles: ProfileBuilder,
                                                      tmp_path: Path,
                                                      assistant: dict[str, object]) -> None:
    """Before, a standby daemon warned and said "waiting for trigger" everywhere
    (`systemctl status`, `ctl status`, the kiosk screen offering calls) until the first
    visitor's call was refused (401) and took the kiosk down with exit 3. Now the key is
    tried as the daemon starts, with or without an assistant.id: exit 3 at once, its one
    line, `systemctl status` says why, and no call was placed."""
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, assistant=assistant, service={"mode": "standby"})
    notify = Notify(tmp_path)
    try:
        code, err = ended(start(profile, notify, VAPI_API_KEY=WRONG), within=10)
        notify.wait_for("STOPPING=1", timeout=5)
        status = [m for m in notify.messages if m.startswith("STATUS=")][-1]
    finally:
        notify.close()
    assert code == 3, err
    assert err.strip().splitlines()[-1].startswith(
        "vapi-bridge: Vapi rejected the API key (401): "), err
    assert "where this key came from" in err.strip().splitlines()[-1]
    assert status.startswith("STATUS=stopped (exit 3): Vapi rejected the API key (401)"), status
    assert "calls will be refused" not in err, "one line: the exit's"
    assert WRONG not in err and WRONG not in status
    assert sim.calls() == []


def test_a_key_vapi_cannot_be_asked_about_at_start_is_no_bad_key(
        profiles: ProfileBuilder, tmp_path: Path) -> None:
    """Nothing listens at api.base_url (the network down at boot): the daemon waits for a
    trigger, the key untried, and the first call will try it; a warning says so (it was
    said only with -v: an operator saw "waiting for trigger" and no hint)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    profile = profiles.write(f"http://127.0.0.1:{port}", service={"mode": "standby"})
    notify = Notify(tmp_path)
    try:
        proc = start(profile, notify)
        lines = StderrLines(proc)
        said = "Vapi was not reached as the daemon started (the first call tries again)"
        deadline = time.monotonic() + 15
        while not lines.has(said) and time.monotonic() < deadline:
            time.sleep(0.05)  # the lookup's failure
        assert lines.has(said), lines.lines
        assert any("WARNING" in line and "could not reach Vapi at 127.0.0.1" in line
                   for line in lines.lines), lines.lines
        time.sleep(0.3)
        assert proc.poll() is None, lines.join()
        assert notify.count("STATUS=kiosk: waiting for trigger") >= 1, notify.messages
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    finally:
        notify.close()
        if proc.poll() is None:
            proc.kill()


def test_a_reload_to_a_rejected_key_exits_3_at_once(start_sim, profiles: ProfileBuilder,
                                                    tmp_path: Path) -> None:
    """`api.key_file` is read again at each reload: a new key Vapi rejects ends the daemon
    then (exit 3, said), not at the next visitor's call."""
    sim = start_sim(assistant="echo")
    key_file = tmp_path / "desk.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    profile = profiles.write(sim.base_url, api={"base_url": sim.base_url,
                                                "key_file": str(key_file)},
                             service={"mode": "standby"})
    notify = Notify(tmp_path)
    try:
        proc = start(profile, notify, VAPI_API_KEY="")
        notify.wait_for("STATUS=kiosk: waiting for trigger", timeout=15)
        key_file.write_text(WRONG + "\n")
        proc.send_signal(signal.SIGHUP)
        code, err = ended(proc, within=10)
    finally:
        notify.close()
    assert code == 3, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("vapi-bridge: Vapi rejected the API key (401): ") and \
        f"{key_file} (api.key_file)" in line, line
    assert WRONG not in err
    assert sim.calls() == []
