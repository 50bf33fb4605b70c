"""The spending guard's day for one profile: today's totals, and the calls placed today
that are not counted yet (up now, cut off with the daemon, or ended before Vapi said what
they cost), in one small JSON file, `spending-<profile>.json` in the state directory.

One write both adds a call and takes it off the open list (a temporary file renamed over
the old), so a crash between the two can never count a call twice. The file is readable by
the daemon's user alone: an open call's id is a bearer secret while the call lasts. A file
from another day counts as zero (its open calls are kept: counted today, once Vapi says what
they cost, and one a power cut left in progress still ended); one that cannot be read
is logged and counted as zero, never fatal."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bridge.profile.statedir import replace_text
from bridge.vapi.callinfo import is_call_id

log = logging.getLogger("bridge.spending")

MAX_FILE_BYTES = 4096
MAX_OPEN = 16  # open calls kept: more means a kiosk crashing in every call for hours


def number(value: object) -> float | None:
    """A finite number ≥ 0, or None."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value) and value >= 0
    return float(value) if ok else None  # type: ignore[arg-type]


@dataclass
class OpenCall:
    id: str
    seconds: float | None = None  # counted already (its length): only its cost is due


@dataclass
class Totals:
    day: str  # ISO date, local
    minutes: float = 0.0
    cost: float = 0.0
    calls: int = 0
    open: list[OpenCall] = field(default_factory=list)

    def add(self, seconds: float, cost: float) -> None:
        self.minutes += seconds / 60.0
        self.cost += cost
        self.calls += 1

    def take(self, call_id: str | None) -> OpenCall | None:
        """The open call `call_id`, taken off the list (None: not on it)."""
        for i, entry in enumerate(self.open):
            if entry.id == call_id:
                return self.open.pop(i)
        return None

    def opened(self, entry: OpenCall) -> None:
        if len(self.open) >= MAX_OPEN:
            log.warning("%d calls today are not counted yet (Vapi could not say what they "
                        "cost): the oldest is left out of the spending totals", len(self.open))
        self.open = [*self.open, entry][-MAX_OPEN:]


def _open_calls(value: object) -> list[OpenCall]:
    calls = []
    for item in value[:MAX_OPEN] if isinstance(value, list) else []:
        if isinstance(item, dict) and is_call_id(item.get("id")):
            calls.append(OpenCall(item["id"], number(item.get("seconds"))))
    return calls


def read(path: Path, today: str) -> Totals:
    try:
        with path.open("rb") as f:
            data = json.loads(f.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES])
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return Totals(today)
    except (OSError, ValueError) as exc:
        log.log(_level(path), "spending totals %s unreadable (%s): counting today from zero",
                path, exc.__class__.__name__ if isinstance(exc, OSError) else exc)
        return Totals(today)
    if data.get("day") != today:  # another day's: today starts at zero, its open calls
        return Totals(today, open=_open_calls(data.get("open")))  # still to look at (a power
        # cut before midnight: the call is ended, and counted, after it)
    calls = data.get("calls")
    return Totals(today, number(data.get("minutes")) or 0.0, number(data.get("cost")) or 0.0,
                  calls if isinstance(calls, int) and calls >= 0 else 0,
                  _open_calls(data.get("open")))


def write(path: Path, totals: Totals, *, durable: bool = True) -> None:
    """`durable=False` skips the fsync (for a write on the event loop as a call's audio
    starts: the kernel still writes it back within seconds). OSError as is (the old file
    kept whole): `day_store.py` keeps what could not be saved."""
    replace_text(path, json.dumps(asdict(totals)) + "\n", private=True, durable=durable)


_said: set[Path] = set()  # files whose trouble was said: once at warning level, then debug


def _level(path: Path) -> int:
    said = path in _said
    _said.add(path)
    return logging.DEBUG if said else logging.WARNING


def sync_soon(path: Path) -> None:
    """`path` (written with `durable=False`) and its directory put on the disk in a worker
    thread, the event loop not held: a power cut seconds into a call keeps its entry."""
    def sync() -> None:
        for target, flags in ((path, os.O_RDONLY), (path.parent, os.O_RDONLY | os.O_DIRECTORY)):
            try:
                fd = os.open(target, flags)
            except OSError:
                return
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)

    asyncio.get_running_loop().run_in_executor(None, sync)
