"""A kiosk on Wi-Fi whose link to Vapi goes silent mid-call (no FIN, no reset: packets just
stop), as its operator and its screen see it: `ctl status`, the screen's `/state`, the
events, `ctl end` and a mute through the controlUrl. The real daemon and `ctl` against the
simulator, through a relay that holds everything (`relay.py`) or the simulator's own
faults."""

from __future__ import annotations

import concurrent.futures
import re
from pathlib import Path

import httpx
import pytest

from bridge.control.client import request
from tests.control.conftest import Daemon, control_profile, wait_for
from tests.control.conftest import start_daemon as start_daemon  # the fixture
from tests.control.test_events import Follower
from tests.e2e.conftest import ProfileBuilder
from tests.network.relay import Relay
from tests.web.conftest import browser as browser  # the fixture
from tests.web.conftest import free_port

pytestmark = pytest.mark.timeout(60)


def _status(daemon: Daemon) -> dict:
    """`ctl status --json`'s answer, asked in-process (a `ctl` process takes 0.7 s to start
    on a loaded machine: the stall's window is 5 s)."""
    return request(daemon.socket, {"cmd": "status"}, timeout=10)


def _serves(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/state", timeout=5).is_success
    except httpx.HTTPError:
        return False


def test_a_stalled_link_is_said_while_it_lasts(start_sim, profiles: ProfileBuilder,
                                               short_dir: Path, start_daemon,
                                               browser) -> None:
    """The link holds everything 1 s into the call, then comes back within the watchdog's
    8 s. Before, `ctl status`, `/state`, the events and the screen said "in call 00:04"
    all along, as for a call that worked; now, from ~3 s into the silence (2 s of nothing,
    then a ping unanswered 1 s), they say the link is stalled and since when (the screen,
    in chromium: "Connection problem, please wait…"), and that it carries again once it
    does; the call is kept. (One daemon, one call and one stall for all of them.)"""
    from playwright.sync_api import expect

    sim = start_sim(assistant="echo")
    relay = Relay(int(sim.base_url.rsplit(":", 1)[1]))
    port = free_port()
    profile = profiles.write(
        relay.url, name="stall", service={"mode": "standby",
                                          "control_socket": str(short_dir / "ctl.sock")},
        http={"listen": f"127.0.0.1:{port}"})
    daemon = start_daemon(profile)
    events = Follower(daemon)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        wait_for(lambda: _serves(port), 20, "the screen's HTTP server")
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("#state")).to_have_text("Ready")
        page.locator("#button").click()
        expect(page.locator("#state")).to_have_text("In call")
        wait_for(lambda: _status(daemon)["call"]["elapsedSeconds"] > 1.0, 10, "the call")
        assert _status(daemon)["call"]["link"] == "ok"
        relay.hold()
        stalled = wait_for(lambda: (s := _status(daemon))["call"]["link"] == "stalled" and s,
                           7, "ctl status to say the link is stalled")
        assert stalled["call"]["live"] and stalled["call"]["stalledSeconds"] >= 2.9, stalled
        assert "link stalled" in stalled["state"], stalled["state"]
        expect(page.locator("#detail")).to_have_text("Connection problem, please wait…",
                                                     timeout=3000)
        text = daemon.ok("status")
        assert "link stalled: nothing from Vapi for" in text, text
        screen = httpx.get(f"http://127.0.0.1:{port}/state", timeout=5).json()
        assert screen["call"]["link"] == "stalled" and "link stalled" in screen["state"], screen
        events.wait(lambda evs: any(e["event"] == "link-stalled" for e in evs), "link-stalled",
                    5)
        relay.resume()
        wait_for(lambda: _status(daemon)["call"]["link"] == "ok", 5, "the link to carry again")
        events.wait(lambda evs: any(e["event"] == "link-restored" for e in evs),
                    "link-restored", 5)
        expect(page.locator("#detail")).to_have_text("", timeout=5000)
        expect(page.locator("#state")).to_have_text("In call")
        assert _status(daemon)["call"]["live"], "the call is kept"
        page.locator("#button").click()
        expect(page.locator("#state")).to_have_text("Call ended", timeout=15000)
    finally:
        page.close()
        relay.close()
        daemon.stop()
        events.finish()
    kinds = [e["event"] for e in events.events]
    assert kinds.index("link-stalled") < kinds.index("link-restored") < kinds.index("ended")
    said = next(e for e in events.events if e["event"] == "link-stalled")["seconds"]
    assert 2.9 <= said <= 5.5, f"said {said} s into the silence (2 s, then a ping 1 s)"
    assert "the link to Vapi carries nothing" in daemon.err, daemon.err
    assert "Traceback" not in daemon.err


