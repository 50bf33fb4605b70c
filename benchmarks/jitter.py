"""Downlink robustness: underruns and playout delay under network jitter, and speech dropped
under faster-than-real-time delivery.

Runs real calls against the in-process simulator through the real Call, playout buffer and
a clocked sink (the `null` output: pulled every 20 ms in real time like a device).

Jitter cases (Vapi-like and 20 ms-frame chunking, the `tone` assistant so there is audible
audio most of the time): added downlink jitter of 0/50/100 ms and 300 ms stalls. Printed:
audible underruns, all underruns, held-back/skipped silence, the playout delay (buffer
depth) averaged over the call.

Fast cases (both wire formats, Vapi-like chunking, a scripted assistant saying three
replies of about 4 s, 2 s apart): speech sent at 1.3x and 3x real time and each reply
whole at once, the lead kept over the near-silence after it. Printed: speech dropped (must
be 0), near-silence dropped, the playout delay averaged over the call (speech that came
early waits its turn, so it is long by design) and over the times only near-silence has
been queued for a second (what the next reply waits behind), and the largest depth.

    .venv/bin/python benchmarks/jitter.py [--seconds 20] [--only jitter|fast]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
from pathlib import Path

import yaml

from bridge.audio.files import ClockedSink, NullSource
from bridge.call.lifecycle import Call
from bridge.profile import parse_profile
from bridge.sim import SimConfig, Simulator
from bridge.vapi.api import VapiApi

CASES = [
    ("no added jitter", ()),
    ("jitter 50 ms", ("jitter=50",)),
    ("jitter 100 ms", ("jitter=100",)),
    ("300 ms stalls", tuple(f"stall=300@{t}" for t in (4, 8, 12, 16))),
]
SPEEDS = [("real time", 1.0), ("1.3x", 1.3), ("3x", 3.0), ("whole reply", float("inf"))]
WIRES = [("pcm 16k", "pcm_s16le", 16000), ("mulaw 8k", "mulaw", 8000)]
AFTER_SPEECH_S = 1.0  # pauses under 850 ms are kept whole: measure the bed after that
REPLIES = [
    "Welcome to the front desk. How can I help you today?",
    "The cafeteria is on the second floor, next to the library and the reading room.",
    "Please take a seat. Someone will be with you in a moment. Thank you for waiting.",
]


async def one(cfg: SimConfig, seconds: int, wire: str = "") -> dict[str, float]:
    async with Simulator(cfg) as sim:
        profile = parse_profile(
            f"api: {{base_url: '{sim.base_url}'}}\nassistant: {{id: {cfg.assistant_ids[0]}, "
            f"overrides: {{maxDurationSeconds: {seconds}}}}}\n{wire}")
        api = VapiApi(sim.base_url, "k")
        rate = profile.wire.sample_rate
        sink, source = ClockedSink(rate, None), NullSource(rate)
        sink.start()
        depths: list[tuple[float, bool]] = []  # (depth, whether speech was queued lately)
        call = Call(profile, api, source, sink)
        loop = asyncio.get_running_loop()
        last_speech = loop.time()
        async with call:
            while not call.done:
                if sink.buffer.speech_queued:
                    last_speech = loop.time()
                depths.append((sink.playout_stats().depth_ms,
                               loop.time() - last_speech < AFTER_SPEECH_S))
                await asyncio.sleep(0.05)
        sink.close()
        await api.aclose()
        stats = call.summary.playout if call.summary else sink.playout_stats()
        settled = depths[20:]
        quiet = [d for d, speech in settled if not speech]
        return {"audible": stats.audible_underruns, "all": stats.underruns,
                "stretched": stats.stretched_ms, "skipped": stats.silence_dropped_ms,
                "speech": stats.speech_dropped_ms,
                "delay": statistics.fmean(d for d, _ in settled) if settled else 0.0,
                "quiet": statistics.fmean(quiet) if quiet else 0.0,
                "max": max((d for d, _ in depths), default=0.0)}


async def jitter_cases(seconds: int) -> None:
    print(f"Downlink jitter robustness ({seconds} s calls, tone assistant)")
    print(f"{'chunking':<8} {'case':<16} {'audible':>7} {'all':>4} {'held back':>10} "
          f"{'skipped':>8} {'mean delay':>11}")
    for chunking in ("vapi", "frames"):
        for name, faults in CASES:
            cfg = SimConfig(port=0, api_key="k", assistant="tone", faults=faults,
                            downlink_chunking=chunking)
            r = await one(cfg, seconds)
            print(f"{chunking:<8} {name:<16} {r['audible']:>7.0f} {r['all']:>4.0f} "
                  f"{r['stretched']:>7.0f} ms {r['skipped']:>5.0f} ms {r['delay']:>8.0f} ms")


async def fast_cases(seconds: int) -> None:
    print(f"\nFaster-than-real-time delivery ({seconds} s calls, three ~4 s replies 2 s apart)")
    print(f"{'wire':<9} {'delivery':<12} {'speech dropped':>14} {'silence dropped':>15} "
          f"{'mean delay':>10} {'delay in silence':>16} {'max depth':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "replies.yaml"
        script.write_text(yaml.safe_dump([{"say": line, "wait": False, "delay": 2.0}
                                          for line in REPLIES]))
        for wire_name, fmt, rate in WIRES:
            for name, speed in SPEEDS:
                cfg = SimConfig(port=0, api_key="k", assistant=f"script:{script}",
                                downlink_speed=speed)
                r = await one(cfg, seconds, f"wire: {{format: {fmt}, sample_rate: {rate}}}\n")
                print(f"{wire_name:<9} {name:<12} {r['speech']:>11.0f} ms "
                      f"{r['skipped']:>12.0f} ms {r['delay']:>7.0f} ms {r['quiet']:>13.0f} ms "
                      f"{r['max']:>6.0f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--only", choices=("jitter", "fast"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.only != "fast":
        await jitter_cases(args.seconds)
    if args.only != "jitter":
        await fast_cases(args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
