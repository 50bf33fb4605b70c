"""Barge-in: what a backchannel costs, and how fast a real interruption silences.

Runs the PulseAudio-rig barge-in test (tests/devices/test_barge_in.py: the visitor says
"okay" over the greeting, then later talks over a long line) N times and prints, per run
and as median / max: how much of the greeting's speech never played (0: no flush), the
time from `user-interrupted` to silence in the speaker's recording, the device's own
output latency, and the bridge's part (the difference), against one device block plus
the fade.

    .venv/bin/python benchmarks/bargein.py [--runs 3]

Exits 1 when a run's test failed (its figures are printed, marked FAIL, but are not ones
to quote), 0 when every run passed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/devices/test_barge_in.py::test_okay_over_the_greeting_then_a_real_interruption"
GREETING = re.compile(r"line 0: \d+ ms of speech sent, (\d+) ms lost")
LINE = re.compile(r"speaker silent (\d+) ms after user-interrupted; PortAudio output latency "
                  r"(\d+) ms; the bridge's part (-?\d+) ms")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for _ in range(args.runs):
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p",
                              "no:cacheprovider", TEST],
                             cwd=ROOT, capture_output=True, text=True, check=False)
        out = run.stdout
        m, g = LINE.search(out), GREETING.search(out)
        if not g:
            raise SystemExit(f"the barge-in run failed:\n{out[-2000:]}")
        times = tuple(int(x) for x in m.groups()) if m else (-1, -1, -1)  # not reached
        rows.append((int(g[1]), *times, run.returncode == 0))
    print("Barge-in: okay over the greeting (speech lost), then user-interrupted → silence at "
          "the speaker (20 ms blocks, 8 ms fade)")
    print(f"{'run':>3} {'greeting lost':>14} {'to silence':>11} {'device latency':>15} "
          f"{'bridge':>7}  test")
    for i, (lost, total, device, bridge, ok) in enumerate(rows, 1):
        print(f"{i:>3} {lost:>11} ms {total:>8} ms {device:>12} ms {bridge:>4} ms  "
              f"{'pass' if ok else 'FAIL'}")
    print(f"greeting speech lost (the okay came in its middle): max {max(r[0] for r in rows)} ms")
    bridge_ms = [r[3] for r in rows if r[3] >= 0] or [-1]
    print(f"bridge's part: median {statistics.median(bridge_ms):.0f} ms, max "
          f"{max(bridge_ms)} ms (one block + fade = 28 ms)")
    failed = sum(1 for r in rows if not r[4])
    if failed:
        print(f"{failed} of {len(rows)} runs failed their test: these figures are not ones "
              f"to quote (run {TEST} with -s to see why)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
