"""A call's server events handed to whoever reads them, without ever blocking the socket:
a bounded queue that, when nobody reads, keeps the newest.

Bounded twice: `QUEUE_SIZE` events, and `QUEUE_BYTES` of the messages they were parsed
from. An event keeps its whole message (`Event.raw`), and a megabyte of JSON can parse to
twenty-five of Python objects: a script that never reads `call.events()`, against a
server sending big messages, grew to 788 MiB after 30 of them (counted only, before)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from bridge.vapi.messages import Event

QUEUE_SIZE = 1000
QUEUE_BYTES = 4 * 2**20  # of the messages' text: a hundred conversation-updates and more


class EventQueue:
    def __init__(self, size: int = QUEUE_SIZE, max_bytes: int = QUEUE_BYTES) -> None:
        self._queue: asyncio.Queue[tuple[Event | None, int]] = asyncio.Queue(maxsize=size)
        self._bytes, self._max_bytes = 0, max_bytes
        self._over = False  # the end was read: every later reader ends at once too

    def push(self, event: Event | None, size: int = 0) -> None:
        """`event` (parsed from `size` bytes), or None: the call is over."""
        while not self._queue.empty() and (self._queue.full() or
                                           self._bytes + size > self._max_bytes):
            self._take_nowait()  # nobody is reading events: keep the newest
        self._bytes += size
        self._queue.put_nowait((event, size))

    def _take_nowait(self) -> Event | None:
        with contextlib.suppress(asyncio.QueueEmpty):
            event, size = self._queue.get_nowait()
            self._bytes -= size
            return event
        return None

    async def events(self) -> AsyncIterator[Event]:
        """Every event pushed (but those dropped unread), until the end. A second reader,
        after a loop that broke out and the call ended meanwhile, gets what is left and the
        end (it waited for ever: the one end marker was the first reader's)."""
        while not (self._over and self._queue.empty()):
            event, size = await self._queue.get()
            self._bytes -= size
            if event is None:
                self._over = True
                return
            yield event
