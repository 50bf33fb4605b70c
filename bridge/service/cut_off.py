"""Counting the calls whose `ended` event did not count them: a call cut off with the
daemon (a crash, SIGKILL, a power cut), or one that ended before Vapi said what it cost (a
lost connection: Vapi goes on billing until it notices). Without this a kiosk restarted in
a loop, or on a flaky link, could pass its daily limit call after call.

They are the day's open calls (`day_totals.py`) other than the one up now. They are asked
of Vapi together (`GET /call/{id}`, one attempt each, within `ASK_TIMEOUT_S`) by one
background task: at start (once the daemon holds its control socket, so a second daemon
started by hand never counts the first one's call), after a call that left its cost open,
and before each call, which waits for that look at most `BEFORE_CALL_WAIT_S`; then every
`RETRY_S` while any is left. Once Vapi says a call ended (and says its cost: asked up to
`COST_LOOKS` times), its length (`startedAt` to `endedAt`; for a call whose own length was
counted, what Vapi's is longer by) and cost are added and it leaves the list, in one
write. A call Vapi answers 404 for (another key or base URL now) leaves it with a warning.
One Vapi cannot be asked about, or says goes on, stays: said once, at warning level.

A call on the list as the daemon starts (`start`), no other daemon on these files alive
(`state_lock.py`), is an earlier daemon's: one that stopped without ending it. One Vapi
says is in progress was left so by a power cut or a frozen kiosk (a crash or SIGKILL closes
the socket, which ends the call): no visitor is on it, and Vapi bills it until it notices,
or its `maxDurationSeconds` runs out. It is ended through its controlUrl
(`bridge.call.abandon.end_left`), looked at again `AFTER_END_S` later, and counted once
Vapi says it ended. The list is kept for every profile, a limit set or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Callable
from typing import Any

from bridge import redact
from bridge.call.abandon import LEFT, LOST, UNCONFIRMED, end_left
from bridge.call.lifecycle import control_key
from bridge.call.summary import outcome
from bridge.errors import NetworkError, NotFound
from bridge.inert import inert
from bridge.profile import Profile
from bridge.service.day_totals import OpenCall, Totals
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo
from bridge.vapi.commands import CallCommands

log = logging.getLogger("bridge.spending")

ASK_TIMEOUT_S = 5.0
BEFORE_CALL_WAIT_S = 1.5  # a visitor waits this long at most for the look before a call
RETRY_S = 30.0
COST_LOOKS = 10  # an ended call whose cost Vapi has not said: counted at $0 after this
AFTER_END_S = 2.0  # a call just ended through its controlUrl: looked at again this soon


async def _no_socket(command: dict[str, Any]) -> None:
    raise NetworkError("the call's socket belonged to an earlier daemon")


def _seconds(body: dict[str, Any]) -> float:
    """`endedAt - startedAt` of a Vapi call, 0 when either is missing or unusable."""
    try:
        started = dt.datetime.fromisoformat(str(body.get("startedAt"))[:40])
        ended = dt.datetime.fromisoformat(str(body.get("endedAt"))[:40])
        seconds = (ended - started).total_seconds()
    except (ValueError, TypeError):
        return 0.0
    return seconds if math.isfinite(seconds) and 0 < seconds < 86400 else 0.0


class Settler:
    """`read`/`write` the day's totals; `live()` is the id of the call up now (not asked);
    `api()` the daemon's client now (a reload replaces it)."""

    def __init__(self, read: Callable[[], Totals], write: Callable[[Totals], None],
                 live: Callable[[], str | None], api: Callable[[], VapiApi | None],
                 profile: Callable[[], Profile],
                 counted: Callable[[str, float, float], None] = lambda *_: None) -> None:
        self.read, self.write, self.live, self.api = read, write, live, api
        self.profile = profile
        self.counted = counted  # (call id, s, $): a call counted late, its cost now known
        self._left: set[str] = set()  # on the list as the daemon started: an earlier one's
        self._ended: set[str] = set()  # of those, ended through the controlUrl by the last look
        self._tried: set[str] = set()  # of those, asked to end at least once (said once)
        self._lost: dict[str, str] = {}  # this daemon's, lost and not ended then (`lost`):
        # why, as said when it is ended (LOST, or UNCONFIRMED: an end Vapi did not confirm)
        self._task: asyncio.Task[None] | None = None
        self._wake, self._looked = asyncio.Event(), asyncio.Event()
        self._told: set[str] = set()  # calls whose wait was said
        self._looks: dict[str, int] = {}  # an ended call's looks for its cost

    def pending(self) -> list[OpenCall]:
        live = self.live()
        return [entry for entry in self.read().open if entry.id != live]

    def start(self, alone: bool) -> None:
        """The daemon starts, `alone` on its profile's state (`state_lock.py`): the calls
        on the list now are then an earlier daemon's (none of this one's is up yet).
        Looked at now."""
        self._left = {entry.id for entry in self.pending()} if alone else set()
        self.kick()

    def lost(self, call_id: str, link: bool = True) -> None:
        """A call of this daemon's that was lost with its `link` (or whose end Vapi did not
        confirm), and that Vapi could not be asked about or told to end
        (`bridge.call.abandon.end_if_lost`): ended through its controlUrl when a look finds
        it in progress (nobody is on it)."""
        self._lost[call_id] = LOST if link else UNCONFIRMED

    def kick(self) -> None:
        """Look now (in the background) if any call is left to count."""
        if self.api() is None or not self.pending():
            return
        self._looked.clear()  # a look that ends from now on
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def before_call(self) -> None:
        self.kick()
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BEFORE_CALL_WAIT_S):
                    await self._looked.wait()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            left = await self._look()
            self._looked.set()
            if not left and not self._wake.is_set():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(AFTER_END_S if self._ended else RETRY_S):
                    await self._wake.wait()

    async def _look(self) -> bool:
        """One look at every call left (asked together); whether any is left still."""
        pending = self.pending()
        self._ended.clear()
        answers = await asyncio.gather(*(self._ask(entry.id) for entry in pending))
        for entry, body in zip(pending, answers, strict=True):
            if body is None:
                continue
            status = body.get("status")
            cost = outcome(body, "")[1]
            looks = self._looks[entry.id] = self._looks.get(entry.id, 0) + 1
            if status == "ended" and (cost is not None or looks >= COST_LOOKS):
                self._count(entry.id, body)
            elif status != "ended" and entry.id not in self._tried:  # (its end said it)
                self._say(entry.id, f"Vapi says it is still {inert(str(status), 40)}")
        still = self.read().open
        ids = {entry.id for entry in still}  # one off the list is never asked about again:
        # counted, or the oldest of more than the list keeps; over a daemon's life on a
        # flaky link, these only grew
        self._lost = {k: why for k, why in self._lost.items() if k in ids}
        self._tried &= ids
        live = self.live()
        return any(entry.id != live for entry in still)

    async def _ask(self, call_id: str) -> dict[str, Any] | None:
        api = self.api()
        label = f"…{inert(call_id[-8:], 8)}"
        redact.register(call_id, shown=label)  # in the lookup's URL: never in a log
        try:
            if api is None:
                return None
            async with asyncio.timeout(ASK_TIMEOUT_S):
                info = await api.get_call(call_id, attempts=1)
            if info.id != call_id:
                redact.release_call(info.id)  # (what `get_call` registered of it)
                self._say(call_id, "Vapi answered with another call")
                return None
            ours = call_id in self._left or call_id in self._lost
            if info.raw.get("status") == "in-progress" and ours:
                await self._end_left(api, info, label)  # not "forwarding": a transfer
            return info.raw
        except NotFound as exc:
            log.warning("call %s, not counted yet, is unknown to Vapi now (%s): it is left "
                        "out of the spending totals", label, exc)
            totals = self.read()
            if totals.take(call_id) is not None:
                self.write(totals)
            self._forget(call_id)
        except TimeoutError:
            self._say(call_id, f"Vapi did not answer within {ASK_TIMEOUT_S:g} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # (a client closed by a reload, too): asked again later
            self._say(call_id, str(exc) or exc.__class__.__name__)
        finally:
            redact.release_call(call_id)  # and the URLs the lookup registered
        return None

    async def _end_left(self, api: VapiApi, info: CallInfo, label: str) -> None:
        """An earlier daemon's call that Vapi says goes on: ended through its controlUrl."""
        profile = self.profile()
        commands = CallCommands(api, _no_socket, via="control-url",
                                public_key=control_key(profile),
                                allow_plaintext=profile.api.allow_plaintext,
                                timeout=profile.api.timeout_seconds)
        commands.info = info
        again = info.id in self._tried
        self._tried.add(info.id)
        why = self._lost.get(info.id, LEFT)
        log.log(logging.DEBUG if again else logging.WARNING, "call %s, %s: Vapi bills it "
                "until it is ended", label, why if why != LEFT else
                f"{LEFT} (a power cut, or a kiosk that froze)")
        if await end_left(commands, profile.call, label, again, why):
            self._ended.add(info.id)  # looked at again soon, to count it

    def _say(self, call_id: str, why: str) -> None:
        level = logging.DEBUG if call_id in self._told else logging.WARNING
        self._told.add(call_id)
        log.log(level, "call …%s is not in the spending totals yet: %s; asked again every "
                "%g s while the daemon runs, and at its next start (a call is not held back "
                "for it)", inert(call_id[-8:], 8), why, RETRY_S)

    def _forget(self, call_id: str) -> None:
        self._looks.pop(call_id, None)
        self._told.discard(call_id)

    def _count(self, call_id: str, body: dict[str, Any]) -> None:
        totals = self.read()  # read again: a call may have ended while Vapi was asked
        entry = totals.take(call_id)
        self._forget(call_id)
        if entry is None:
            return
        said = outcome(body, "")[1]
        cost, seconds = said or 0.0, _seconds(body)
        if entry.seconds is None:  # cut off with the daemon: nothing of it counted
            totals.add(seconds, cost)
            what = "cut off when the daemon last stopped"
        else:  # its length (ours) is in; Vapi's may be longer (it bills until it notices)
            seconds = max(seconds, entry.seconds)
            totals.minutes += (seconds - entry.seconds) / 60.0
            totals.cost += cost
            what = "ended before Vapi said its cost"
        self.write(totals)
        self.counted(call_id, seconds, cost)
        log.warning("call …%s, %s, is counted now: %.0f s, %s (today: %.1f min, $%.4f)",
                    inert(call_id[-8:], 8), what, seconds,
                    f"${cost:.4f}" if said is not None else
                    f"no cost given by Vapi after {COST_LOOKS} looks: $0", totals.minutes,
                    totals.cost)
