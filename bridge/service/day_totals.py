"""The spending guard's day for one profile: today's totals, and the calls placed today
that are not counted yet (up now, cut off with the daemon, or ended before Vapi said what
they cost), in one small JSON file, `spending-<profile>.json` in the state directory.

One write both adds a call and takes it off the open list (a temporary file on the disk
before it is renamed over the old: a crash or a power cut leaves the old file or the new,
never half or none of one), so a crash between the two can never count a call twice. The
file is readable by the daemon's user alone: an open call's id is a bearer secret while the
call lasts. A file from another day counts as zero (its open calls are kept: counted today,
once Vapi says what they cost, and one a power cut left in progress still ended). One that
exists but cannot be read as totals (garbage, cut short, empty, a field of the wrong type,
no permission, a directory in its place) is `Unreadable`: what was spent today is then
unknown (`day_store.py`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import pwd
import time
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


class Unreadable(Exception):
    """The day's file is there but holds no totals this daemon can read: `why`, and `fix`
    (what the operator does about it); `open`, the open calls it names all the same (a
    power cut's call, in a file dated after a clock that booted behind: still ended)."""

    def __init__(self, path: Path, why: str, fix: str, open: list[OpenCall] | None = None
                 ) -> None:
        super().__init__(f"{path}: {why}")
        self.path, self.why, self.fix, self.open = path, why, fix, open or []


def _user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # (a uid with no name: DynamicUser=)
        return str(os.getuid())


def _refused(path: Path, exc: OSError) -> Unreadable:
    why = exc.strerror or exc.__class__.__name__
    if isinstance(exc, IsADirectoryError):
        return Unreadable(path, "a directory, not the totals' file",
                          "remove that directory (rmdir): the totals go there")
    if isinstance(exc, PermissionError):
        return Unreadable(path, why, f"give it back to the daemon's user (chown {_user()} and "
                                     f"chmod 600 it)")
    return Unreadable(path, why, "check it and its file system")


def _is_day(value: object) -> bool:
    try:
        return isinstance(value, str) and len(value) == 10 and \
            dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def load(path: Path, today: str) -> Totals:
    """Today's totals from `path` (zero when there is none, or it is another day's);
    `Unreadable` when it is there but cannot be read as totals."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return Totals(today)
    except OSError as exc:
        raise _refused(path, exc) from exc
    fix = ("see today's calls in Vapi's dashboard, then mend the file, or remove it to count "
           "today from zero")
    try:
        data = json.loads(raw[:MAX_FILE_BYTES])
    except ValueError as exc:
        raise Unreadable(path, f"not JSON: {str(exc)[:80]}", fix) from exc
    if not isinstance(data, dict) or not _is_day(data.get("day")):
        raise Unreadable(path, "not the daemon's totals (no \"day\")", fix)
    open_calls = _open_calls(data.get("open"))
    if data["day"] > today:  # (ISO dates: as strings, in their order)
        raise Unreadable(path, f"they are for {data['day']}, after today by this machine's "
                               f"clock ({today})", "set the clock (timedatectl), or remove "
                               "the file to count today from zero", open_calls)
    if data["day"] != today:  # another day's: today starts at zero, its open calls still
        return Totals(today, open=open_calls)  # to look at (a power cut before midnight:
        # the call is ended, and counted, after it)
    calls = data.get("calls", 0)
    minutes, cost = number(data.get("minutes", 0)), number(data.get("cost", 0))
    if minutes is None or cost is None or not isinstance(calls, int) or isinstance(calls, bool) \
            or calls < 0:
        raise Unreadable(path, "minutes, cost or calls not a number ≥ 0", fix, open_calls)
    return Totals(today, minutes, cost, calls, open_calls)


def read(path: Path, today: str) -> Totals:
    """`load`, an unreadable file as zero (for its open calls alone)."""
    try:
        return load(path, today)
    except Unreadable as exc:
        return Totals(today, open=exc.open)


def set_aside(path: Path) -> Path:
    """An unreadable file moved out of the way before it is written over, so what it holds
    is kept for the operator: `spending-X.json.unreadable-<time>` beside it. OSError as is."""
    copy = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
    os.rename(path, copy)
    return copy


def write(path: Path, totals: Totals, *, sync_dir: bool = False) -> None:
    """The file written whole (a temporary file, on the disk before it is renamed over the
    old: a power cut leaves the old file or the new, never an empty one); `sync_dir`: the
    rename on the disk too, before it returns (a failure there ignored: the file is written,
    a power cut would leave the old one). OSError as is (the old file kept whole):
    `day_store.py` keeps what could not be saved."""
    replace_text(path, json.dumps(asdict(totals)) + "\n", private=True)
    if sync_dir:
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
