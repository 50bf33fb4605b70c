"""What parsing one of Vapi's text frames costs the call: how long the event loop is held
(the uplink's frames, the playout's writes and the watchdog wait behind it), and how long
another Python thread (a PortAudio callback: the speaker's, the microphone's) is kept from
running meanwhile, since it needs the GIL.

The frame is a long call's `conversation-update` (the simulator's `long-history` fault: Vapi
sends the whole conversation each turn, in two shapes, times included), at each size, read
as the call socket reads it. On the loop a task wakes every millisecond and notes how late
it ran; a thread does the same, as a device callback would. For each size, the least and
the median over the runs of: the loop's worst lateness (`loop held`), the thread's
(`thread held off`), the parse's wall time, and the loop thread's CPU over it:

- off loop: `offloop.parse_event`, what the call socket does now: a frame of 64 KiB or
  more parsed on a thread of its own, awaited;
- on loop: `messages.parse_event` on the loop's thread, as before.

Lateness is wall time: what the machine's load makes of it too (the load average is
printed first).

    .venv/bin/python benchmarks/parse_cost.py [--runs 15] [--sizes 64,256,1000]
        [--shape conversation|objects|strings]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.sim.longcall import padded
from bridge.vapi import messages, offloop

TICK_S = 0.001


def frame(kib: int, shape: str = "conversation") -> str:
    """`conversation`: the long call's; `objects`: short objects and strings, no number in
    them (a hostile frame; the decoder runs no number hook); `strings`: an array of bare
    strings (no object either)."""
    if shape == "conversation":
        return padded({"type": "conversation-update", "conversation": []}, kib, 1)[0]
    unit: Any = {"role": "user", "content": "ok", "name": "a"} if shape == "objects" else "ok"
    units = kib * 1024 // (len(json.dumps(unit)) + 2)
    return json.dumps({"type": "conversation-update", "messagesOpenAIFormatted": [unit] * units})


async def on_loop(text: str) -> Any:
    return messages.parse_event(text)


async def once(parse: Callable[[str], Awaitable[Any]], text: str
               ) -> tuple[float, float, float, float]:
    """(the loop's worst lateness, the ticking thread's, the parse's wall time, the loop
    thread's CPU over it), in ms."""
    stop, late = threading.Event(), {"loop": 0.0, "thread": 0.0}

    def tick() -> None:
        due = time.perf_counter()
        while not stop.is_set():
            due += TICK_S
            time.sleep(max(0.0, due - time.perf_counter()))
            now = time.perf_counter()
            late["thread"] = max(late["thread"], now - due)
            due = max(due, now)  # late once, not again for each tick missed

    async def loop_tick() -> None:
        due = time.perf_counter()
        while not stop.is_set():
            due += TICK_S
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            now = time.perf_counter()
            late["loop"] = max(late["loop"], now - due)
            due = max(due, now)

    ticker = threading.Thread(target=tick)
    ticker.start()
    looper = asyncio.create_task(loop_tick())
    await asyncio.sleep(0.02)
    late["loop"] = late["thread"] = 0.0
    start, cpu = time.perf_counter(), time.thread_time()
    event = await parse(text)
    took, cpu = time.perf_counter() - start, time.thread_time() - cpu
    await asyncio.sleep(0.005)
    stop.set()
    await looper
    ticker.join()
    assert isinstance(event, messages.UnknownEvent), event
    return late["loop"] * 1000, late["thread"] * 1000, took * 1000, cpu * 1000


async def measure(args: argparse.Namespace) -> None:
    print(f"load average {os.getloadavg()[0]:.1f}; {args.runs} runs each, interleaved; ms: "
          "least / median")
    print(f"{'frame':>12}  {'':8}  {'loop held':>13}  {'thread held off':>15}  "
          f"{'parse wall':>13}  {'loop CPU':>13}")
    for kib in map(int, args.sizes.split(",")):
        text = frame(kib, args.shape)
        got: dict[str, list[tuple[float, float, float, float]]] = {
            "off loop": [], "on loop": []}
        for _ in range(args.runs):
            got["off loop"].append(await once(offloop.parse_event, text))
            got["on loop"].append(await once(on_loop, text))
        for name, runs in got.items():
            print(f"{len(text) / 1024:8.0f} KiB  {name:8}", *(
                f"{min(x):5.1f} / {statistics.median(x):5.1f}".rjust(w)
                for x, w in zip(zip(*runs, strict=True), (13, 15, 13, 13), strict=True)),
                sep="  ")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--sizes", default="64,256,1000", help="KiB, comma-separated")
    ap.add_argument("--shape", default="conversation",
                    choices=("conversation", "objects", "strings"), help=frame.__doc__)
    asyncio.run(measure(ap.parse_args()))


if __name__ == "__main__":
    main()
