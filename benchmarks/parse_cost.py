"""What parsing one of Vapi's text frames costs the call: the event loop's time, and how long
another Python thread (a PortAudio callback: the speaker's, the microphone's) is kept from
running meanwhile, since it needs the GIL.

The frame is a long call's `conversation-update` (the simulator's `long-history` fault: Vapi
sends the whole conversation each turn, in two shapes, times included), at each size. A
thread wakes every millisecond, as a callback would, and notes how late it ran; the parse
runs on the main thread meanwhile. For each size, the least and the median over the runs
of: the parse's CPU time and wall time, the thread's worst lateness (wall time: what the
machine's load makes of it too), and the most CPU the parse spent between two of the
thread's runs (the work the thread waited behind, whatever the load):

- now: `safejson.loads` (parse, then a walk of the value for the depth bound);
- before: the depth read from the text first (string literals removed by a regular
  expression, which holds the GIL for its whole run), then the same parse (re-enacted here).

    .venv/bin/python benchmarks/parse_cost.py [--runs 15] [--sizes 64,256,512,1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from bridge.sim.longcall import padded
from bridge.vapi import messages, safejson


def before(text: str) -> Any:
    """The old check: the text's depth (regex, numpy), then the parse."""
    if text.count("[") + text.count("{") > safejson.MAX_DEPTH:
        safejson.nesting(text)
    return json.loads(text, parse_constant=safejson._not_json, parse_float=safejson._finite,
                      parse_int=safejson._integer)


def frame(kib: int) -> str:
    return padded({"type": "conversation-update", "conversation": []}, kib, 1)[0]


def once(parse: Callable[[str], Any], text: str) -> tuple[float, float, float, float]:
    """(the parse's CPU time, its wall time, the ticking thread's worst lateness, the most
    CPU the parse spent between two of its runs), in ms."""
    parser = time.pthread_getcpuclockid(threading.get_ident())
    stop, late, behind = threading.Event(), [0.0], [0.0]

    def tick() -> None:
        due, last = time.perf_counter(), time.clock_gettime(parser)
        while not stop.is_set():
            due += 0.001
            time.sleep(max(0.0, due - time.perf_counter()))
            now, cpu = time.perf_counter(), time.clock_gettime(parser)
            late[0], behind[0] = max(late[0], now - due), max(behind[0], cpu - last)
            due, last = max(due, now), cpu  # late once, not again for each tick missed

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.02)
    late[0] = behind[0] = 0.0
    start, cpu = time.perf_counter(), time.thread_time()
    parse(text)
    took, cpu = time.perf_counter() - start, time.thread_time() - cpu
    time.sleep(0.005)
    stop.set()
    ticker.join()
    return cpu * 1000, took * 1000, late[0] * 1000, behind[0] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--sizes", default="64,256,512,1000", help="KiB, comma-separated")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; {args.runs} runs each, interleaved; ms: "
          "least / median")
    print(f"{'frame':>12}  {'':6}  {'loop CPU':>13}  {'loop wall':>13}  "
          f"{'thread held off':>15}  {'... behind CPU':>14}")
    for kib in map(int, args.sizes.split(",")):
        text = frame(kib)
        assert isinstance(messages.parse_event(text), messages.UnknownEvent)
        got: dict[str, list[tuple[float, float, float, float]]] = {"now": [], "before": []}
        for _ in range(args.runs):
            got["now"].append(once(safejson.loads, text))
            got["before"].append(once(before, text))
        for name, runs in got.items():
            print(f"{len(text) / 1024:8.0f} KiB  {name:6}", *(
                f"{min(x):5.1f} / {statistics.median(x):5.1f}".rjust(w)
                for x, w in zip(zip(*runs, strict=True), (13, 13, 15, 14), strict=True)), sep="  ")


if __name__ == "__main__":
    main()
