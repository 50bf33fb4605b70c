"""The kiosk screen in a real browser (Debian's chromium, headless, via Playwright), as a
visitor and an operator use it: the Call button places a call, the assistant's words show
while it speaks, End ends it, and the page comes back by itself after the daemon restarts.

KIOSK_SCREENSHOT=docs/img/kiosk-captions.png saves the screenshot the README shows."""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import (
    ProfileBuilder,
    StreamCutter,
    free_port,
    wait_for,
    web_profile,
)

GREETING = ("Welcome to the front desk. I can help you find a room, a person, or the way "
            "to the lifts, and call someone down to meet you.")
SHORT = "Good morning, and welcome to the front desk of this building."
RECORD_CAPTIONS = """() => {
  window.__seen = [];
  const note = () => {
    const p = [...document.querySelectorAll('#captions p.assistant')].pop();
    const text = p ? p.textContent : '';
    if (text && window.__seen[window.__seen.length - 1] !== text) window.__seen.push(text);
  };
  new MutationObserver(note).observe(document.getElementById('captions'),
    {subtree: true, childList: true, characterData: true});
}"""


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(url)
    return page


def test_the_call_button_places_a_call_whose_words_show_while_the_assistant_speaks(
        start_sim, profiles: ProfileBuilder, start_web, browser, tmp_path: Path) -> None:
    sim = start_sim(assistant="echo")
    port = free_port()
    daemon = start_web(web_profile(profiles, sim, port, first=GREETING, name="lobby"), port)
    problems: list[str] = []  # script errors, CSP refusals (the inline script is hashed)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto(daemon.base + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    expect(page).to_have_title("lobby")  # not "Front desk" for every kiosk: tabs told apart
    expect(page.locator("#button")).to_have_text("Call")
    assert sim.calls() == [], "nothing is placed before the button is pressed"
    page.evaluate(RECORD_CAPTIONS)

    page.locator("#button").click()
    expect(page.locator("#state")).to_have_text("In call", timeout=30000)
    expect(page.locator("#button")).to_have_text("End")
    words = GREETING.split()
    partial = page.locator("#captions p.assistant.live")
    expect(partial).to_have_count(1, timeout=30000)  # the turn, shown before it is over
    expect(partial).to_have_text(re.compile(r"^(\S+ ){9}"), timeout=30000)
    shot = Path(os.environ.get("KIOSK_SCREENSHOT") or tmp_path / "kiosk.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    expect(page.locator("#captions p.assistant").last).to_have_text(GREETING, timeout=30000)
    assert len(sim.calls()) == 1, "one press, one call"

    seen: list[str] = page.evaluate("window.__seen")
    partials = seen[:-1]
    assert seen[-1] == GREETING
    assert len(partials) >= 3, f"the words came as the assistant spoke them: {seen}"
    for shorter, longer in itertools.pairwise(partials):
        assert longer.startswith(shorter) and len(longer) > len(shorter), seen
    assert all(" ".join(words[:len(p.split())]) == p for p in partials), seen
    assert shot.stat().st_size > 10_000

    page.locator("#button").click()  # End
    expect(page.locator("#state")).to_have_text("Call ended", timeout=30000)
    ended = wait_for(lambda: sim.only_call()["endedReason"], 10, "the simulator's end")
    assert ended in ("customer-ended-call", "assistant-ended-call"), ended
    expect(page.locator("#button")).to_have_text("Call")
    expect(page.locator("#captions p.assistant").last).to_have_text(GREETING)
    assert problems == []


def test_the_page_recovers_by_itself_after_the_daemon_restarts(
        start_sim, profiles: ProfileBuilder, start_web, browser) -> None:
    """… and with `assistant.speechStarted` opted in, the whole turn shows as it starts."""
    sim = start_sim(assistant="echo")
    port = free_port()
    profile = web_profile(profiles, sim, port, first=SHORT, overrides={
        "clientMessages": ["transcript", "speech-update", "status-update",
                           "user-interrupted", "assistant.speechStarted"]})
    first = start_web(profile, port)
    page = open_page(browser, first.base + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    expect(page.locator("#banner")).to_be_hidden()

    assert first.stop() == 0, first.err
    expect(page.locator("#banner")).to_be_visible(timeout=20000)
    expect(page.locator("#banner")).to_have_text("Reconnecting to the kiosk…")
    time.sleep(1.5)  # a while away: the browser has retried in vain
    second = start_web(profile, port)
    expect(page.locator("#banner")).to_be_hidden(timeout=30000)
    expect(page.locator("#state")).to_have_text("Ready")

    page.locator("#button").click()  # the same page steers the new daemon
    expect(page.locator("#state")).to_have_text("In call", timeout=30000)
    expect(page.locator("#captions p.assistant.live")).to_have_text(SHORT, timeout=30000)
    assert len(sim.calls()) == 1
    expect(page.locator("#captions p.assistant")).to_have_text(SHORT, timeout=30000)
    expect(page.locator("#captions p.assistant.live")).to_have_count(0, timeout=30000)
    assert second.post("/end").status_code == 200
    expect(page.locator("#state")).to_have_text("Call ended", timeout=30000)


def test_a_call_that_cannot_be_placed_is_shown_and_counted(
        start_sim, profiles: ProfileBuilder, start_web, browser) -> None:
    sim = start_sim(assistant="echo")
    port = free_port()
    daemon = start_web(web_profile(profiles, sim, port, api={"retry_attempts": 1}), port)
    page = open_page(browser, daemon.base + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    sim.stop()  # Vapi unreachable

    page.locator("#button").click()
    expect(page.locator("#state")).to_have_text("Could not connect")  # the error's cause
    expect(page.locator("#detail")).not_to_be_empty()
    expect(page.locator("#button")).to_have_text("Call")
    expect(page.locator("#button")).to_be_enabled()
    metrics = daemon.get("/metrics").text
    assert 'vapi_bridge_call_errors_total{cause="network"} 1.0' in metrics, metrics
    ended = re.findall(r"^vapi_bridge_calls_total\{.*\} (\S+)$", metrics, re.M)
    assert ended and set(ended) == {"0.0"}, "no call was placed, none ended"


def test_a_transfer_is_shown_while_vapi_puts_the_call_through(
        start_sim, profiles: ProfileBuilder, start_web, browser, tmp_path: Path) -> None:
    script = tmp_path / "transfer.yaml"
    script.write_text('- say: "Let me put you through to reception."\n'
                      '  transfer: "+15551234567"\n'
                      '  delay: 1\n')
    sim = start_sim(assistant=f"script:{script}")
    port = free_port()
    profile = profiles.write(sim.base_url, service={"mode": "standby"},
                             assistant={"id": "echo", "overrides": {}},
                             http={"listen": f"127.0.0.1:{port}"})
    daemon = start_web(profile, port)
    page = open_page(browser, daemon.base + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    # every text the line takes, however briefly (the call ends 0.3 s after the transfer:
    # shorter than Playwright's polling at times)
    page.evaluate("""() => {
      window.__details = [];
      const d = document.getElementById('detail');
      new MutationObserver(() => window.__details.push(d.textContent)).observe(
        d, {subtree: true, childList: true, characterData: true});
    }""")
    page.locator("#button").click()
    expect(page.locator("#state")).to_have_text("Call ended", timeout=30000)
    # Vapi's reason is the operator's (log, metrics); the visitor reads what it means
    expect(page.locator("#detail")).to_have_text("Your call was transferred")
    details = page.evaluate("window.__details")
    assert "Transferring your call…" in details, details
    assert details.index("Transferring your call…") < details.index(
        "Your call was transferred"), details
    assert not any("assistant-forwarded-call" in d for d in details), details


def test_end_pressed_while_the_call_connects_stops_it(
        start_sim, profiles: ProfileBuilder, start_web, browser, tmp_path: Path) -> None:
    """A visitor who presses Call and then End while the screen still says "Connecting…":
    the call is stopped and the screen offers Call again. Before, End was greyed out until
    the call was up (and refused, 409 "try again in a moment", if pressed), and then the
    assistant greeted a visitor who had given up."""
    sim = start_sim(assistant="echo", faults=("connect-delay=8000",))
    port = free_port()
    web = start_web(web_profile(profiles, sim, port, first=SHORT), port,
                    STATE_DIRECTORY=str(tmp_path))
    page = open_page(browser, web.base + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    page.locator("#button").click()
    expect(page.locator("#state")).to_have_text("Connecting…", timeout=10000)
    page.wait_for_timeout(800)  # a second press within 0.7 s is a double tap: one press
    with page.expect_response(lambda r: r.url.endswith("/end")) as pressed:
        page.locator("#button").click()
    assert pressed.value.status == 200, pressed.value.text()
    assert "stopped while it was being set up" in pressed.value.json()["message"]
    expect(page.locator("#state")).to_have_text("Call ended", timeout=15000)
    expect(page.locator("#button")).to_have_text("Call")
    expect(page.locator("#button")).to_be_enabled()
    (call,) = sim.calls()
    assert not call["downlink"]["chunks"], "the assistant never spoke"
    metrics = web.get("/metrics").text
    assert "vapi_bridge_last_ok_call_end_timestamp_seconds" not in metrics, \
        "a call stopped before it was up is no good call for the operator's alert"
    assert web.stop() == 0, web.err


def test_a_refused_key_or_payment_is_said_before_the_daemon_exits(
        start_sim, profiles: ProfileBuilder, start_web, browser) -> None:
    """Vapi refuses the call for payment: the daemon exits 3 (by design: nothing changes
    until an operator acts), and its `error` event used to be dropped with the event
    stream as it stopped, so the screen said "Connecting…" for good."""
    sim = start_sim(assistant="echo", faults=("http-402",))
    port = free_port()
    web = start_web(web_profile(profiles, sim, port), port)
    page = open_page(browser, web.base + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    page.locator("#button").click()
    expect(page.locator("#state")).to_have_text("Not available right now", timeout=15000)
    assert web.proc.wait(timeout=20) == 3
    expect(page.locator("#banner")).to_be_visible(timeout=10000)
    expect(page.locator("#button")).to_be_disabled()


def test_calls_paused_by_the_spending_limit_are_not_offered(
        start_sim, profiles: ProfileBuilder, start_web, browser, tmp_path: Path) -> None:
    """Before, the screen said "Tap Call to talk to us" and a press showed the operator's
    line (today's cost, the totals file's path) to the visitor."""
    sim = start_sim(assistant="echo")
    port = free_port()
    web = start_web(web_profile(profiles, sim, port, call={"max_daily_minutes": 0}), port,
                    STATE_DIRECTORY=str(tmp_path))
    page = open_page(browser, web.base + "/")
    expect(page.locator("#state")).to_have_text("Calls are paused for today")
    expect(page.locator("#button")).to_be_hidden()
    expect(page.locator("#hint")).to_be_hidden()
    pressed = web.post("/call")
    assert (pressed.status_code, pressed.json()["cause"]) == (409, "spending-limit")
    assert sim.calls() == []


def test_after_a_crash_mid_call_the_last_visitor_leaves_the_screen(
        start_sim, profiles: ProfileBuilder, start_web, browser) -> None:
    """The daemon killed mid-call (no `ended`): while it is away nothing can be pressed,
    and its last visitor's lines leave the screen after 20 s, as after any call, whether
    it is back by then or not. Before, they stayed for good, still styled as being spoken;
    then until 20 s after it was back (a daemon that stays away: for good)."""
    sim = start_sim(assistant="echo")
    port = free_port()
    profile = web_profile(profiles, sim, port, first=GREETING)
    web = start_web(profile, port)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.clock.install()
    page.goto(web.base + "/")
    page.locator("#button").click()
    expect(page.locator("#captions p.assistant")).to_have_count(1, timeout=30000)
    web.proc.kill()
    web.proc.communicate(timeout=10)
    expect(page.locator("#banner")).to_be_visible(timeout=20000)
    expect(page.locator("#button")).to_be_disabled()
    expect(page.locator("#captions p")).not_to_have_count(0)
    page.clock.fast_forward(21000)  # away that long: the lines leave all the same
    expect(page.locator("#captions p")).to_have_count(0)
    start_web(profile, port)
    expect(page.locator("#banner")).to_be_hidden(timeout=30000)
    expect(page.locator("#state")).to_have_text("Ready")
    expect(page.locator("#captions p")).to_have_count(0)
    expect(page.locator("#hint")).to_be_visible()


def test_a_reconnect_does_not_keep_the_last_visitor_on_the_screen(
        start_sim, profiles: ProfileBuilder, start_web, browser) -> None:
    """The page's stream drops 12 s after the call ended (a relay cuts it) and comes
    back; the daemon says `standby` again, as to every new stream. The 20 s before the last
    visitor's lines leave began anew at each reconnect, so behind a proxy that cuts streams
    every 12 s they stayed for good (operator helper: still there at 65 s). They leave 20 s
    after the call now, on the page's own clock."""
    sim = start_sim(assistant="echo")
    port = free_port()
    profile = web_profile(profiles, sim, port, first=SHORT)
    web = start_web(profile, port)
    relay = StreamCutter(port)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.clock.install()
    page.goto(f"http://127.0.0.1:{relay.port}/")
    page.locator("#button").click()  # (a line said whole: one End cut short leaves at once)
    expect(page.locator("#captions p.assistant:not(.live)")).to_have_count(1, timeout=30000)
    assert web.post("/end").status_code == 200
    page.wait_for_function("() => state === 'standby'", timeout=20000)
    page.clock.fast_forward(12000)
    relay.cut()
    page.wait_for_function("() => !connected", timeout=20000)
    page.wait_for_function("() => connected", timeout=30000)
    relay.close()
    expect(page.locator("#captions p")).not_to_have_count(0)  # (not yet: 12 s and a bit)
    page.clock.fast_forward(9000)
    expect(page.locator("#captions p")).to_have_count(0)


def test_line_breaks_and_right_to_left_marks_read_as_text(
        start_sim, profiles: ProfileBuilder, start_web, browser) -> None:
    """The events' text is escaped for terminals: the screen showed a reply's line break as
    the characters \\n and a right-to-left mark as \\u200f. Now a break reads as a space and
    the mark is a mark again (an override that could reorder the words is left out); a
    backslash the reply holds stays one (`C:\\new` showed as `C: ew`)."""
    said = "line one\nline two \u200fשלום \u202eevil C:\\new \\u202e"
    sim = start_sim(assistant="echo")
    port = free_port()
    web = start_web(web_profile(profiles, sim, port, first=said), port)
    page = open_page(browser, web.base + "/")
    page.locator("#button").click()
    expect(page.locator("#captions p.assistant")).to_have_text(
        "line one line two \u200fשלום evil C:\\new \\u202e", timeout=30000)


def test_a_double_tap_on_call_is_one_press(start_sim, profiles: ProfileBuilder, start_web,
                                          browser) -> None:
    """The simulator connects in ~50 ms: a second tap 150 ms after Call landed on End and
    ended the call at 0.4 s. The two taps are timed in the page (its own clock, however
    busy the machine), and what the page asks of the kiosk is recorded: no End at all.
    (On a machine too slow to show End within 150 ms the second tap finds Call, disabled
    while the first is answered, and this holds for the old page too.)"""
    sim = start_sim(assistant="echo")
    port = free_port()
    web = start_web(web_profile(profiles, sim, port, first=GREETING), port)
    page = open_page(browser, web.base + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.method == "POST" else None)
    page.evaluate("""() => new Promise(done => {
      const b = document.getElementById('button');
      b.click();  // Call: the button is End once the page hears the call is up
      setTimeout(() => { b.click(); done(b.textContent); }, 150);  // the second tap
    })""")
    expect(page.locator("#state")).to_have_text("In call", timeout=10000)
    expect(page.locator("#captions p.assistant")).to_have_count(1, timeout=30000)
    assert [u.rsplit("/", 1)[1] for u in asked] == ["call"], asked
    assert not sim.calls()[0].get("endedReason"), "the second tap ended the call"


def test_a_page_opened_mid_call_shows_its_lines_and_a_line_cut_by_end_leaves(
        start_sim, profiles: ProfileBuilder, start_web, browser, tmp_path: Path) -> None:
    """A screen opened (or reloaded) mid-call showed none of what had been said, though
    `ctl status` had it: it is given the call's last final lines (shown once, however
    often a stream gives them). And End pressed while
    the assistant spoke left its cut line (the echo's "(echo") on the screen, in the
    largest type, for the 20 s the lines stay: a line the end cut short leaves at once."""
    script = tmp_path / "two.yaml"
    script.write_text(f'- "{SHORT}"\n- say: "{GREETING}"\n  wait: false\n  delay: 0.5\n')
    sim = start_sim(assistant=f"script:{script}")
    port = free_port()
    web = start_web(profiles.write(sim.base_url, service={"mode": "standby"},
                                   assistant={"id": "echo", "overrides": {}},
                                   http={"listen": f"127.0.0.1:{port}"}), port)
    first = open_page(browser, web.base + "/")
    first.locator("#button").click()
    said = first.locator("#captions p.assistant:not(.live)")
    expect(said).to_have_text([SHORT], timeout=30000)  # the first line, final
    second = open_page(browser, web.base + "/")  # opened mid-call
    expect(second.locator("#state")).to_have_text("In call")
    expect(second.locator("#captions p.assistant").first).to_have_text(SHORT)
    second.evaluate("connect()")  # a second stream (as a stream opened again after one the
    # browser gave up on): every event twice, the lines given again; each line shown once
    cut = first.locator("#captions p.assistant.live")
    expect(cut).to_have_text(re.compile(r"^Welcome to \S"), timeout=30000)  # being said
    assert web.post("/end").status_code == 200
    for page in (first, second):
        expect(page.locator("#state")).to_have_text("Call ended")
        expect(page.locator("#captions p")).to_have_text([SHORT])  # once, and nothing cut


FINALS = [("visitor", "v1"), ("assistant", "a2"), ("visitor", "v3"), ("assistant", "a4"),
          ("visitor", "v5")]
A_NEW_STREAM = """(finals) => {
  const ev = (o) => onMessage({data: JSON.stringify(o)});
  const replay = () => {  // what a new stream starts with (EventBus.subscribe(lines=True))
    ev({event: "in-call", seq: 10, at: 100});
    finals.forEach(([role, text], i) =>
      ev({event: "transcript", seq: 11 + i, at: 101 + i, role, text, final: true}));
  };
  const screen = () => [...captions.querySelectorAll("p")].map((p) => p.textContent);
  replay();
  ev({event: "caption", seq: 16, at: 106, text: "a6 being said"});  // both speak at once
  ev({event: "transcript", seq: 17, at: 107, role: "visitor", text: "v7 half", final: false});
  const before = screen();
  replay();
  return [before, screen()];
}"""


def test_a_new_stream_mid_call_does_not_bring_back_a_line_the_screen_let_go(
        browser: Any) -> None:
    """The screen keeps 6 lines, the live ones with them: the 5 final lines a new stream
    starts with (a stream the browser gave up on, or one back after more than the 256
    events kept) may hold one it no longer shows. That one came back last, in place of the
    visitor's words being said ("v1" where "v7 half" was). The page alone, its events given
    by hand: no daemon."""
    html = (Path(__file__).resolve().parents[2] / "bridge/web/kiosk.html").read_text()
    page = browser.new_page()
    try:
        page.set_content(html)  # (its stream and state, asked of about:blank, never come)
        before, after = page.evaluate(A_NEW_STREAM, FINALS)
        assert before == ["a2", "v3", "a4", "v5", "a6 being said", "v7 half"], before
        assert after == before, after
    finally:
        page.close()


KIOSK_HTML = Path(__file__).resolve().parents[2] / "bridge/web/kiosk.html"
# the events the daemon published for an assistant's goodbye whose `status-update ended`
# came 2.5 s into its audio (the simulator's `ended-first=2500`, a script line with
# `endCall`): the partials until then, no final (nothing more came before the socket
# closed), then the call's `ended`
A_GOODBYE_ENDED_FIRST = [
    {"event": "in-call", "call": "9555c0de"},
    {"event": "assistant-speaking", "turn": 0},
    {"event": "transcript", "role": "assistant", "final": False,
     "text": "Thank you for visiting"},
    {"event": "transcript", "role": "assistant", "final": False,
     "text": "Thank you for visiting the front desk today."},
    {"event": "ended", "reason": "assistant-ended-call", "outcome": "ok", "exit": 0},
]
GIVE = """(events) => events.forEach((o, i) =>
  onMessage({data: JSON.stringify({seq: 100 + i, at: 1000 + i, ...o})}))"""
SCREEN = "() => [...captions.querySelectorAll('p')].map((p) => p.className + ': ' + p.textContent)"


@pytest.fixture
def loop_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """The kiosk page alone (no daemon: its stream and state, asked of about:blank, never
    come), in loop mode, connected, on Playwright's clock (installed at `time`; paused at
    `pause_at`, its time then moves only as `clock.run_for` moves it); its events are
    given by hand (GIVE)."""
    pages: list[Any] = []

    def open_loop_page(time: float | None = None, pause_at: float | None = None) -> Any:
        page = browser.new_page()
        pages.append(page)
        page.clock.install(**({} if time is None else {"time": time}))
        if pause_at is not None:
            page.clock.pause_at(pause_at)
        page.set_content(KIOSK_HTML.read_text())
        page.evaluate("() => { mode = 'loop'; connected = true; }")
        return page

    yield open_loop_page
    for page in pages:
        page.close()


def test_the_assistants_goodbye_stays_when_its_final_line_never_comes(browser: Any) -> None:
    """Vapi ends the call once the assistant's goodbye is spoken, and nothing orders the
    goodbye's final transcript before its `status-update ended` (no recorded call of
    Vapi's shows one; its docs promise no order; the final comes ~0.16 s after the
    assistant's `speech-update stopped`, and the call socket may close first). The screen
    dropped every line without its final at `ended`, so the goodbye the visitor had just
    heard vanished from the screen as the call ended (the daemon and the simulator, with
    `ended-first`: the screen went blank). A call the assistant ended keeps its words so
    far, as said; a line End cut short still leaves. The page alone, given the events."""
    page = browser.new_page()
    try:
        page.set_content(KIOSK_HTML.read_text())
        page.evaluate(GIVE, A_GOODBYE_ENDED_FIRST)
        assert page.evaluate(SCREEN) == [
            "assistant: Thank you for visiting the front desk today."]
        assert page.evaluate("$('detail').textContent") == ""
        cut = [*A_GOODBYE_ENDED_FIRST[:3],
               {"event": "ended", "reason": "customer-ended-call", "outcome": "ok"}]
        page.evaluate(GIVE, [{"event": "triggered"}, {"event": "connecting"}, *cut])
        assert page.evaluate(SCREEN) == []
    finally:
        page.close()


def test_in_loop_mode_the_last_visitor_leaves_and_a_failed_call_offers_no_end(
        loop_page: Callable[..., Any]) -> None:
    """Loop mode: no `standby` comes between calls, only the wait (`loop_delay_seconds`,
    or the backoff while calls fail: up to 5 minutes). The last visitor's words stayed
    on the screen until the next call, however far away; they leave 20 s after the call
    now, as in standby mode. And a call that could not be placed (Vapi down) left the
    screen "connecting", End offered (and refused, "no call in progress", if pressed)
    until the next try."""
    page = loop_page()
    page.evaluate(GIVE, [
        {"event": "triggered", "cause": "loop"}, {"event": "connecting"},
        {"event": "in-call", "call": "1a2b3c4d"},
        {"event": "transcript", "role": "visitor", "final": True,
         "text": "I am here to see Dr Jones about my test results"},
        {"event": "ended", "reason": "connection-lost", "outcome": "connection-lost"}])
    page.clock.run_for(19000)
    assert page.evaluate(SCREEN) != []
    page.clock.run_for(2000)
    assert page.evaluate(SCREEN) == []
    assert page.evaluate("$('state').textContent") == "Call ended"
    page.evaluate(GIVE, [
        {"event": "triggered", "cause": "loop"}, {"event": "connecting"},
        {"event": "error", "cause": "vapi", "message": "Vapi is failing (503)",
         "exit": 5}])
    assert page.evaluate("$('state').textContent") == "The service is not available " \
                                                      "right now"
    assert page.evaluate("button.hidden"), "End offered with no call being placed"


def test_loop_mode_held_back_by_the_spending_limit_says_calls_are_paused(
        browser: Any) -> None:
    """Loop mode at the limit: a screen opened then was given `triggered` and the refusal
    (the operator's line: today's cost, the totals file) until midnight. The daemon says
    `paused` now (tests/service/test_spending_pause.py): the visitor's words for it, on a
    screen that saw the refusal and on one opened after. The page alone."""
    page = browser.new_page()
    try:
        page.set_content(KIOSK_HTML.read_text())
        page.evaluate("() => { mode = 'loop'; connected = true; }")
        page.evaluate(GIVE, [
            {"event": "triggered", "cause": "loop"},
            {"event": "error", "cause": "spending-limit", "exit": 3,
             "message": "spending limit reached: today's calls have lasted 0.00 min"},
            {"event": "paused", "cause": "spending-limit"}])
        for opened in (False, True):
            if opened:  # a screen opened meanwhile: the state alone
                page.set_content(KIOSK_HTML.read_text())
                page.evaluate("() => { mode = 'loop'; connected = true; }")
                page.evaluate(GIVE, [{"event": "paused", "cause": "spending-limit"}])
            assert page.evaluate("[$('state').textContent, $('detail').textContent]") == \
                ["Calls are paused for today", ""], f"opened after: {opened}"
            assert page.evaluate("button.hidden")
        page.evaluate(GIVE, [{"event": "triggered", "cause": "loop"}])  # the limit lifted
        assert page.evaluate("$('state').textContent") == "Calling…"
        # the daemon restarted at the limit within a call's 20 s: its new stream gives
        # `paused` alone, and the last visitor's lines leave as after `standby` (they stayed
        # until midnight: nothing let them go)
        page.evaluate(GIVE, [{"event": "in-call", "call": "1a2b3c4d"}, {
            "event": "transcript", "role": "visitor", "final": True, "text": "Hello"}])
        page.evaluate(GIVE, [{"event": "paused", "cause": "spending-limit"}])
        assert page.evaluate("clearTimer !== null"), "the last visitor's lines are let go"
    finally:
        page.close()


def test_a_call_the_screen_did_not_see_begin_does_not_show_the_last_visitors_lines(
        loop_page: Callable[..., Any]) -> None:
    """The screen's stream is cut (Wi-Fi, a relay, the daemon restarted) after one
    visitor's call, and comes back with the next call under way: a new stream gives its
    state (`in-call`, another call) and that call's lines, not the `connecting` that clears
    the screen. The last visitor's words stayed beside the new visitor's for the whole
    call (the 20 s after it ended were cancelled by the new state). The page alone."""
    page = loop_page()
    first = [{"event": "connecting"}, {"event": "in-call", "call": "1a2b3c4d"},
             {"event": "transcript", "role": "visitor", "final": True,
              "text": "I am here to see Dr Jones about my test results"}]
    page.evaluate(GIVE, first)
    page.evaluate(GIVE, [{"event": "in-call", "call": "1a2b3c4d"}])  # (a new stream:
    assert len(page.evaluate(SCREEN)) == 1, "the same call keeps its lines"  # its own)
    for gone in ([], [{"event": "ended", "reason": "customer-ended-call"}]):
        page.evaluate(GIVE, [*first, *gone])
        page.evaluate(GIVE, [  # the next call, as a new stream gives it
            {"event": "in-call", "call": "5e6f7a8b", "seq": 7, "at": 2000},
            {"event": "transcript", "role": "visitor", "final": True,
             "text": "Where are the lifts?", "seq": 9, "at": 2001}])
        assert page.evaluate(SCREEN) == ["visitor: Where are the lifts?"], \
            f"after {gone or 'no ended'}"


MIC = "() => [getComputedStyle($('mic')).visibility, $('mic').textContent.trim()]"


def test_a_muted_visitor_is_told_so_until_every_mute_is_lifted(browser: Any) -> None:
    """Muted (by Vapi, `ctl mute-customer`, or at the kiosk, `ctl mute-mic`), the visitor
    spoke on to a screen that said nothing of it, its meter moving with their voice. It
    says so now while either mute holds, and no more once the call is over."""
    page = browser.new_page()
    try:
        page.set_content(KIOSK_HTML.read_text())
        mute = [{"event": "in-call", "call": "1a2b3c4d"},
                {"event": "muted", "who": "visitor", "via": "vapi"},
                {"event": "muted", "who": "visitor", "via": "mic"},
                {"event": "unmuted", "who": "visitor", "via": "mic"}]
        page.evaluate(GIVE, mute)
        assert page.evaluate(MIC) == ["visible", "Microphone off"]
        page.evaluate(GIVE, [{"event": "muted", "who": "assistant", "via": "vapi"},
                             {"event": "unmuted", "who": "visitor", "via": "vapi"}])
        assert page.evaluate(MIC) == ["hidden", "Mic"]
        page.evaluate(GIVE, [*mute[1:2], {"event": "ended", "reason": "customer-ended-call",
                                          "outcome": "ok"}])
        assert page.evaluate(MIC) == ["hidden", "Mic"]
    finally:
        page.close()


def test_the_screen_says_what_failed_and_when_the_next_try_is(
        loop_page: Callable[..., Any]) -> None:
    """Loop mode while calls fail (`backoff`, up to 5 minutes): the screen keeps what went
    wrong and counts down to the next try; a screen opened meanwhile says it too."""
    page = loop_page(time=990, pause_at=1000)  # its time moves only as run_for moves it
    give = """(events) => events.forEach((o, i) =>
      onMessage({data: JSON.stringify({seq: 100 + i, at: 1000, ...o})}))"""
    page.evaluate(give, [
        {"event": "triggered", "cause": "loop"}, {"event": "connecting"},
        {"event": "error", "cause": "vapi", "message": "Vapi is failing (503)", "exit": 5},
        {"event": "backoff", "seconds": 30, "failures": 1, "cause": "vapi"}])
    assert page.evaluate("$('state').textContent") == \
        "The service is not available right now"
    assert page.evaluate("$('detail').textContent") == "Trying again in 30 s"
    assert page.evaluate("button.hidden"), "no End: no call is being placed"
    page.clock.run_for(10_000)
    assert page.evaluate("$('detail').textContent") == "Trying again in 20 s"
    page.evaluate(give, [{"event": "triggered", "cause": "loop"}])
    page.clock.run_for(2000)
    assert page.evaluate("$('state').textContent") == "Calling…"
    assert page.evaluate("$('detail').textContent") == "", "the count-down stopped"

    page.clock.run_for(10_000)  # a screen opened during the next wait: the state alone
    page.evaluate("() => { state = null; errorShown = false; say(''); }")
    page.evaluate(give, [{"event": "backoff", "seconds": 30, "failures": 3,
                          "cause": "network", "at": 1012}])  # 10 s before: 20 left
    assert page.evaluate("$('state').textContent") == "Could not connect"
    assert page.evaluate("$('detail').textContent") == "Trying again in 20 s"


def test_a_screen_opened_while_calls_fail_lets_the_last_visitor_go(
        loop_page: Callable[..., Any]) -> None:
    """A screen opened (or reloaded) in loop mode's wait after a failed call is given the
    wait (`backoff`) and then the last call's lines: they stayed until the next try, up to
    5 minutes of the last visitor's words on a kiosk screen. They leave 20 s on now, as
    after `ended`; the count-down goes on. The page alone, on its own clock."""
    page = loop_page()
    page.evaluate(GIVE, [
        {"event": "backoff", "seconds": 300, "failures": 2, "cause": "network",
         "at": None},  # (its count-down from now)
        {"event": "transcript", "role": "visitor", "final": True,
         "text": "I am here to see Dr Jones about my test results"}])
    assert page.evaluate(SCREEN) != []
    page.clock.run_for(21000)
    assert page.evaluate(SCREEN) == []
    assert page.evaluate("$('state').textContent") == "Could not connect"
    assert page.evaluate("$('detail').textContent") == "Trying again in 279 s"
