"""Watching a device stream for the whole call and reopening it when it fails.

The event loop looks at the stream every `POLL_S`, on the grid the call's other pollers share
(`bridge.aio.sleep_on_grid`: both devices and the turns in one wake-up): the stream's
finished callback fired, PortAudio says it is no longer active, the callback raised, or no
callback came for `STALL_S` (the device hangs). The stream is then closed and reopened on a
worker thread, waiting `DEVICE_REOPEN`'s delay before each attempt, up to its `attempts` in
a row; a stream that runs `SETTLE_S` after a reopen starts a new series. When a series
fails, `run()` raises `AudioDeviceError` and the call ends with that reason. Overflows and
underflows are logged at most every `XRUN_REPORT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from bridge.aio import POLL_GRID_S, sleep_on_grid
from bridge.audio.base import DeviceStats
from bridge.errors import AudioDeviceError
from bridge.retry import DEVICE_REOPEN
from bridge.words import plural

log = logging.getLogger("bridge.devices")

POLL_S = POLL_GRID_S  # how often the event loop looks at a stream's health (on the grid:
# both devices in one wake-up, not 10 a second each at unrelated phases)
STALL_S = 2.0  # no callback for this long: the device hangs
REOPEN = DEVICE_REOPEN
REOPEN_ATTEMPTS = REOPEN.attempts  # in a row
SETTLE_S = 5.0  # a stream that runs this long after a reopen resets the count
XRUN_REPORT_S = 2.0  # overflows/underflows are logged at most this often
REOPEN_TIMEOUT_S = 5.0  # a reopen that takes longer counts as failed

T = TypeVar("T")


class Watched(Protocol):
    """What the supervisor needs of a device stream."""

    role: str
    name: str
    xrun_name: str
    stats: DeviceStats
    callbacks: int  # bumped by every audio callback

    @property
    def xruns(self) -> int: ...

    def problem(self) -> str | None: ...

    def reopen(self) -> None: ...


async def _in_thread(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run a blocking PortAudio call on a daemon thread (a hung device must not freeze the
    event loop, nor keep the process from exiting)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if not fut.done():
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def run() -> None:
        try:
            result: Any = (True, fn())
        except BaseException as exc:  # handed to the event loop
            result = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            loop.call_soon_threadsafe(deliver, *result)

    threading.Thread(target=run, name=f"portaudio-{what}", daemon=True).start()
    try:
        async with asyncio.timeout(timeout):
            return await fut
    except TimeoutError:
        raise AudioDeviceError(f"{what} did not finish within {timeout:.0f} s") from None


class StreamSupervisor:
    """The event loop's watch over one device stream (all state is the event loop's)."""

    def __init__(self, stream: Watched) -> None:
        self.stream = stream
        self._seen_callbacks = -1
        self._seen_at = 0.0
        self._attempts = 0
        self._reopened_at = 0.0
        self.failure: str | None = None  # why the device was given up

    def restart_stall_clock(self) -> None:
        """A new stream: its first callback may take a moment."""
        self._seen_callbacks, self._seen_at = -1, time.monotonic()

    def problem(self) -> str | None:
        """Why the stream is not delivering audio, or None while it is healthy."""
        why = self.stream.problem()
        if why is not None:
            return why
        now = time.monotonic()
        count = self.stream.callbacks
        if count != self._seen_callbacks:
            self._seen_callbacks, self._seen_at = count, now
        elif now - self._seen_at > STALL_S:
            return f"no audio for {now - self._seen_at:.1f} s"
        return None

    async def run(self) -> None:
        """Watch until cancelled; raises AudioDeviceError when reopening keeps failing."""
        s = self.stream
        self.restart_stall_clock()
        xruns, reported_at = s.xruns, time.monotonic()
        while True:
            await sleep_on_grid(POLL_S)
            why = self.problem()
            if why is not None:
                await self._recover(why)
            now = time.monotonic()
            if now - reported_at >= XRUN_REPORT_S and s.xruns > xruns:
                log.info("%s %s: %s in the last %.0f s", s.role, s.name,
                         plural(s.xruns - xruns, "PortAudio " + s.xrun_name[:-1]),
                         now - reported_at)
                xruns, reported_at = s.xruns, now

    async def _recover(self, why: str) -> None:
        s = self.stream
        if time.monotonic() - self._reopened_at > SETTLE_S:
            self._attempts = 0  # the last reopen held: a new failure starts a new series
        log.warning("%s %s: %s; reopening it", s.role, s.name, why)
        last = why
        while self._attempts < REOPEN_ATTEMPTS:
            await asyncio.sleep(REOPEN.delay(self._attempts + 1))
            self._attempts += 1
            s.stats.reopen_attempts += 1
            try:
                await _in_thread(s.reopen, REOPEN_TIMEOUT_S, f"reopening the {s.role}")
            except Exception as exc:
                last = str(exc) or exc.__class__.__name__
                log.warning("%s %s: reopen attempt %d of %d failed: %s", s.role, s.name,
                            self._attempts, REOPEN_ATTEMPTS, last)
                continue
            s.stats.reopens += 1
            self._reopened_at = time.monotonic()
            self._seen_callbacks, self._seen_at = -1, self._reopened_at
            self.failure = None
            log.warning("%s %s: reopened (attempt %d of %d)", s.role, s.name,
                        self._attempts, REOPEN_ATTEMPTS)
            return
        self.failure = (f"{s.role} lost: {s.name}: {why}; "
                        f"{plural(REOPEN_ATTEMPTS, 'reopen attempt')} failed ({last})")
        raise AudioDeviceError(self.failure)
