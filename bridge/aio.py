"""Small asyncio helpers the call and the daemon share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


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
