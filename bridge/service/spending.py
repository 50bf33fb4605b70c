"""The spending guard: `call.max_daily_minutes` and `call.max_daily_cost`.

Before each call the daemon asks `refuse()`: once today's calls (the local date, this
profile) have reached either limit, no call is placed — one log line says which limit and
how to lift it, an `error{message, cause: "spending-limit"}` kiosk event goes out (the
offline line plays), `ctl status` shows it (`snapshot()`), standby keeps waiting and `once`
exits with code 3 (`SPENDING_EXIT`: like a billing refusal, restarting cannot fix it).

Every call's `ended` event (`bridge.events`: seconds, and the cost Vapi reports with
GET /call) is added to the day's totals, and a call cut off with the daemon (a crash,
SIGKILL) once Vapi says what it lasted and cost (`cut_off.py`, looked at on start and before
each call); they are kept in a small JSON file per profile so they
survive a restart: `spending-<profile>.json` under `$STATE_DIRECTORY` (systemd's
StateDirectory=), else `$XDG_STATE_HOME/vapi-bridge`, else `~/.local/state/vapi-bridge`.
It is written atomically (a temporary file renamed over it); a file from another day
counts as zero, and one that cannot be read is logged and counted as zero, never fatal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bridge import events
from bridge.errors import ExitCode
from bridge.events import EventBus, KioskEvent
from bridge.profile import Profile
from bridge.profile.statedir import replace_text, state_file
from bridge.service.cut_off import CutOffCalls, limited
from bridge.vapi.api import VapiApi

log = logging.getLogger("bridge.spending")

SPENDING_EXIT = ExitCode.AUTH  # `once` mode, refused: 3 (billing), not restarted by systemd
CAUSE = "spending-limit"
MAX_FILE_BYTES = 4096


def dollars(amount: float) -> str:
    """`$1.25`; under ten cents with fractions of a cent (`$0.0025`): a small day is not
    said as `$0.00` "at or over" a limit of $0.001."""
    return f"${amount:.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.4f}"


@dataclass
class Totals:
    day: str  # ISO date, local
    minutes: float = 0.0
    cost: float = 0.0
    calls: int = 0


def _number(value: object) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value) and value >= 0
    return float(value) if ok else 0.0  # type: ignore[arg-type]


class SpendingGuard:
    """The day's totals for the daemon's profile (read through `profile()`, so a reload
    that renames the profile or changes the limits takes effect at the next call)."""

    def __init__(self, profile: Callable[[], Profile], bus: EventBus,
                 today: Callable[[], dt.date] = dt.date.today) -> None:
        self.profile, self.bus, self.today = profile, bus, today
        self.refused: str | None = None  # why the latest call was not placed
        self.cut_off = CutOffCalls(profile, self._add, today)  # `opened` once a call is up
        bus.listen(self._on_event)

    @property
    def path(self) -> Path:
        return state_file("spending", self.profile().name)

    def totals(self) -> Totals:
        today = self.today().isoformat()
        path = self.path
        try:
            with path.open("rb") as f:
                data = json.loads(f.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES])
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            return Totals(today)
        except (OSError, ValueError) as exc:
            log.warning("spending totals %s unreadable (%s): counting today from zero",
                        path, exc.__class__.__name__ if isinstance(exc, OSError) else exc)
            return Totals(today)
        if data.get("day") != today:
            return Totals(today)  # another day's: today starts at zero
        calls = data.get("calls")
        return Totals(today, _number(data.get("minutes")), _number(data.get("cost")),
                      calls if isinstance(calls, int) and calls >= 0 else 0)

    def _save(self, totals: Totals) -> None:
        path = self.path
        try:
            replace_text(path, json.dumps(asdict(totals)) + "\n")
        except OSError as exc:
            log.warning("cannot save the spending totals to %s (%s)", path,
                        exc.strerror or exc)

    def _on_event(self, event: KioskEvent) -> None:
        if event.kind != events.ENDED:
            return
        if limited(self.profile()):  # else nothing to keep
            self._add(_number(event.fields.get("seconds")), _number(event.fields.get("cost")))
        self.cut_off.counted()

    def _add(self, seconds: float, cost: float) -> None:
        if not seconds and not cost:
            return  # not placed
        totals = self.totals()
        totals.minutes += seconds / 60.0
        totals.cost += cost
        totals.calls += 1
        self._save(totals)

    def reason(self, totals: Totals | None = None) -> str | None:
        """Why no call may be placed now (against `totals`, read if not given), or None."""
        c = self.profile().call
        if c.max_daily_minutes is None and c.max_daily_cost is None:
            return None
        t = totals or self.totals()
        if c.max_daily_minutes is not None and t.minutes >= c.max_daily_minutes:
            return (f"today's calls have lasted {t.minutes:.1f} min, at or over "
                    f"call.max_daily_minutes ({c.max_daily_minutes:g})")
        if c.max_daily_cost is not None and t.cost >= c.max_daily_cost:
            return (f"today's calls have cost {dollars(t.cost)}, at or over call.max_daily_cost "
                    f"(${c.max_daily_cost:g})")
        return None

    def refusal(self) -> str | None:
        """Why no call may be placed now, with how to lift it; None when one may."""
        reason = self.reason()
        return None if reason is None else (
            f"spending limit reached: {reason}; no call is placed until tomorrow (raise the "
            f"limit in the profile and reload, or remove {self.path})")

    async def refuse(self, api: VapiApi | None) -> int | None:
        """Before a call: None to place it; else the exit code, having said why. A call cut
        off with an earlier run is counted first, if Vapi can say what it cost."""
        if api is not None:
            await self.cut_off.settle(api)
        before = self.refused
        self.refused = self.refusal()
        if self.refused is None:
            return None
        if self.refused != before:  # said once; every refusal still goes out as an event
            log.error("%s", self.refused)
        self.bus.publish(events.ERROR, message=self.refused, cause=CAUSE,
                         exit=int(SPENDING_EXIT))
        return SPENDING_EXIT

    def snapshot(self) -> dict[str, Any]:
        c, t = self.profile().call, self.totals()
        return {"day": t.day, "minutes": round(t.minutes, 2), "cost": round(t.cost, 4),
                "calls": t.calls, "maxDailyMinutes": c.max_daily_minutes,
                "maxDailyCost": c.max_daily_cost, "refused": self.refused,
                "limitReached": self.reason(t) is not None}
