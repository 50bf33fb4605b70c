"""The day's totals as the spending guard counts them: the file (`day_totals.py`), and what
this daemon counted that the file could not take (a full disk, a read-only state
directory, a file size limit). A call's count never rests on the write succeeding.

While writes fail, the totals written last are kept in memory and each read counts from
the larger of them and the file, their open calls joined (less those this daemon counted),
so the daily limits hold, and the calls left open are still counted at their end, while
the daemon runs. One warning says so, naming the cause and the fix; the next write that
works (a call counted, one placed, `retry`) puts all of it in the file, and says so. A
write that works hands the totals back to the file: an operator may then remove it to
lift a limit.

A daemon that has not saved the totals once since it started (`saved` false, `failed`
set) cannot know what an earlier run counted but could not save: `spending.py` refuses
calls then, a limit being set.

A file that is there but cannot be read (`day_totals.Unreadable`: garbage, cut short, no
permission, a directory) leaves what was spent today unknown too (`unreadable`, set by each
read): a limit set, it is never written over (what this daemon counts is kept in memory
until the operator mends or removes it, and `spending.py` refuses calls meanwhile); without
a limit, one warning, today counted from zero, and the file is moved aside (kept, for the
operator) by the next write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

from bridge.profile.statedir import save_fix
from bridge.service import day_totals
from bridge.service.day_totals import MAX_FILE_BYTES, MAX_OPEN, Totals, Unreadable
from bridge.words import plural

log = logging.getLogger("bridge.spending")
_WRITER = ThreadPoolExecutor(1, thread_name_prefix="day-totals")  # (`write_soon`)


def joined(file: Totals, kept: Totals, counted: set[str]) -> Totals:
    """`file`'s day, each total the larger, `kept`'s open calls then the file's others (less
    the `counted`: taken off the list in memory, still on it in the file)."""
    if kept.day != file.day:  # counted yesterday, unsaved: only its open calls carry over
        kept = Totals(file.day, open=kept.open)
    ids = {entry.id for entry in kept.open}
    others = [e for e in file.open if e.id not in ids and e.id not in counted]
    return Totals(file.day, max(file.minutes, kept.minutes), max(file.cost, kept.cost),
                  max(file.calls, kept.calls), [*kept.open, *others][-MAX_OPEN:])


class DayStore:
    """`path()` is the profile's file now (a reload may rename the profile)."""

    def __init__(self, path: Callable[[], Path], today: Callable[[], str],
                 limited: Callable[[], bool] = lambda: False) -> None:
        self.path, self.today, self.limited = path, today, limited
        self.unreadable: Unreadable | None = None  # the last read's trouble
        self._said: Path | None = None  # the unreadable file a warning was logged for
        self.saved = False  # a write has worked since the daemon started
        self.failed: OSError | None = None  # the last write's failure (None: it worked)
        self._kept: Totals | None = None  # the totals the file could not take
        self._kept_in: Path | None = None  # the file they were for
        self._counted: set[str] = set()  # calls taken off the open list the file still has
        self._pending: tuple[Path, Totals, Future[None]] | None = None  # (`write_soon`)

    def read(self) -> Totals:
        if self._pending is not None and not self._pending[2].done():  # (being written)
            totals = self._pending[1]
            return replace(totals, open=list(totals.open))
        self.settle()
        path = self.path()
        try:
            file = day_totals.load(path, self.today())
            self.unreadable = None
        except Unreadable as exc:
            file = Totals(self.today(), open=exc.open)  # (a power cut's call: still ended)
            self.unreadable = exc
            if not self.limited() and self._said != path:  # (a limit: `spending.py` says it)
                self._said = path
                log.warning("spending totals %s cannot be read (%s): counting today from zero "
                            "(no daily limit is set; the file is kept, renamed, at the next "
                            "write) — %s", path, exc.why, exc.fix)
        if self._kept is None or self._kept_in != path:
            return file
        return joined(file, self._kept, self._counted)

    def write(self, totals: Totals) -> bool:
        """`totals` saved (True), else kept in memory, the trouble said once."""
        self.settle()
        path = self.path()
        if not self._may_write(path, totals):
            return False
        try:
            day_totals.write(path, totals)
        except OSError as exc:
            return self._written(path, totals, exc)
        return self._written(path, totals, None)

    def write_soon(self, totals: Totals) -> None:
        """`write`, its file's I/O in a worker thread (for the write made as a call's audio
        starts: an fsync takes ms, tens on an SD card, and the call's start waits for none).
        Until it is done, a read gives `totals` and a write waits for it."""
        self.settle()
        path = self.path()
        if self._may_write(path, totals):
            self._pending = (path, totals, _WRITER.submit(day_totals.write, path, totals,
                                                          sync_dir=True))
            self._pending[2].add_done_callback(partial(self._done, asyncio.get_running_loop()))

    def _done(self, loop: asyncio.AbstractEventLoop, _: object) -> None:  # (worker thread)
        with contextlib.suppress(RuntimeError):  # (the loop closed meanwhile)
            loop.call_soon_threadsafe(self.settle, False)

    def settle(self, wait: bool = True) -> None:
        """The write in the worker thread, if any (and done, or `wait`), its outcome taken."""
        if self._pending is not None and (wait or self._pending[2].done()):
            (path, totals, future), self._pending = self._pending, None
            exc = future.exception()
            self._written(path, totals, exc if isinstance(exc, OSError) else None)
            if exc is not None and not isinstance(exc, OSError):
                raise exc

    def _may_write(self, path: Path, totals: Totals) -> bool:
        """Whether `path` may be written over (an unreadable file: not under a limit, kept
        in memory instead; else set aside first)."""
        try:
            day_totals.load(path, totals.day)
        except Unreadable as exc:
            if self.limited():  # never written over: kept, unread, for the operator
                self._keep(path, totals)
                return False
            with contextlib.suppress(OSError):  # (else written over, if it can be)
                log.warning("spending totals %s cannot be read (%s): kept as %s, today counted "
                            "from zero", path, exc.why, day_totals.set_aside(path))
        return True

    def _written(self, path: Path, totals: Totals, exc: OSError | None) -> bool:
        """A write's outcome: saved (True), or `totals` kept in memory, the trouble said."""
        if exc is not None:
            self._keep(path, totals)
            if self.failed is None:
                log.warning("cannot save the spending totals to %s (%s): today's calls are "
                            "counted in memory until it can be, so the daily limits hold "
                            "while the daemon runs but not across a restart (which places no "
                            "call while a limit is set and they cannot be saved) — %s", path,
                            exc.strerror or exc, save_fix(path, exc))
            self.failed = exc
            return False
        if self.failed is not None:
            log.warning("the spending totals are saved to %s again (today: %.1f min, $%.4f, "
                        "%s)", path, totals.minutes, totals.cost, plural(totals.calls, "call"))
        self.saved, self.failed = True, None
        self._kept = self._kept_in = None
        self._counted = set()
        return True

    def _keep(self, path: Path, totals: Totals) -> None:
        """`totals`, which `path` could not take, kept in memory (read joined with it)."""
        in_file = {e.id for e in day_totals.read(path, totals.day).open}
        before = self._counted if self._kept_in == path else set()
        self._counted = (before | in_file) - {e.id for e in totals.open}
        self._kept, self._kept_in = totals, path

    def retry(self) -> bool:
        """The totals written again unless the last write, since the start, worked: whether
        they are saved."""
        return (self.saved and self.failed is None) or self.write(self.read())


def room(path: Path) -> OSError | None:
    """Why the day's file could not be written now, or None: a temporary file as large as it
    grows, in its directory (the nearest one that exists), written and removed. For `check`,
    which must not write the file a running daemon writes."""
    where = path.parent
    while not where.is_dir() and where != where.parent:
        where = where.parent
    try:
        with tempfile.TemporaryFile(dir=where) as f:
            f.write(bytes(MAX_FILE_BYTES))
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return exc
    return None