def test_an_end_on_a_dead_link_vapi_cannot_be_asked_about_is_settled(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """The call socket goes dead 0.5 s in (Vapi keeps the call in progress, 60 s here) and
    the operator ends the call with `ctl end`; the summary's look at the call then fails
    (500 twice), and so does the settler's first (500). Before, nothing asked again: the
    call stayed billed until Vapi noticed or maxDurationSeconds ran out, and `ctl end` said
    "ended". Now `ctl end` says it ended here
    but not at Vapi, and the daemon's spending settler ends it once Vapi answers (here: the
    next call's look); a second `end` asked while the first is under way gets the same
    answer (it said "ended"). A `say` just before, which the controlUrl takes, is answered
    "say sent (control-url)" and, now, that the link is stalled."""
    # (the summary's look: 2 lookups; the settler's own look as the call ends: a third.
    # Answered, that look ended the call before `ctl end` had answered, now and then)
    sim = start_sim(assistant="echo", faults=("ws-drop=0.5@60", "lookup-500=3",
                                              "monitor-in-create"))
    profile = control_profile(profiles, sim, short_dir / "ctl.sock", name="deadend",
                              call={"end_timeout_seconds": 0.5})
    daemon = start_daemon(profile, XDG_STATE_HOME=str(tmp_path / "state"))
    assert daemon.ctl("call").returncode == 0
    first = wait_for(lambda: sim.calls(), 10, "the call")[0]["id"]
    wait_for(lambda: _status(daemon)["call"]["elapsedSeconds"] > 3.8, 10, "the silence")
    say = daemon.ctl("say", "One moment please.")  # Vapi takes it, by the controlUrl
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        ending = pool.submit(daemon.ctl, "end")  # (the link found dead 3-4 s in the silence)
        wait_for(lambda: _status(daemon)["call"]["status"] == "ending", 10, "the end",
                 interval=0.02)
        again = request(daemon.socket, {"cmd": "end"}, timeout=30)  # an impatient operator
        end = ending.result()
    assert end.returncode == 0, end.stderr
    assert next(c for c in sim.calls() if c["id"] == first)["status"] == "in-progress", \
        end.stdout
    assert daemon.ctl("call").returncode == 0  # the next visitor: open calls looked at
    wait_for(lambda: next(c for c in sim.calls() if c["id"] == first)["status"] == "ended",
             10, "the call ended at Vapi")
    daemon.ok("end")
    daemon.stop()
    assert "ended through its controlUrl" in daemon.err, daemon.err
    assert say.returncode == 0 and "say sent (control-url); but the link is stalled" in \
        say.stdout, say
    assert "not yet at Vapi" in end.stdout and "every 30 s" in end.stdout, end.stdout
    assert again["message"] == end.stdout.strip(), "an end under way: the same answer"
    assert re.search(r"carried nothing for [3-8] s", end.stdout), end.stdout
    # Vapi ran the call on after its summary: the journal names it by its tail alone
    assert first not in daemon.out + daemon.err and f"call …{first[-8:]} ended" in daemon.out, \
        daemon.out


def test_a_mute_the_controlurl_does_not_answer_names_the_mute(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """`call.commands_via: control-url`, and the controlUrl does not answer (the link died
    on the way). Before: "the controlUrl did not answer control within 1 s"; now the mute
    is named, with what may have happened and what to do."""
    sim = start_sim(assistant="echo", faults=("control-down",), http_hang_seconds=30.0)
    profile = control_profile(profiles, sim, short_dir / "ctl.sock", name="mutedown",
                              call={"commands_via": "control-url"},
                              api={"timeout_seconds": 1})
    daemon = start_daemon(profile)
    assert daemon.ctl("call").returncode == 0
    wait_for(lambda: sim.calls(), 10, "the call")
    mute = daemon.ctl("mute-assistant")
    assert mute.returncode == 5, mute
    line = mute.stderr.strip()
    assert "did not answer mute-assistant within 1 s" in line, line
    assert "check the call" in line and len(line.splitlines()) == 1, line
    daemon.ok("end")
    daemon.stop()
