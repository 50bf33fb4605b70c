"""What the daemon says it is doing between and during calls: the state line during a call
(and systemd's STATUS=), the loop mode's count-down, and its back-off while calls fail."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from bridge import events
from bridge.call.lifecycle import Call
from bridge.call.state import CallState
from bridge.profile.sections import ServiceSettings
from bridge.retry import RetryPolicy
from bridge.words import plural

log = logging.getLogger("bridge.call")

STATUS_EVERY_S = 1.0  # how often the state (and systemd's STATUS=) is brought up to date
TICK_PAST_S = 0.05  # in a call: how long after each whole second of its clock
CALL_PHASES = {CallState.CREATING: "calling", CallState.CONNECTING: "connecting",
               CallState.ENDING: "ending the call"}

SetState = Callable[[str], None]
Publish = Callable[..., object]  # `EventBus.publish`


def in_call_line(call: Call, elapsed_s: float | None = None) -> str | None:
    """`in call MM:SS, N audible underruns` while the call is up (None before and after),
    its clock `elapsed_s` (default: `call.elapsed_s` now) in whole seconds; `, link
    stalled N s` while nothing comes from Vapi (`Call.stalled_s`)."""
    if call.state is not CallState.IN_CALL or call.vapi.status not in (None, "in-progress"):
        return None
    elapsed = int(call.elapsed_s if elapsed_s is None else elapsed_s)
    under = call.downlink.playout_stats().audible_underruns
    stalled = call.stalled_s
    return f"in call {elapsed // 60:02d}:{elapsed % 60:02d}, " \
           f"{plural(under, 'audible underrun')}" + \
        ("" if stalled is None else f", link stalled {stalled:.0f} s")


class LinkNews:
    """`link-stalled` and `link-restored` as the call's link stalls and carries again,
    looked at on the state line's own wake-ups (once a second): nothing is woken for it."""

    def __init__(self, call: Call, publish: Publish) -> None:
        self.call, self.publish = call, publish
        self.since: float | None = None  # when the stall's quiet began (monotonic)

    def look(self) -> None:
        stalled, call = self.call.stalled_s, self.call
        if stalled is not None and self.since is None:
            self.since = time.monotonic() - stalled
            log.warning("call %s: the link to Vapi carries nothing: nothing received for %.0f "
                        "s, and no answer to a ping (the call is kept if it comes back)",
                        call.short_id, stalled)
            self.publish(events.LINK_STALLED, call=call.short_id, seconds=round(stalled, 1))
        elif stalled is None and self.since is not None and not call.done:
            took, self.since = time.monotonic() - self.since, None
            log.info("call %s: the link to Vapi carries again, after about %.0f s",
                     call.short_id, took)
            self.publish(events.LINK_RESTORED, call=call.short_id, seconds=round(took, 1))


async def call_status(call: Call, set_state: SetState, publish: Publish | None = None) -> None:
    """Keep the state current through the whole call (`ctl status` renders the in-call
    line afresh: `bridge.service.snapshot`), and say when its link stalls (`LinkNews`,
    with `publish`). In the call, the line is renewed just past each whole second of the
    call's clock, so it counts every second even when the loop runs late: a plain 1 s
    sleep drifts by each wake-up's lateness, and its clock would jump a second (00:04,
    00:06) whenever the drift crossed a second."""
    news = LinkNews(call, publish) if publish is not None else None
    while not call.done:
        line = in_call_line(call)
        set_state(line or CALL_PHASES.get(call.state, call.status))
        if news is not None:
            news.look()
        wait = STATUS_EVERY_S
        if line is not None:
            wait += TICK_PAST_S - call.elapsed_s % STATUS_EVERY_S
        await asyncio.sleep(wait)


def loop_delay(svc: ServiceSettings, failures: int) -> float:
    """The wait before the next call in loop mode: backing off while calls fail."""
    if not failures:
        return svc.loop_delay_seconds
    backoff = RetryPolicy(base_delay=max(1.0, svc.loop_delay_seconds),
                          max_delay=svc.max_backoff_seconds)
    return backoff.delay(failures + 1, rate_limited=False)


async def count_down(delay: float, set_state: SetState,
                     wait: Callable[[float], Awaitable[object]],
                     stopping: asyncio.Event, bus: events.EventBus, failures: int) -> None:
    """Wait `delay` seconds (`wait(timeout)` returns early on a stop), the state saying
    how long is left. After `failures` calls failed in a row, a back-off: the kiosk's state
    is `backoff` meanwhile (on `bus`: not `connecting`, as a call that could not be placed
    left it, nor `ended`), and the state line says why it waits."""
    why = ""
    if failures:
        failed = bus.failure  # the try's `error`, if it could not be placed (cleared by
        # an `ended`: a call placed that failed)
        bus.publish(events.BACKOFF, seconds=round(delay, 1), failures=failures,
                    cause=None if failed is None else failed.fields.get("cause"))
        why = f" (backing off after {plural(failures, 'failed call')})"
    end = time.monotonic() + delay
    while not stopping.is_set() and (left := end - time.monotonic()) > 0:
        set_state(f"next call in {math.ceil(left):.0f} s{why}")
        await wait(min(left, STATUS_EVERY_S))
