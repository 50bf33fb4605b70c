"""Pipecat 1.14's half of benchmarks/pipeline_cpu.py, run by Pipecat's own interpreter.

Its equivalent of the per-call audio path: the stream resampler `create_stream_resampler()`
builds (soxr's ordinary engine, VHQ) plus `pcm_to_ulaw`/`ulaw_to_pcm` for µ-law. Given the
cases as JSON on the command line, prints {case: µs per 20 ms [uplink, downlink]} as JSON.
Only numpy and Pipecat are imported: this file never imports the bridge.
"""

from __future__ import annotations

import asyncio
import audioop
import json
import sys
import time

import numpy as np
from pipecat.audio.utils import create_stream_resampler, pcm_to_ulaw, ulaw_to_pcm


async def uplink(wire: str, wire_rate: int, dev_rate: int, seconds: int) -> float:
    block = dev_rate // 50
    audio = (np.random.default_rng(1).standard_normal(block * 50 * seconds) * 3000)
    data = audio.astype(np.int16).tobytes()
    res = create_stream_resampler()
    step = block * 2
    start = time.process_time()
    for i in range(0, len(data), step):
        chunk = data[i:i + step]
        if wire == "mulaw":
            await pcm_to_ulaw(chunk, dev_rate, wire_rate, res)
        else:
            await res.resample(chunk, dev_rate, wire_rate)
    return (time.process_time() - start) / (50 * seconds) * 1e6


def wire_audio(wire: str, wire_rate: int, seconds: int) -> tuple[bytes, list[int]]:
    """The same bytes and chunk sizes pipeline_cpu.py feeds the bridge's downlink."""
    rng = np.random.default_rng(2)
    pcm = (rng.standard_normal(wire_rate * seconds) * 3000).astype(np.int16).tobytes()
    data = audioop.lin2ulaw(pcm, 2) if wire == "mulaw" else pcm
    return data, [int(n) for n in rng.integers(170, 750, size=len(data) // 170 + 1)]


async def downlink(wire: str, wire_rate: int, dev_rate: int, seconds: int) -> float:
    wire_bytes, sizes = wire_audio(wire, wire_rate, seconds)
    res = create_stream_resampler()
    pos = 0
    start = time.process_time()
    for size in sizes:
        if pos >= len(wire_bytes):
            break
        chunk = wire_bytes[pos:pos + size]
        pos += size
        if wire == "mulaw":
            await ulaw_to_pcm(chunk, wire_rate, dev_rate, res)
        else:
            await res.resample(chunk[: len(chunk) // 2 * 2], wire_rate, dev_rate)
    return (time.process_time() - start) / (50 * seconds) * 1e6


def main() -> None:
    cases = json.loads(sys.argv[1])
    out = {}
    for case in cases:
        args = case["wire"], case["wire_rate"], case["dev_rate"], case["seconds"]
        up = asyncio.run(uplink(*args))
        down = asyncio.run(downlink(*args))
        out[case["name"]] = [up, down]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
