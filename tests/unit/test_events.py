"""The kiosk event bus (`bridge.events`): order, bounded queues with lost notices, the state
a new subscriber starts from, and a publisher that never waits for a subscriber."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re

import pytest

from bridge import events
from bridge.events import EventBus, KioskEvent
from bridge.inert import inert


def _drain(sub) -> list[KioskEvent]:
    out = []
    while (event := sub.get_nowait()) is not None:
        out.append(event)
    return out


def test_each_subscriber_gets_every_event_in_order() -> None:
    async def main() -> None:
        bus = EventBus()
        with bus.subscribe() as a, bus.subscribe() as b:
            for n in range(50):
                bus.publish(events.TRANSCRIPT, role="visitor", text=f"line {n}", final=True)
            got_a = [await a.get() for _ in range(50)]
            got_b = _drain(b)
        assert [e.fields["text"] for e in got_a] == [f"line {n}" for n in range(50)]
        assert [e.seq for e in got_a] == [e.seq for e in got_b] == list(range(1, 51))
        assert bus.subscribers == 0, "a subscription ends with its block"

    asyncio.run(main())


def test_a_subscriber_behind_loses_its_oldest_events_and_is_told_how_many() -> None:
    async def main() -> None:
        bus = EventBus()
        with bus.subscribe(size=8) as slow:
            for n in range(20):
                bus.publish(events.ASSISTANT_SPEAKING, turn=n)
            lost = await slow.get()
            rest = _drain(slow)
        assert lost.kind == events.LOST and lost.fields == {"count": 12}
        assert [e.fields["turn"] for e in rest] == list(range(12, 20)), "the newest 8 kept"
        line = json.loads(lost.json())
        assert line["event"] == "lost" and line["count"] == 12

    asyncio.run(main())


def test_publish_never_waits_for_a_subscriber_that_never_reads() -> None:
    async def main() -> None:
        bus = EventBus()
        with bus.subscribe(size=4) as stalled, bus.subscribe() as reader:
            # publish is synchronous: 10 000 of them with no await between, the stalled
            # subscriber holds 4, the reader still gets the newest (its queue: 256)
            for n in range(10_000):
                bus.publish(events.VISITOR_SPEAKING, turn=n)
            assert stalled.pending == 4 and stalled.lost == 9_996
            got = _drain(reader)
        assert got[0].kind == events.LOST and got[-1].fields["turn"] == 9_999

    asyncio.run(main())


def test_a_new_subscriber_starts_from_the_latest_state() -> None:
    async def main() -> None:
        bus = EventBus()
        bus.publish(events.STANDBY)
        bus.publish(events.TRIGGERED, cause="ctl")
        bus.publish(events.CONNECTING)
        bus.publish(events.IN_CALL, call="1a2b3c4d")
        bus.publish(events.ASSISTANT_SPEAKING, turn=0)  # not a state: not replayed
        with bus.subscribe() as late:
            first = await late.get()
            assert first.kind == events.IN_CALL and first.fields["call"] == "1a2b3c4d"
            assert late.get_nowait() is None
            bus.publish(events.ENDED, reason="customer-ended-call", outcome="ok")
            assert (await late.get()).kind == events.ENDED
        with bus.subscribe(replay_state=False) as fresh:
            assert fresh.get_nowait() is None

    asyncio.run(main())


def test_a_subscriber_that_starts_mid_call_learns_the_mutes_in_force() -> None:
    """An LED ring started while the visitor's microphone is muted showed it live: the
    replay held the state alone. A mute lifted, or one of a call that is over, is not
    replayed."""
    bus = EventBus()
    bus.publish(events.IN_CALL, call="1a2b3c4d")
    bus.publish(events.MUTED, who="visitor")
    bus.publish(events.MUTED, who="assistant")
    bus.publish(events.UNMUTED, who="assistant")
    with bus.subscribe() as late:
        assert [(e.kind, e.fields.get("who")) for e in _drain(late)] == [
            (events.IN_CALL, None), (events.MUTED, "visitor")]
    bus.publish(events.ENDED, reason="customer-ended-call", outcome="ok")
    with bus.subscribe() as after:
        assert [e.kind for e in _drain(after)] == [events.ENDED]


def test_a_visitor_muted_twice_stays_muted_after_one_unmute() -> None:
    """Muted at the microphone (`ctl mute-mic`) and by Vapi (`mute-customer`), then unmuted
    at the microphone: Vapi still does not hear them, and a screen started then said
    nothing of it (the mutes were kept by who alone)."""
    bus = EventBus()
    bus.publish(events.IN_CALL, call="1a2b3c4d")
    bus.publish(events.MUTED, who="visitor", via="vapi")
    bus.publish(events.MUTED, who="visitor", via="mic")
    bus.publish(events.UNMUTED, who="visitor", via="mic")
    with bus.subscribe() as late:
        assert [(e.kind, e.fields.get("via")) for e in _drain(late)] == [
            (events.IN_CALL, None), (events.MUTED, "vapi")]


def test_a_screen_that_starts_while_the_link_is_stalled_learns_it() -> None:
    """A screen opened (or reconnected) during a stall says "Connection problem" at once;
    not once the link carries again, nor after the call (a lost call's stall ends with it)."""
    bus = EventBus()
    bus.publish(events.IN_CALL, call="1a2b3c4d")
    bus.publish(events.LINK_STALLED, call="1a2b3c4d", seconds=3.2)
    with bus.subscribe() as late:
        assert [e.kind for e in _drain(late)] == [events.IN_CALL, events.LINK_STALLED]
    bus.publish(events.LINK_RESTORED, call="1a2b3c4d", seconds=4.0)
    with bus.subscribe() as after:
        assert [e.kind for e in _drain(after)] == [events.IN_CALL]
    bus.publish(events.LINK_STALLED, call="1a2b3c4d", seconds=3.0)
    bus.publish(events.ENDED, reason="connection-lost", outcome="connection-lost")
    with bus.subscribe() as ended:
        assert [e.kind for e in _drain(ended)] == [events.ENDED]


def test_a_screen_that_starts_mid_call_is_given_the_calls_last_final_lines() -> None:
    """The kiosk screen's stream (`lines`): the call's last 5 final lines after the state,
    as `ctl status` has them (no partial; `ctl events`, without `lines`, none of them); kept
    after its `ended`, gone once the kiosk waits again or the next call begins."""
    bus = EventBus()
    bus.publish(events.TRANSCRIPT, role="visitor", text="an earlier call's", final=True)
    bus.publish(events.CONNECTING)
    bus.publish(events.IN_CALL, call="1a2b3c4d")
    for n in range(7):
        bus.publish(events.TRANSCRIPT, role="assistant", text=f"line {n}", final=True)
        bus.publish(events.TRANSCRIPT, role="assistant", text=f"line {n + 1} bei", final=False)
    with bus.subscribe(lines=True) as screen, bus.subscribe() as script:
        assert [(e.kind, e.fields.get("text")) for e in _drain(screen)] == [
            (events.IN_CALL, None), *((events.TRANSCRIPT, f"line {n}") for n in range(2, 7))]
        assert [e.kind for e in _drain(script)] == [events.IN_CALL]
    bus.publish(events.ENDED, reason="customer-ended-call", outcome="ok")
    with bus.subscribe(lines=True) as ended:
        assert len(_drain(ended)) == 1 + 5
    for waits in (events.STANDBY, events.TRIGGERED):
        bus.publish(events.IN_CALL, call="1a2b3c4d")
        bus.publish(events.TRANSCRIPT, role="visitor", text="hello", final=True)
        bus.publish(waits)
        with bus.subscribe(lines=True) as later:
            assert [e.kind for e in _drain(later)] == [waits]


def test_a_screen_opened_long_after_the_call_ended_is_not_given_its_lines() -> None:
    """In loop mode the kiosk stays `ended` until its next call, minutes away while calls
    fail (the backoff, up to `max_backoff_seconds`): a screen opened (or its stream opened
    again) then was given the last visitor's words, which the screen lets go of 20 s after
    the call. They are given only within those 20 s."""
    bus = EventBus()
    bus.publish(events.IN_CALL, call="1a2b3c4d")
    bus.publish(events.TRANSCRIPT, role="visitor", text="my room number is 12", final=True)
    ended = bus.publish(events.ENDED, reason="customer-ended-call", outcome="ok")
    with bus.subscribe(lines=True) as soon:
        assert [e.kind for e in _drain(soon)] == [events.ENDED, events.TRANSCRIPT]
    bus.state = dataclasses.replace(ended, at=ended.at - 60)  # a minute on
    with bus.subscribe(lines=True) as later:
        assert [e.kind for e in _drain(later)] == [events.ENDED]


def test_a_screen_opened_after_a_call_failed_to_be_placed_learns_it() -> None:
    """Loop mode after a call that could not be placed (Vapi down): the kiosk's state stays
    `connecting` until its next try, up to 5 minutes away, and a screen opened (or reloaded)
    meanwhile said "Connecting…" and offered End. The screen's stream is given the error
    after the state; not once the kiosk has moved on (waits, calls again)."""
    bus = EventBus()
    bus.publish(events.TRIGGERED, cause="loop")
    bus.publish(events.CONNECTING)
    bus.publish(events.ERROR, message="Vapi is failing (503)", cause="vapi", exit=5)
    with bus.subscribe(lines=True) as screen, bus.subscribe() as script:
        assert [e.kind for e in _drain(screen)] == [events.CONNECTING, events.ERROR]
        assert [e.kind for e in _drain(script)] == [events.CONNECTING]
    bus.publish(events.TRIGGERED, cause="loop")
    with bus.subscribe(lines=True) as next_try:
        assert [e.kind for e in _drain(next_try)] == [events.TRIGGERED]


def test_a_client_that_comes_back_gets_what_it_missed_not_the_state_again() -> None:
    """An event stream cut a moment (a proxy, a flaky link) comes back with the last seq it
    had (Last-Event-ID): the captions said meanwhile were lost, and the state sent again
    restarted the screen's timers (operator helper). What came after is sent instead, when
    the bus still holds it; else, or for a seq no event of this bus had (the daemon
    started again), the state as to any new subscriber."""
    bus = EventBus()
    bus.publish(events.STANDBY)
    bus.publish(events.TRIGGERED, cause="ctl")
    had = bus.publish(events.IN_CALL, call="1a2b3c4d").seq
    bus.publish(events.TRANSCRIPT, role="assistant", text="Welcome.", final=True)
    bus.publish(events.TRANSCRIPT, role="visitor", text="Hi.", final=True)

    def first_of(since: int | None) -> list[str]:
        with bus.subscribe(since=since) as sub:
            got = []
            while (event := sub.get_nowait()) is not None:
                got.append(event.fields.get("text") or event.kind)
            return got

    assert first_of(had) == ["Welcome.", "Hi."]
    assert first_of(had + 2) == [], "nothing missed: nothing sent, not the state again"
    assert first_of(None) == [events.IN_CALL]
    assert first_of(10_000) == [events.IN_CALL], "another daemon's seq"
    for n in range(events.RECENT):
        bus.publish(events.TRANSCRIPT, role="visitor", text=f"line {n}", final=False)
    assert first_of(had) == [events.IN_CALL], "more missed than kept: the state"


def test_keep_filters_before_queueing_so_skipped_events_cost_no_losses() -> None:
    async def main() -> None:
        bus = EventBus()
        bus.publish(events.TRANSCRIPT, role="visitor", text="hel", final=False)
        with bus.subscribe(size=4, keep=events.final_only) as finals:
            for n in range(100):
                bus.publish(events.TRANSCRIPT, role="visitor", text=f"partial {n}",
                            final=False)
            bus.publish(events.TRANSCRIPT, role="visitor", text="hello", final=True)
            got = _drain(finals)
        assert [e.fields["text"] for e in got] == ["hello"], "no partials, no lost notice"

    asyncio.run(main())


def test_field_values_are_bounded_and_inert() -> None:
    bus = EventBus()
    event = bus.publish(events.TRANSCRIPT, role="assistant",
                        text="<3>forged\nline \x1b[31mred\u202e" + "x" * 10_000, final=True)
    text = event.fields["text"]
    assert isinstance(text, str) and "\n" not in text and "\x1b" not in text
    assert "\u202e" not in text and len(text) <= events.MAX_FIELD + 20
    line = event.json()
    assert "\n" not in line and json.loads(line)["final"] is True


def test_a_failing_listener_does_not_stop_the_others() -> None:
    bus = EventBus()
    seen: list[str] = []

    def broken(event: KioskEvent) -> None:
        raise RuntimeError("boom")

    bus.listen(broken)
    remove = bus.listen(lambda e: seen.append(e.kind))
    bus.publish(events.STANDBY)
    remove()
    bus.publish(events.TRIGGERED, cause="signal")
    assert seen == ["standby"]


_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[nrt\\])")
_NAMED = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}


def _decoded(text: str) -> str:
    """What a reader makes of an inert text: every backslash starts a whole escape."""
    assert "\\" not in _ESCAPE.sub("", text), f"a broken escape: {text[-12:]!r}"
    return _ESCAPE.sub(lambda m: _NAMED.get(m.group(1)) or chr(int(m.group(1)[1:], 16)),
                       text)


@pytest.mark.parametrize("inside", ["\x1b[31m", "\\", "\u202e", "\n"])
def test_a_long_text_is_cut_between_escapes_never_inside_one(inside: str) -> None:
    """Server text is made inert where it comes in (an escape for each control, line break,
    bidi mark, backslash), then cut to MAX_FIELD on the bus: a cut at any offset leaves
    whole escapes, so a reader decoding them gets a prefix of what was said."""
    bus = EventBus()
    for pad in range(events.MAX_FIELD - 8, events.MAX_FIELD + 1):
        said = "a" * pad + inside * 3 + "b" * 10
        event = bus.publish(events.TRANSCRIPT, role="assistant", text=inert(said), final=True)
        text = str(event.fields["text"])
        assert text.endswith("…") and len(text) <= events.MAX_FIELD + 1, len(text)
        assert said.startswith(_decoded(text[:-1])), text[-12:]
