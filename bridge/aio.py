"""Small asyncio helpers the call and the daemon share."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Coroutine
from typing import Any

POLL_GRID_S = 0.1  # the call's pollers' shared grid (`sleep_on_grid`): each polls at a
# multiple of it


async def wait_any(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Until one of `events` is set or `timeout` seconds pass. Every waiter is cancelled
    and collected before this returns (or is cancelled): none is left pending."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


@contextlib.asynccontextmanager
async def beside(job: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Run `job` as a task while the block runs; cancelled and collected as it ends."""
    task = asyncio.create_task(job, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def after(tasks: tuple[asyncio.Task[Any], ...], job: Coroutine[Any, Any, None]) -> None:
    """`job` once `tasks` are done (however they end)."""
    await asyncio.gather(*tasks, return_exceptions=True)
    await job


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def sleep_on_grid(period: float) -> None:
    """Sleep until the next multiple of `period` on the event loop's clock that is at least
    half a period away (0.5-1.5 periods). Pollers whose periods are multiples of one grid (a
    call's two device supervisors and its turns: `POLL_GRID_S`) wake in one turn of the
    loop: each on its own `asyncio.sleep`, they woke it 24 times a second in a call, about
    14 of them a wake-up of their own besides the audio's (benchmarks/process_cpu.py)."""
    loop = asyncio.get_running_loop()
    # (periods 0.1 and 0.2 may give floats a rounding apart for one instant: asyncio runs
    # every timer due within its clock's resolution in the same pass)
    due = (math.floor(loop.time() / period + 0.5) + 1) * period
    fut = loop.create_future()
    handle = loop.call_at(due, _wake, fut)
    try:
        await fut
    finally:
        handle.cancel()
