"""The daemon's mode (`service.mode`), run as a loop until it stops, and the call asked for
that standby waits for.

`once` places one call and exits; `standby` places a call on `ctl call`, SIGUSR1, the kiosk
screen or the wake word (`standby.py`), then waits again, devices idle (`idle.py`); `loop`
calls again after `loop_delay_seconds`, backing off (up to `max_backoff_seconds`) while
calls fail, and at a spending limit places none until one is allowed. A reload asked for
during a call is applied once it is over; a key Vapi refuses ends the loop (exit 3,
`key_check.py`)."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Protocol

from bridge import events
from bridge.aio import wait_any
from bridge.call.lifecycle import Call
from bridge.errors import ExitCode
from bridge.events import EventBus
from bridge.profile import Profile
from bridge.service.idle import IdleDevices
from bridge.service.key_check import KeyCheck
from bridge.service.progress import count_down, loop_delay
from bridge.service.reload import Reloads
from bridge.service.spending import SPENDING_EXIT, SpendingGuard, paused_state
from bridge.service.standby import WakeWord

SPENDING_POLL_S = 10.0  # loop mode at a spending limit: how often it looks again


class ModesHost(Protocol):
    """What of the daemon the modes use (`bridge.service.daemon.Daemon`)."""

    profile: Profile
    call: Call | None
    stopping: asyncio.Event
    events: EventBus
    spending: SpendingGuard
    key: KeyCheck
    reloads: Reloads
    wake: WakeWord
    idle: IdleDevices

    async def call_once(self) -> int: ...

    def apply_reload(self) -> None: ...

    def set_state(self, state: str, *, again: bool = False) -> None: ...


class Modes:
    """The daemon's loop of calls (`run`), and the request for one that standby waits for
    (`request`)."""

    def __init__(self, host: ModesHost) -> None:
        self._host = host
        self.wanted = asyncio.Event()  # a call asked for (standby)
        self.cause = "start"  # what triggered the next call
        self.calling = False  # a call placed: until its goodbye played
        self._over: Call | None = None  # the daemon's call when this one began being placed

    def request(self, cause: str = "ctl") -> str | None:
        """Start a call in standby mode (`cause`: ctl, signal, wake-word, http). Returns
        why not, or None when accepted."""
        host = self._host
        if (mode := host.profile.service.mode) != "standby":  # (and the fix: it said no more)
            return (f"the daemon is in {mode} mode, not standby: it places its calls on its "
                    f"own; for calls on request set service.mode: standby in its profile and "
                    f"{'reload' if mode == 'loop' else 'restart'} the daemon")
        if (host.call is not None and not host.call.done) or self.wanted.is_set() or (
                self.calling and host.call is self._over):  # taken, not yet made (below)
            return "a call is already in progress"
        if cause in ("ctl", "http") and (refusal := host.spending.asked()):
            return refusal  # an operator's request: told, not chimed and apologised for
        self.cause = cause
        self.wanted.set()
        return None

    async def run(self) -> int:
        host = self._host
        failures = 0
        while not host.stopping.is_set() and host.key.refused is None:  # (once: its call's)
            mode = host.profile.service.mode
            if mode == "standby":
                host.set_state(host.spending.standby_state())
                host.events.publish(events.STANDBY)
                if not await host.wake.wait(host.idle.waiting(self._wait_for(self.wanted))):
                    break
            host.events.publish(events.TRIGGERED, cause=self.cause)
            self.cause = "loop"  # the next call's, unless a request (taken as this one ends)
            # from here a request is for the next call (it fades this one's goodbye:
            # `Daemon.cut_tail`), but not before this one is made: the spending guard may
            # wait 1.5 s for an earlier call's cost first, and a second tap of the screen's
            # button then was taken, and placed a second call once this one ended
            self.wanted.clear()
            self.calling, self._over = True, host.call
            code = await host.spending.refuse() or (  # refused: 3; stopped meanwhile: none
                ExitCode.OK if host.stopping.is_set() else await host.call_once())
            self.calling = False
            if mode == "once" or host.key.refused is not None:  # refused as it was placed:
                return host.key.outcome(code)  # exit 3 now, no wait (once: never refused)
            failures = failures + 1 if code != ExitCode.OK else 0
            host.apply_reload()
            if mode == "loop" and code == SPENDING_EXIT:  # no retries: nothing changes soon
                await self._until_spending_allows()
            elif mode == "loop" and not host.stopping.is_set():
                await count_down(loop_delay(host.profile.service, failures), host.set_state,
                                 partial(self._wait_for, host.stopping), host.stopping,
                                 host.events, failures)
        return host.key.outcome()  # OK, or Vapi's refusal of the key raised: exit 3

    async def _until_spending_allows(self) -> None:
        """Loop mode at a spending limit: no call, chime or offline line until one is allowed
        (tomorrow, a higher limit, no totals file), looked at each reload or SPENDING_POLL_S.
        The kiosk's state is `paused` meanwhile: it stayed `triggered` (`ctl events`, the
        metric, a screen opened later), as if a call were on its way until midnight."""
        host = self._host
        host.set_state(paused_state(host.spending.refused))
        host.events.publish(events.PAUSED, cause=events.SPENDING_LIMIT)
        while host.spending.recheck():
            host.reloads.applied.clear()
            if not await self._wait_for(host.reloads.applied, SPENDING_POLL_S):
                return
        self.wanted.clear()  # a request made meanwhile (a reload to standby) is stale

    async def _wait_for(self, event: asyncio.Event, timeout: float | None = None) -> bool:
        """Wait for `event` (or the timeout); False when the daemon is stopping instead."""
        stopping = self._host.stopping
        await wait_any(*{stopping, event}, timeout=timeout)
        return not stopping.is_set()
