"""Barge-in time: `user-interrupted` received → silence at the (virtual) speaker.

Runs the PulseAudio-rig barge-in test (tests/devices/test_barge_in.py: a long assistant
line, a visitor talking over it) N times and prints, per run and as median / max: the time
from the event to silence in the speaker's recording, the device's own output latency,
and the bridge's part (the difference), against one device block plus the fade.

    .venv/bin/python benchmarks/bargein.py [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"speaker silent (\d+) ms after user-interrupted; PortAudio output latency "
                  r"(\d+) ms; the bridge's part (-?\d+) ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p",
                              "no:cacheprovider", "tests/devices/test_barge_in.py"],
                             cwd=ROOT, capture_output=True, text=True, check=False).stdout
        m = LINE.search(out)
        if not m:
            raise SystemExit(f"the barge-in run failed:\n{out[-2000:]}")
        rows.append(tuple(int(x) for x in m.groups()))
    print("Barge-in: user-interrupted → silence at the speaker (20 ms blocks, 8 ms fade)")
    print(f"{'run':>3} {'to silence':>11} {'device latency':>15} {'bridge':>7}")
    for i, (total, device, bridge) in enumerate(rows, 1):
        print(f"{i:>3} {total:>8} ms {device:>12} ms {bridge:>4} ms")
    bridge_ms = [r[2] for r in rows]
    print(f"bridge's part: median {statistics.median(bridge_ms):.0f} ms, max "
          f"{max(bridge_ms)} ms (one block + fade = 28 ms)")


if __name__ == "__main__":
    main()
