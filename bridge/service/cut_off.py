"""Calls cut off with the daemon (a crash, SIGKILL, a power cut): their `ended` event never
came, so the spending guard never counted them, and a kiosk restarted in a loop could pass
its daily limit call after call.

While a call is up and a daily limit is set, its id is kept in the state directory
(`open-call-<profile>.json`, readable by the daemon's user alone: a live call's id is a
bearer secret) and removed once its `ended` event has been counted. A record found later —
at the next start, and before each call until it is settled — is asked of Vapi
(`GET /call/{id}`, one attempt):

- Vapi says the call ended: its minutes (`startedAt` to `endedAt`) and cost are added to
  the totals of the day it was placed, if that is still today, and the record goes;
- Vapi does not know the call (another key or base URL now): the record goes, with a
  warning, since nothing can be learnt of it;
- Vapi cannot be asked, or says the call goes on (it ends it once its socket is gone): the
  record stays for the next look. A call is not held back for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge import redact
from bridge.call.summary import outcome
from bridge.errors import ApiRequestError, BridgeError
from bridge.inert import inert
from bridge.profile import Profile
from bridge.profile.statedir import replace_text, state_file
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo

log = logging.getLogger("bridge.spending")

ASK_TIMEOUT_S = 5.0
MAX_RECORD_BYTES = 1024
Add = Callable[[float, float], None]  # seconds, cost: added to today's totals


def limited(profile: Profile) -> bool:
    return profile.call.max_daily_minutes is not None or profile.call.max_daily_cost is not None


def _seconds(body: dict[str, Any]) -> float:
    """`endedAt - startedAt` of a Vapi call, 0 when either is missing or unusable."""
    try:
        started = dt.datetime.fromisoformat(str(body.get("startedAt"))[:40])
        ended = dt.datetime.fromisoformat(str(body.get("endedAt"))[:40])
        seconds = (ended - started).total_seconds()
    except (ValueError, TypeError):
        return 0.0
    return seconds if math.isfinite(seconds) and 0 < seconds < 86400 else 0.0


class CutOffCalls:
    """The record of the call up now, for the profile read through `profile()`."""

    def __init__(self, profile: Callable[[], Profile], add: Add,
                 today: Callable[[], dt.date]) -> None:
        self.profile, self.add, self.today = profile, add, today
        self._settling = asyncio.Lock()

    @property
    def path(self) -> Path:
        return state_file("open-call", self.profile().name)

    def opened(self, info: CallInfo | None) -> None:
        """The call is up: kept until `counted()` (only while a daily limit is set)."""
        if info is None or not limited(self.profile()):
            return
        record = {"id": info.id, "day": self.today().isoformat()}
        try:
            replace_text(self.path, json.dumps(record) + "\n", private=True)
        except OSError as exc:
            log.warning("cannot keep the open call's record in %s (%s): a crash during this "
                        "call would leave it out of today's totals", self.path,
                        exc.strerror or exc)

    def counted(self) -> None:
        """The call's `ended` event has reached the totals: nothing left to settle."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove %s (%s)", self.path, exc.strerror or exc)

    def _record(self) -> tuple[str, str] | None:
        """(call id, day) of a call cut off, or None; an unusable record is removed."""
        try:
            with self.path.open("rb") as f:
                data = json.loads(f.read(MAX_RECORD_BYTES + 1)[:MAX_RECORD_BYTES])
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("id"), str) \
                and isinstance(data.get("day"), str):
            return data["id"], data["day"]
        log.warning("the open call's record %s is unreadable: removed", self.path)
        self.counted()
        return None

    async def settle(self, api: VapiApi) -> None:
        """Count a call cut off with an earlier run, if Vapi says it is over. Never raises."""
        async with self._settling:  # at start and before a call: never counted twice
            record = self._record()
            if record is None:
                return
            call_id, day = record
            label = f"…{inert(call_id[-8:], 8)}"
            redact.register(call_id, shown=label)  # in the lookup's URL: never in a log
            try:
                async with asyncio.timeout(ASK_TIMEOUT_S):
                    info = await api.get_call(call_id, attempts=1)
                self._count(info.raw, day, label)
            except ApiRequestError as exc:
                log.warning("a call cut off when the daemon last stopped (call %s) is "
                            "unknown to Vapi (%s): it is left out of the totals", label, exc)
                self.counted()
            except (BridgeError, TimeoutError) as exc:
                log.info("a call cut off when the daemon last stopped (call %s) is not "
                         "counted yet: Vapi could not be asked (%s); asked again before the "
                         "next call", label, str(exc) or exc.__class__.__name__)
            finally:
                redact.release_call(call_id)  # and the URLs the lookup registered

    def _count(self, body: dict[str, Any], day: str, label: str) -> None:
        if body.get("status") != "ended":
            log.info("a call cut off when the daemon last stopped (call %s) is still %s at "
                     "Vapi: counted once it ends", label, inert(str(body.get("status")), 40))
            return
        cost, seconds = outcome(body, "")[1] or 0.0, _seconds(body)
        if day == self.today().isoformat():
            self.add(seconds, cost)
            log.warning("a call cut off when the daemon last stopped (call %s) is counted "
                        "now: %.1f min, $%.4f added to today's totals", label,
                        seconds / 60, cost)
        self.counted()
