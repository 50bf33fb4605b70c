"""A long call's `conversation-update` does not hold the event loop while it is parsed.

The call socket parsed every text frame on the loop's thread: a megabyte (a long call's
conversation, which Vapi sends whole each turn) held the loop ~21 ms of its CPU, and the
uplink's frames, the playout's writes and the watchdog waited behind it. A frame of 64 KiB
or more is parsed on a thread of its own now (`bridge.vapi.offloop`), the loop running
meanwhile; the events still arrive in the order sent, and a hostile one is still refused,
never raised.

A real websocket server on loopback sends the frames; the real `CallSocket` reads them. The
bound is the wall-clock gap between two runs of a task that wakes every millisecond, against
the same frame parsed on the loop in the same test (a relative bound: a loaded machine slows
both; the least of five off the loop, the median on it), with the interpreter's switch
interval at 1 ms (5 ms by default): a parser that hands the GIL over at all does so often,
and the loop's gap is then the machine's (or a stretch of the decoder without a point to
hand it over at). The CPU time of the loop's thread was no bound: a loop waiting for the GIL
uses none (a frame with no numbers, whose decoder never ran Python, held the loop 30-45 ms
and its CPU 2 ms).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

import pytest
from websockets.asyncio.server import ServerConnection, serve

from bridge.sim.longcall import padded
from bridge.vapi import messages, safejson
from bridge.vapi.socket import CallSocket

HELD_SHARE = 0.2  # of the gap with the frame parsed on the loop (measured: 0.08-0.13; the
# frame without numbers before the decoder's object hook: 0.30-0.42, its decode's whole run)
ENDED = json.dumps({"type": "status-update", "status": "ended", "endedReason": "x"})


@pytest.fixture(scope="module")
def megabyte() -> str:
    text = padded({"type": "conversation-update", "conversation": []}, 1000, 1)[0]
    assert 0.95 * safejson.MAX_BYTES < len(text) <= safejson.MAX_BYTES
    return text


def numberless() -> str:
    """A megabyte of short objects and strings, no number in it (a hostile frame; or
    `messagesOpenAIFormatted` alone)."""
    unit = {"role": "user", "content": "ok", "name": "a"}
    units = int(0.96 * safejson.MAX_BYTES) // (len(json.dumps(unit)) + 2)
    return json.dumps({"type": "conversation-update", "messagesOpenAIFormatted": [unit] * units})


async def _ticks(worst: list[float], done: asyncio.Event) -> None:
    """The longest wall-clock gap (s) between two runs of a task waking every 1 ms."""
    last = time.perf_counter()
    while not done.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        worst[0], last = max(worst[0], now - last), now


async def _on_loop(text: str) -> float:
    """The loop's worst gap (ms) with `text` parsed on its own thread, as before."""
    done, worst = asyncio.Event(), [0.0]
    ticking = asyncio.create_task(_ticks(worst, done))
    await asyncio.sleep(0.005)
    messages.parse_event(text)
    await asyncio.sleep(0.003)
    done.set()
    await ticking
    return worst[0] * 1000


async def _read(frames: list[str]) -> tuple[list[messages.Event], int, float]:
    """The events the call socket hands over for `frames`, the messages it dropped, and
    the loop's worst gap (ms) between two runs of a 1 ms task meanwhile."""
    got: list[messages.Event] = []
    done = asyncio.Event()

    async def vapi(ws: ServerConnection) -> None:
        for text in frames:
            await ws.send(text)
        await done.wait()

    def on_event(event: messages.Event) -> None:
        got.append(event)
        if event.type == "status-update":
            done.set()

    async with serve(vapi, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        sock = await CallSocket.open(f"ws://127.0.0.1:{port}/call", "test")
        worst = [0.0]
        ticking = asyncio.create_task(_ticks(worst, done))
        receiving = asyncio.create_task(sock.receive(lambda *_: None, on_event))
        await asyncio.wait_for(done.wait(), 20)
        await ticking
        await sock.close()
        await asyncio.wait_for(receiving, 5)
    return got, sock.malformed, worst[0] * 1000


@pytest.mark.parametrize("numbers", [True, False], ids=["conversation", "no-numbers"])
def test_a_megabyte_conversation_update_does_not_hold_the_loop(
        megabyte: str, numbers: bool) -> None:
    text = megabyte if numbers else numberless()
    messages.parse_event(text)  # (the first parse: the heap grows once)
    held: list[float] = []
    before: list[float] = []
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        _held_and_before(text, held, before)
    finally:
        sys.setswitchinterval(switch)
    share = min(held) / statistics.median(before)
    print(f"\nthe loop held {min(held):.1f} ms, {share:.2f} of the frame parsed on it")
    assert share < HELD_SHARE, f"the loop held {min(held):.1f} ms by a parse, {share:.2f} " \
        "of the frame parsed on it"


def _held_and_before(text: str, held: list[float], before: list[float]) -> None:
    for _ in range(5):  # the least of five off the loop (a run whose loop waited for a core
        # is the machine's load, not the parse) against the median on it, each just after
        got, dropped, gap = asyncio.run(_read([text, ENDED]))
        assert [e.type for e in got] == ["conversation-update", "status-update"], \
            "in the order sent"
        assert dropped == 0 and len(got[0].raw["messagesOpenAIFormatted"]) > 1500
        held.append(gap)
        before.append(asyncio.run(_on_loop(text)))


def test_a_hostile_big_frame_is_refused_on_the_parser_thread() -> None:
    """Nested 200,000 deep (400 KB): the parser's thread trusts the decoder's guard, as the
    main thread does, and its stack holds the levels the guard lets through; refused and
    counted, the call goes on to the next frame."""
    deep = "[" * 200_000 + "]" * 200_000
    nan = '{"type": "tool-calls", "pad": "' + "x" * 100_000 + '", "n": NaN}'
    got, dropped, _ = asyncio.run(_read([deep, nan, ENDED]))
    assert [e.type for e in got] == ["status-update"]
    assert dropped == 2
