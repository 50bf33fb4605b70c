"""CPU per 20 ms frame of the uplink and downlink pipelines.

Runs the real code of each path on one minute of speech-like noise, without sockets or
sleeping: uplink = gain + resample (device → wire) + framer + encode; downlink = decode
(in Vapi-like uneven chunks) + resample (wire → device) + playout write + device-block pull.
Prints µs per 20 ms of audio and the share of one core that is.

    .venv/bin/python benchmarks/pipeline_cpu.py
"""

from __future__ import annotations

import time

import numpy as np

from bridge.audio.base import apply_gain
from bridge.audio.codec import codec_for
from bridge.audio.framing import Framer
from bridge.audio.playout import PlayoutBuffer
from bridge.audio.resample import Resampler

SECONDS = 60
FRAMES = SECONDS * 50


def uplink_cost(wire: str, wire_rate: int, dev_rate: int) -> float:
    rng = np.random.default_rng(1)
    block = dev_rate // 50
    audio = (rng.standard_normal(block * FRAMES) * 3000).astype(np.int16)
    codec, res, framer = codec_for(wire), Resampler(dev_rate, wire_rate), Framer(wire_rate)
    start = time.process_time()
    for i in range(FRAMES):
        chunk = apply_gain(audio[i * block:(i + 1) * block], 1.2)
        framer.push(res.process(chunk))
        codec.encode(framer.pop())
    return (time.process_time() - start) / FRAMES * 1e6


def downlink_cost(wire: str, wire_rate: int, dev_rate: int) -> float:
    rng = np.random.default_rng(2)
    enc = codec_for(wire)
    wire_bytes = enc.encode((rng.standard_normal(wire_rate * SECONDS) * 3000).astype(np.int16))
    sizes = rng.integers(170, 750, size=len(wire_bytes) // 170 + 1)
    codec, res = codec_for(wire), Resampler(wire_rate, dev_rate)
    buf = PlayoutBuffer(dev_rate)
    out = np.zeros(dev_rate // 50, dtype=np.int16)
    pos = pulled = 0
    start = time.process_time()
    for size in sizes:
        if pos >= len(wire_bytes):
            break
        buf.write(res.process(codec.decode(wire_bytes[pos:pos + size])))
        pos += size
        while buf.depth_ms > 80:
            buf.read_into(out)
            pulled += 1
    return (time.process_time() - start) / FRAMES * 1e6


def main() -> None:
    print(f"CPU per 20 ms frame ({SECONDS} s of audio per row; 20 ms = 20000 µs)")
    print(f"{'wire':<16} {'device':>7}  {'uplink µs':>10} {'downlink µs':>12}  {'% of a core':>11}")
    for wire, wire_rate in (("pcm_s16le", 16000), ("mulaw", 8000)):
        for dev_rate in (16000, 44100, 48000):
            up = uplink_cost(wire, wire_rate, dev_rate)
            down = downlink_cost(wire, wire_rate, dev_rate)
            share = (up + down) / 20000 * 100
            print(f"{wire + '/' + str(wire_rate):<16} {dev_rate:>7}  {up:>10.1f} {down:>12.1f}"
                  f"  {share:>10.2f}%")


if __name__ == "__main__":
    main()
