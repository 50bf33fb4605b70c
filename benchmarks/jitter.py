"""Jitter robustness of the downlink: underruns and mean playout delay under network jitter.

Runs real calls against the in-process simulator (Vapi-like chunking, the `tone`
assistant so there is audible audio most of the time) with added downlink jitter of
0/50/100 ms and with 300 ms stalls, through the real Call, playout buffer and a clocked
sink. Prints, per case: audible underruns, all underruns, held-back/skipped silence, and
the playout delay (buffer depth) averaged over the call.

    .venv/bin/python benchmarks/jitter.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics

from bridge.audio.files import ClockedSink, NullSource
from bridge.call import Call
from bridge.profile import parse_profile
from bridge.sim import SimConfig, Simulator
from bridge.vapi.api import VapiApi

CASES = [
    ("no added jitter", ()),
    ("jitter 50 ms", ("jitter=50",)),
    ("jitter 100 ms", ("jitter=100",)),
    ("300 ms stalls", tuple(f"stall=300@{t}" for t in (4, 8, 12, 16))),
]


async def one(faults: tuple[str, ...], seconds: int, chunking: str) -> dict[str, float]:
    cfg = SimConfig(port=0, api_key="k", assistant="tone", faults=faults,
                    downlink_chunking=chunking)
    async with Simulator(cfg) as sim:
        profile = parse_profile(
            f"api: {{base_url: '{sim.base_url}'}}\nassistant: {{id: tone, overrides: "
            f"{{maxDurationSeconds: {seconds}}}}}\n")
        api = VapiApi(sim.base_url, "k")
        sink, source = ClockedSink(16000, None), NullSource(16000)
        sink.start()
        depths: list[float] = []
        call = Call(profile, api, source, sink)
        async with call:
            while not call.done:
                depths.append(sink.playout_stats().depth_ms)
                await asyncio.sleep(0.05)
        sink.close()
        await api.aclose()
        stats = call.summary.playout if call.summary else sink.playout_stats()
        return {"audible": stats.audible_underruns, "all": stats.underruns,
                "stretched": stats.stretched_ms, "skipped": stats.dropped_ms,
                "delay": statistics.fmean(depths[20:]) if len(depths) > 20 else 0.0}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"Downlink jitter robustness ({args.seconds} s calls, tone assistant)")
    print(f"{'chunking':<8} {'case':<16} {'audible':>7} {'all':>4} {'held back':>10} "
          f"{'skipped':>8} {'mean delay':>11}")
    for chunking in ("vapi", "frames"):
        for name, faults in CASES:
            r = await one(faults, args.seconds, chunking)
            print(f"{chunking:<8} {name:<16} {r['audible']:>7.0f} {r['all']:>4.0f} "
                  f"{r['stretched']:>7.0f} ms {r['skipped']:>5.0f} ms {r['delay']:>8.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
