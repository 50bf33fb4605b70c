"""A long call's `conversation-update` does not hold the event loop while it is parsed.

The call socket parsed every text frame on the loop's thread: a megabyte (a long call's
conversation, which Vapi sends whole each turn) held the loop ~21 ms of its CPU, and the
uplink's frames, the playout's writes and the watchdog waited behind it. A frame of 64 KiB
or more is parsed on a thread of its own now (`bridge.vapi.offloop`), the loop running
meanwhile; the events still arrive in the order sent, and a hostile one is still refused,
never raised.

A real websocket server on loopback sends the frames; the real `CallSocket` reads them. The
bound is the loop thread's own CPU between two runs of a task that wakes every millisecond:
the work the loop's other tasks waited behind, whatever the machine's load made of it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from websockets.asyncio.server import ServerConnection, serve

from bridge.sim.longcall import padded
from bridge.vapi import messages, safejson
from bridge.vapi.socket import CallSocket

HELD_MS = 5.0  # the loop's CPU between two of its 1 ms task's runs (on the loop: 15-23 ms)
ENDED = json.dumps({"type": "status-update", "status": "ended", "endedReason": "x"})


@pytest.fixture(scope="module")
def megabyte() -> str:
    text = padded({"type": "conversation-update", "conversation": []}, 1000, 1)[0]
    assert 0.95 * safejson.MAX_BYTES < len(text) <= safejson.MAX_BYTES
    return text


async def _read(frames: list[str]) -> tuple[list[messages.Event], int, float]:
    """The events the call socket hands over for `frames`, the messages it dropped, and
    the most CPU (ms) the loop's thread spent between two runs of a 1 ms task meanwhile."""
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

    async def ticks(worst: list[float]) -> None:
        clock = time.pthread_getcpuclockid(threading.get_ident())
        last = time.clock_gettime(clock)
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.clock_gettime(clock)
            worst[0], last = max(worst[0], now - last), now

    async with serve(vapi, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        sock = await CallSocket.open(f"ws://127.0.0.1:{port}/call", "test")
        worst = [0.0]
        ticking = asyncio.create_task(ticks(worst))
        receiving = asyncio.create_task(sock.receive(lambda *_: None, on_event))
        await asyncio.wait_for(done.wait(), 20)
        await ticking
        await sock.close()
        await asyncio.wait_for(receiving, 5)
    return got, sock.malformed, worst[0] * 1000


def test_a_megabyte_conversation_update_does_not_hold_the_loop(megabyte: str) -> None:
    messages.parse_event(megabyte)  # (the first parse: the heap grows once)
    best = float("inf")
    for _ in range(3):  # the best of three: a run whose loop waited for a core is the machine's
        got, dropped, held = asyncio.run(_read([megabyte, ENDED]))
        assert [e.type for e in got] == ["conversation-update", "status-update"], \
            "in the order sent"
        assert dropped == 0 and len(got[0].raw["messages"]) > 1500
        best = min(best, held)
    print(f"\nthe loop's thread spent at most {best:.1f} ms between two runs of its task")
    assert best < HELD_MS, f"the loop held {best:.1f} ms of its CPU by a parse"


def test_a_hostile_big_frame_is_refused_on_the_parser_thread() -> None:
    """Nested 200,000 deep (400 KB): the parser's thread trusts the decoder's guard, as the
    main thread does, and its stack holds the levels the guard lets through; refused and
    counted, the call goes on to the next frame."""
    deep = "[" * 200_000 + "]" * 200_000
    nan = '{"type": "tool-calls", "pad": "' + "x" * 100_000 + '", "n": NaN}'
    got, dropped, _ = asyncio.run(_read([deep, nan, ENDED]))
    assert [e.type for e in got] == ["status-update"]
    assert dropped == 2
