"""What one 20 ms frame's audio work costs when the thread slept before it, against a hot loop.

The live bridge does each frame's work once per 20 ms and sleeps in between. On a machine
whose core idles in that time (and whose caches other processes use meanwhile), the same
calls cost several times what a benchmark's tight loop says. This measures it: each step,
on the thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID, not the wall clock), back to back
and after an idle gap of 1, 5 and 20 ms, median and p90 of `--reps` calls per gap.

Steps (the bridge's own classes, 48 kHz device, pcm_s16le 16 kHz wire):
  uplink     resample 20 ms 48 k → 16 k (minimum-phase FIR), encode
  downlink   decode 20 ms of wire, resample 16 k → 48 k, playout write and one device pull
  echo gate  one tick of `EchoGate`: 20 ms of far end and of its echo alone (10 ms later,
             -10 dB), the path locked, the visitor quiet
  python     a plain Python function of about 60 bytecodes (no numpy): the interpreter alone

    .venv/bin/python benchmarks/wake_cost.py [--reps 300]

Why it matters (issue 16): `benchmarks/process_cpu.py` reads the bridge's whole process
during a call; its event-loop thread spends about 200-300 µs per wake-up on work that a
tight loop does in 10-30 µs. The gap column at 20 ms is what the live path pays.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.audio.codec import PcmS16leCodec  # noqa: E402
from bridge.audio.echo_gate import EchoGate  # noqa: E402
from bridge.audio.playout import PlayoutBuffer  # noqa: E402
from bridge.audio.resample import Resampler  # noqa: E402

DEVICE, WIRE = 48000, 16000
GAPS_MS = (0, 1, 5, 20)


def steps() -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(1)
    mic = (rng.standard_normal(DEVICE // 50) * 3000).astype(np.int16)
    codec = PcmS16leCodec()
    up = Resampler(DEVICE, WIRE, minimum_phase=True)
    down = Resampler(WIRE, DEVICE)
    wire = codec.encode((rng.standard_normal(WIRE // 50) * 3000).astype(np.int16))
    playout = PlayoutBuffer(DEVICE)
    out = np.zeros(DEVICE // 50, dtype=np.int16)
    gate = EchoGate(DEVICE)
    block = DEVICE // 50
    far_end = (rng.standard_normal(DEVICE * 5) * 3000).astype(np.int16)  # 5 s, cycled
    echo_at = np.roll(far_end, DEVICE // 100) * 0.3  # the far end 10 ms later, -10 dB
    near_end = echo_at.astype(np.int16)
    at = 0

    def echo() -> object:  # one tick of echo alone, the path locked (the quiet visitor)
        nonlocal at
        i, at = at, (at + block) % len(far_end)
        gate.far(far_end[i:i + block])
        return gate.near(near_end[i:i + block])

    for _ in range(100):  # two seconds of echo: the path locks
        echo()
    assert gate.path.lag is not None, "the echo path did not lock"

    def uplink() -> object:
        return codec.encode(up.process(mic))

    def downlink() -> object:
        playout.write(down.process(codec.decode(wire)))
        playout.read_into(out, None)
        return out

    def python() -> object:
        total, seen = 0, {}
        for i in range(12):
            seen[i & 3] = seen.get(i & 3, 0) + i
            total += i if i % 3 else -i
        return total, seen

    return {"uplink": uplink, "downlink": downlink, "echo gate": echo, "python": python}


def measure(step: Callable[[], object], gap_s: float, reps: int) -> list[float]:
    clock = time.thread_time_ns
    took = []
    for _ in range(reps):
        if gap_s:
            time.sleep(gap_s)
        t0 = clock()
        step()
        took.append((clock() - t0) / 1000)
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300, help="calls per step and gap")
    args = ap.parse_args()
    table = steps()
    for step in table.values():  # warm: imports, caches, first allocations
        measure(step, 0, 50)
    print("CPU of one step, µs on the thread's own clock: median / p90 of "
          f"{args.reps} calls, back to back and after an idle gap")
    print(f"{'step':<10}" + "".join(f"{f'gap {g} ms':>18}" for g in GAPS_MS)
          + f"{'20 ms / hot':>13}")
    for name, step in table.items():
        cells, medians = [], []
        for gap in GAPS_MS:
            took = measure(step, gap / 1000, args.reps)
            med = statistics.median(took)
            medians.append(med)
            cells.append(f"{med:8.1f} / {np.percentile(took, 90):6.1f}")
        print(f"{name:<10}" + "".join(f"{c:>18}" for c in cells)
              + f"{medians[-1] / medians[0]:>12.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
