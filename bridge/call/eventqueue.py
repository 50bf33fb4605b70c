"""A call's server events handed to whoever reads them, without ever blocking the socket:
a bounded queue that, when nobody reads, keeps the newest."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from bridge.vapi.messages import Event

QUEUE_SIZE = 1000


class EventQueue:
    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=size)

    def push(self, event: Event | None) -> None:
        """`event`, or None: the call is over."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:  # nobody is reading events: keep the newest
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[Event]:
        """Every event pushed, until the end."""
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event
