"""A call's events when nobody reads them: the newest kept, within a count and within the
bytes of the messages they came from (before, 1000 events of any size: a script that never
read `call.events()` grew to 788 MiB against 30 one-megabyte messages)."""

from __future__ import annotations

import asyncio

from bridge.call.eventqueue import QUEUE_BYTES, QUEUE_SIZE, EventQueue
from bridge.vapi.messages import UnknownEvent


def drained(queue: EventQueue) -> list[int]:
    async def read() -> list[int]:
        return [int(e.raw["n"]) async for e in queue.events()]

    return asyncio.run(read())


def test_big_messages_unread_are_kept_within_the_byte_bound() -> None:
    queue = EventQueue()
    for n in range(30):
        queue.push(UnknownEvent("conversation-update", {"n": n}), 2**20)
    queue.push(None)
    kept = drained(queue)
    assert kept == list(range(30 - QUEUE_BYTES // 2**20, 30)), kept


def test_small_messages_unread_are_kept_within_the_count() -> None:
    queue = EventQueue()
    for n in range(QUEUE_SIZE + 500):
        queue.push(UnknownEvent("model-output", {"n": n}), 200)
    queue.push(None)
    kept = drained(queue)
    assert len(kept) == QUEUE_SIZE - 1 and kept[-1] == QUEUE_SIZE + 499, (len(kept), kept[-1])
