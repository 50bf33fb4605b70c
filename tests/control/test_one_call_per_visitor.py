"""A visitor's second tap on the kiosk screen's Call button (or `ctl call`, SIGUSR1) while
the first call is still about to be placed: before placing it, the daemon asks Vapi what an
earlier call not counted yet cost (`Settler.before_call`, up to 1.5 s: right after a call,
after a lost link, an earlier daemon's call). Standby's request had been taken from it
already, so a request then was accepted: the visitor had one call, and a second one, billed
too, as soon as it ended. Now every request until the call is made is told a call is already
in progress, and one call reaches Vapi."""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.control.client import request
from tests.control.conftest import control_profile
from tests.e2e.conftest import KEY, ProfileBuilder, SimHandle
from tests.web.conftest import CSRF, free_port

SLOW_MS = 3000  # Vapi's answer to the look at the earlier call: past the 1.5 s it waits
BUSY = "a call is already in progress"


class Events:
    """The daemon's `events` stream over its control socket, one event at a time."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(15)
        self.sock.connect(str(path))
        self.sock.sendall(b'{"cmd": "events"}\n')
        self.file = self.sock.makefile("rb")
        assert json.loads(self.file.readline())["ok"]

    def next(self, timeout: float = 15) -> dict[str, Any] | None:
        self.sock.settimeout(timeout)
        try:
            line = self.file.readline()
        except TimeoutError:
            return None
        return json.loads(line) if line else None

    def until(self, kind: str) -> list[str]:
        seen: list[str] = []
        while (event := self.next()) is not None:
            seen.append(event["event"])
            if event["event"] == kind:
                return seen
        raise AssertionError(f"no {kind} event; seen {seen}")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def an_earlier_call(sim: SimHandle, state: Path) -> str:
    """A call an earlier daemon left on today's open list (its cost not known), whose
    lookups Vapi answers `SLOW_MS` late."""
    created = httpx.post(f"{sim.base_url}/call", params={"fault": f"lookup-slow={SLOW_MS}"},
                         headers={"Authorization": f"Bearer {KEY}", "User-Agent": "test"},
                         json={"assistantId": "echo", "transport": {
                             "provider": "vapi.websocket",
                             "audioFormat": {"format": "pcm_s16le", "container": "raw",
                                             "sampleRate": 16000}}}, timeout=10)
    assert created.status_code == 201, created.text
    call_id = str(created.json()["id"])
    totals = state / "vapi-bridge" / "spending-kiosk.json"
    totals.parent.mkdir(parents=True)
    totals.write_text(json.dumps({"day": dt.date.today().isoformat(), "minutes": 0.0,
                                  "cost": 0.0, "calls": 0, "open": [{"id": call_id}]}))
    totals.chmod(0o600)
    return call_id


def created_at(sim: SimHandle, call_id: str) -> float:
    answer = httpx.get(f"{sim.base_url}/call/{call_id}", timeout=10,
                       headers={"Authorization": f"Bearer {KEY}", "User-Agent": "test"})
    return dt.datetime.fromisoformat(answer.json()["createdAt"]).timestamp()


@pytest.mark.timeout(60)
def test_a_second_tap_while_the_call_waits_to_be_placed_places_no_second_call(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    sim = start_sim(assistant="echo")
    earlier = an_earlier_call(sim, tmp_path / "state")
    port = free_port()
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock",
                                          http={"listen": f"127.0.0.1:{port}"}),
                          XDG_STATE_HOME=str(tmp_path / "state"))
    screen = f"http://127.0.0.1:{port}/call"
    stream = Events(daemon.socket)
    try:
        stream.until("standby")
        tap = httpx.post(screen, content="{}", headers=CSRF, timeout=10)
        assert tap.status_code == 202, tap.text
        stream.until("triggered")  # the daemon asks Vapi about the earlier call: 1.5 s
        again = httpx.post(screen, content="{}", headers=CSRF, timeout=10)  # a second tap
        by_ctl = request(daemon.socket, {"cmd": "call"})  # and `ctl call`, and SIGUSR1
        daemon.proc.send_signal(signal.SIGUSR1)
        refused_at = time.time()
        assert again.status_code == 409 and again.json()["error"] == BUSY, again.text
        assert not by_ctl["ok"] and by_ctl["error"] == BUSY, by_ctl
        assert "in-call" in stream.until("in-call")
        (placed,) = [c["id"] for c in sim.calls() if c["id"] != earlier]
        assert created_at(sim, placed) > refused_at, "refused while the call was not made yet"
        assert request(daemon.socket, {"cmd": "end"}, timeout=30)["ok"]
        stream.until("standby")
        assert stream.next(timeout=0.5) is None, "no call follows: nothing was left asked for"
    finally:
        stream.close()
    assert [c["id"] for c in sim.calls() if c["id"] != earlier] == [placed], \
        "one call reached Vapi"
    assert daemon.stop() == 0, daemon.err
    # refused while the call waited to be placed: the same words once it is made, so the
    # line's place says when (a signal handled late said them as well)
    lines = daemon.err.splitlines()
    ignored = [i for i, line in enumerate(lines) if f"SIGUSR1 ignored: {BUSY}" in line]
    made = [i for i, line in enumerate(lines) if f"call {placed[-8:]} created" in line]
    assert len(ignored) == 1 and made and ignored[0] < made[0], daemon.err


@pytest.mark.timeout(60)
def test_a_call_asked_for_as_the_last_one_ends_says_who_asked(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """A tap as the last call ends, while the daemon reads its outcome from Vapi (here 1 s),
    is for the next call: its `triggered` said `loop` (a standby kiosk has no loop), not
    `http`; the event stream, `on_event` scripts and the screen's log took it for one."""
    sim = start_sim(assistant="echo", faults=("lookup-slow=1000",))
    port = free_port()
    daemon = start_daemon(control_profile(profiles, sim, short_dir / "ctl.sock",
                                          http={"listen": f"127.0.0.1:{port}"}))
    screen = f"http://127.0.0.1:{port}/call"
    stream = Events(daemon.socket)
    try:
        stream.until("standby")
        assert httpx.post(screen, content="{}", headers=CSRF, timeout=10).status_code == 202
        stream.until("in-call")
        assert request(daemon.socket, {"cmd": "end"}, timeout=30)["ok"]
        tap = httpx.post(screen, content="{}", headers=CSRF, timeout=10)  # (its outcome
        assert tap.status_code == 202, tap.text  # is being read: 1 s)
        assert stream.until("ended")[-1] == "ended"
        while (event := stream.next()) is not None and event["event"] != "triggered":
            pass
        assert event is not None and event["cause"] == "http", event
    finally:
        stream.close()
    assert daemon.stop() == 0, daemon.err
