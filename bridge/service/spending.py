"""The spending guard: `call.max_daily_minutes` and `call.max_daily_cost`.

Before each call the daemon asks `refuse()`: once today's calls (the local date, this
profile) have reached either limit, no call is placed — one log line says which limit and
how to lift it, an `error{message, cause: "spending-limit"}` kiosk event goes out (the
offline line plays), `ctl status` shows it (`snapshot()`), standby keeps waiting and `once`
exits with code 3 (`SPENDING_EXIT`: like a billing refusal, restarting cannot fix it).

Every call's `ended` event (`bridge.events`: seconds, and the cost Vapi reports with
GET /call) is added to the day's totals, kept per profile so they survive a restart
(`day_totals.py`): `spending-<profile>.json` under `$STATE_DIRECTORY` (systemd's
StateDirectory=), else `$XDG_STATE_HOME/vapi-bridge`, else `~/.local/state/vapi-bridge`.
A call is on the day's open list from the moment it is up until it is counted, so one cut
off with the daemon, or one whose cost Vapi had not said at its end, is counted once Vapi
says what it lasted and cost (`cut_off.py`). Totals the file cannot take (a full disk) are
kept in memory while the daemon runs (`day_store.py`); a daemon that has not saved them
once since it started, a limit set, places no call: what an earlier run counted but could
not save is unknown, and a kiosk restarted in a loop would pass its limit call after call.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge import events
from bridge.errors import ExitCode
from bridge.events import EventBus, KioskEvent
from bridge.profile import Profile
from bridge.profile.statedir import save_fix, state_file
from bridge.service.cut_off import Settler
from bridge.service.day_store import DayStore
from bridge.service.day_totals import OpenCall, Totals, number
from bridge.service.state_lock import StateLock
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo

log = logging.getLogger("bridge.spending")

SPENDING_EXIT = ExitCode.AUTH  # `once` mode, refused: 3 (billing), not restarted by systemd
CAUSE = events.SPENDING_LIMIT


def dollars(amount: float) -> str:
    """`$1.25`; under ten cents with fractions of a cent (`$0.0025`): a small day is not
    said as `$0.00` "at or over" a limit of $0.001."""
    return f"${amount:.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.4f}"


def paused_state(refused: str | None) -> str:
    """The daemon's state while the guard refuses calls (loop mode): a limit reached waits
    for tomorrow, an unknown one for the operator."""
    if refused is not None and refused.startswith("spending limit unknown"):
        return "spending limit unknown: no call until the totals can be read and saved"
    return "spending limit reached: waiting for tomorrow or a higher limit"


def limited(profile: Profile) -> bool:
    return profile.call.max_daily_minutes is not None or profile.call.max_daily_cost is not None


class SpendingGuard:
    """The day's totals for the daemon's profile (read through `profile()`, so a reload
    that renames the profile or changes the limits takes effect at the next call)."""

    def __init__(self, profile: Callable[[], Profile], bus: EventBus,
                 api: Callable[[], VapiApi | None] = lambda: None,
                 today: Callable[[], dt.date] = dt.date.today) -> None:
        self.profile, self.bus, self.today = profile, bus, today
        self.refused: str | None = None  # the refusal said last (`say_if_reached`)
        self._live: str | None = None  # the id of the call up now, on the open list
        self._lock: StateLock | None = None  # held from `start` on
        self.store = DayStore(lambda: self.path, lambda: self.today().isoformat(),
                              lambda: limited(self.profile()))
        self.settler = Settler(self.totals, self._save, lambda: self._live, api, profile,
                               self._counted_late)
        bus.listen(self._on_event)

    def start(self) -> None:
        """The daemon holds its control socket: the calls an earlier daemon on this profile
        left are looked at (and ended, if Vapi says they go on, when no other is alive)."""
        if self._lock is None:
            self._lock = StateLock(self.path.with_suffix(".lock"))
        if limited(self.profile()):
            self.store.retry()  # can they be saved? (else no call: `reason`)
        self.settler.start(self._lock.alone)

    async def aclose(self) -> None:
        await self.settler.aclose()
        self.store.settle()  # the write as the last call opened, if not done yet
        if self._lock is not None:
            self._lock.close()

    @property
    def path(self) -> Path:
        return state_file("spending", self.profile().name)

    def totals(self) -> Totals:
        return self.store.read()

    def _save(self, totals: Totals) -> None:
        """The day's totals written, as a call is counted (at its end, or by the settler)."""
        self.store.write(totals)
        self.say_if_reached(totals)  # now, not only when the next call is asked for

    def _counted_late(self, call_id: str, seconds: float, cost: float) -> None:
        """A call whose `ended` carried no cost (lost, or an earlier daemon's): the metric
        and the event stream get what Vapi billed for it now."""
        if cost > 0:
            self.bus.publish(events.COST, call=call_id[-8:], seconds=round(seconds, 1),
                             cost=round(cost, 6))

    def opened(self, info: CallInfo | None) -> None:
        """The call is up: on the open list until its `ended` counts it (a limit set or
        not: a call the daemon stops in without ending it is ended by the next one)."""
        if info is None:
            return
        totals = self.totals()
        totals.opened(OpenCall(info.id))
        self.store.write_soon(totals)  # as the call's audio starts: not waited for
        self._live = info.id

    def _on_event(self, event: KioskEvent) -> None:
        if event.kind != events.ENDED:
            return
        live, self._live = self._live, None
        seconds, cost = number(event.fields.get("seconds")) or 0.0, \
            number(event.fields.get("cost"))
        if not (seconds or cost):
            return  # not placed (a call up that ended unsaid is asked of Vapi)
        totals = self.totals()
        entry = totals.take(live)
        if live is not None and entry is None:
            return  # off the list already: counted by another daemon on this profile
        totals.add(seconds, cost or 0.0)
        if cost is None and entry is not None:  # Vapi has not said: asked again
            totals.opened(OpenCall(entry.id, seconds))
        self._save(totals)
        self.settler.kick()

    def _unknown(self) -> OSError | None:
        """Why this daemon has not saved the day's totals once yet (their last write's
        failure), or None: saved, or not tried."""
        return None if self.store.saved else self.store.failed

    def reason(self, totals: Totals | None = None) -> str | None:
        """Why no call may be placed now (against `totals`, read if not given), or None."""
        c = self.profile().call
        if c.max_daily_minutes is None and c.max_daily_cost is None:
            return None
        if (exc := self._unknown()) is not None:
            return (f"today's totals cannot be saved to {self.path} ({exc.strerror or exc}): "
                    f"what earlier runs spent today is not known")
        t = totals or self.totals()
        if (bad := self.store.unreadable) is not None:
            return (f"today's totals in {bad.path} cannot be read ({bad.why}): what this "
                    f"kiosk spent today is not known")
        if c.max_daily_minutes is not None and t.minutes >= c.max_daily_minutes:
            return (f"today's calls have lasted {t.minutes:.{1 if t.minutes >= 10 else 2}f} "
                    f"min, at or over "
                    f"call.max_daily_minutes ({c.max_daily_minutes:g})")
        if c.max_daily_cost is not None and t.cost >= c.max_daily_cost:
            return (f"today's calls have cost {dollars(t.cost)}, at or over call.max_daily_cost "
                    f"(${c.max_daily_cost:g})")
        return None

    def refusal(self, totals: Totals | None = None) -> str | None:
        """Why no call may be placed now, with how to lift it; None when one may."""
        reason = self.reason(totals)
        if reason is not None and (exc := self._unknown()) is not None:
            return (f"spending limit unknown: {reason}; no call is placed until they can be — "
                    f"{save_fix(self.path, exc)}")
        if reason is not None and (bad := self.store.unreadable) is not None:
            return (f"spending limit unknown: {reason}; no call is placed until it can be "
                    f"(it is left as it is) — {bad.fix}")
        unsaved = self.store.failed is not None  # (memory holds what the file lacks)
        return None if reason is None else (
            f"spending limit reached: {reason}; no call is placed until tomorrow (raise the "
            f"limit in the profile and reload{'' if unsaved else f', or remove {self.path}'})")

    def say_if_reached(self, totals: Totals | None = None) -> str | None:
        """The refusal a call would get now (`refusal`), said once as the limit is first
        reached (at start, a reload, a call counted, a call asked for: the totals may move
        after, the words with them); every refusal still goes out as an event (`refuse`)."""
        before, self.refused = self.refused, self.refusal(totals)
        if self.refused is not None and before is None:
            log.error("%s", self.refused)
        return self.refused

    async def refuse(self) -> int | None:
        """Before a call: None to place it; else the exit code, having said why. The calls
        not counted yet are asked of Vapi first (`Settler.before_call`: 1.5 s at most)."""
        await self.settler.before_call()
        if self.recheck() is None:
            return None
        self.bus.publish(events.ERROR, message=self.refused, cause=CAUSE,
                         exit=int(SPENDING_EXIT))
        return SPENDING_EXIT

    def asked(self) -> str | None:
        """An operator's request for a call (`ctl call`, POST /call): `recheck`, a refusal
        told to them alone (no event, no offline line) and counted (`EventBus.refused`)."""
        refused = self.recheck()
        if refused is not None:
            self.bus.refused[CAUSE] += 1
        return refused

    def recheck(self) -> str | None:
        """`say_if_reached`, the totals saved first if they are not (a limit set): a full
        disk mended since, the file catches up, and calls are placed again."""
        if limited(self.profile()):
            self.store.retry()
        return self.say_if_reached()

    def standby_state(self) -> str:
        """The daemon's state as standby waits: with calls refused, why (up to the fix, which
        the log has), dated: a limit reached lifts at midnight, unseen until a call is asked
        for. A plain "waiting" hid a kiosk that would refuse every visitor."""
        refused = self.recheck()
        if refused is None:
            return "waiting for trigger"
        return (f"waiting for trigger; on {self.today().isoformat()}, calls refused: "
                f"{refused.split('; ')[0]}")

    def snapshot(self) -> dict[str, Any]:
        c, t = self.profile().call, self.totals()
        return {"day": t.day, "minutes": round(t.minutes, 2), "cost": round(t.cost, 4),
                "calls": t.calls, "uncounted": len(t.open),  # up now, or cost not known yet
                "maxDailyMinutes": c.max_daily_minutes, "maxDailyCost": c.max_daily_cost,
                "refused": self.refusal(t), "limitReached": self.reason(t) is not None}
