"""CPU per 20 ms of the whole per-call audio path, beside Pipecat 1.14's equivalent.

The bridge's real classes on 20 s of speech-like noise, without sockets or sleeping:
  uplink    the capture callback's ring write, the uplink's ring read, the default input
            gain (0 dB), the resampler (device → wire), the framer, the encoder
  downlink  the `Downlink` class on Vapi-like uneven chunks (170–750 bytes): decoder,
            jitter estimator, default output gain, resampler (wire → device), the playout
            buffer's write — plus the device callback's 20 ms pull from the playout buffer
Pipecat's side (benchmarks/pipecat_path.py, run in its own venv since Pipecat pins soxr
~1.0): `create_stream_resampler()`'s resampler, plus `pcm_to_ulaw`/`ulaw_to_pcm` for µ-law.
The two run interleaved, 5 rounds (one run of 20 s moves by a third on a shared VM), and
the median of each is printed with the ratio.
Not covered: the echo canceller (off by default), the recorder (off by default), the
event loop and the socket.

    .venv/bin/python benchmarks/pipeline_cpu.py

Pipecat's venv is made once in out/pipecat-venv (`pip install pipecat-ai==1.14.0`); set
PIPECAT_PYTHON to use another interpreter, or PIPECAT_PYTHON=none to skip it. CPU times on
a shared, loaded machine are indicative only; the ratios, from interleaved runs, are what
counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bridge.audio.base import apply_gain
from bridge.audio.buffered import BufferedSink
from bridge.audio.codec import codec_for
from bridge.audio.framing import Framer
from bridge.audio.playout import PlayoutBuffer
from bridge.audio.resample import Resampler
from bridge.audio.ring import SampleRing
from bridge.call.downlink import Downlink

SECONDS = 20
FRAMES = SECONDS * 50
ROUNDS = 5
GAIN = 10 ** (0.0 / 20)  # the profile's default input_gain_db / output_gain_db
CASES = [(wire, wire_rate, dev_rate) for wire, wire_rate in (("pcm_s16le", 16000),
                                                             ("mulaw", 8000))
         for dev_rate in (48000, 44100, 16000)]
ROOT = Path(__file__).resolve().parents[1]
PIPECAT_VENV = ROOT / "out" / "pipecat-venv"


class Sink(BufferedSink):
    """A device sink without the device: its playout buffer, pulled by the benchmark."""

    def __init__(self, rate: int) -> None:
        self.sample_rate = rate
        self.buffer = PlayoutBuffer(rate)


def uplink_cost(wire: str, wire_rate: int, dev_rate: int, whole: bool = True) -> float:
    """µs per 20 ms; `whole=False`: the resampler and the encoder only (Pipecat's scope)."""
    block = dev_rate // 50
    audio = (np.random.default_rng(1).standard_normal(block * FRAMES) * 3000).astype(np.int16)
    ring = SampleRing(dev_rate * 2)
    ring.rate = dev_rate
    codec, framer = codec_for(wire), Framer(wire_rate)
    res = Resampler(dev_rate, wire_rate, minimum_phase=True)  # the uplink's form
    start = time.process_time()
    if not whole:
        for i in range(FRAMES):
            codec.encode(res.process(audio[i * block:(i + 1) * block]))
        return (time.process_time() - start) / FRAMES * 1e6
    for i in range(FRAMES):
        ring.put(audio[i * block:(i + 1) * block])  # the capture callback
        framer.push(res.process(apply_gain(ring.take(), GAIN)))
        codec.encode(framer.pop())
    return (time.process_time() - start) / FRAMES * 1e6


def downlink_cost(wire: str, wire_rate: int, dev_rate: int, whole: bool = True) -> float:
    """µs per 20 ms; `whole=False`: the decoder and the resampler only (Pipecat's scope)."""
    rng = np.random.default_rng(2)
    pcm = (rng.standard_normal(wire_rate * SECONDS) * 3000).astype(np.int16)
    wire_bytes = codec_for(wire).encode(pcm)
    sizes = rng.integers(170, 750, size=len(wire_bytes) // 170 + 1)
    sink = Sink(dev_rate)
    clock_s = [0.0]
    down = Downlink(codec_for(wire), wire_rate, sink, gain=GAIN, clock=lambda: clock_s[0])
    bps = codec_for(wire).bytes_per_sample
    out = np.zeros(dev_rate // 50, dtype=np.int16)
    pos = 0
    played = 0.0
    codec, res = codec_for(wire), Resampler(wire_rate, dev_rate)
    start = time.process_time()
    if not whole:
        for size in sizes:
            if pos >= len(wire_bytes):
                break
            res.process(codec.decode(wire_bytes[pos:pos + size]))
            pos += size
        return (time.process_time() - start) / FRAMES * 1e6
    for size in sizes:
        if pos >= len(wire_bytes):
            break
        down.on_audio(wire_bytes[pos:pos + size])
        pos += size
        clock_s[0] = pos / bps / wire_rate  # chunks arrive in real time
        while played + 0.02 <= clock_s[0]:  # the device callback's pulls so far
            sink.buffer.read_into(out)
            played += 0.02
    return (time.process_time() - start) / FRAMES * 1e6


def pipecat_python() -> str | None:
    """Pipecat's interpreter: PIPECAT_PYTHON, or out/pipecat-venv (made once)."""
    env = os.environ.get("PIPECAT_PYTHON")
    if env:
        return None if env == "none" else env
    python = PIPECAT_VENV / "bin" / "python"
    if not python.exists():
        print("making Pipecat's venv once: out/pipecat-venv (pip install pipecat-ai==1.14.0)",
              flush=True)
        made = subprocess.run(
            f"{sys.executable} -m venv {PIPECAT_VENV} && "
            f"{PIPECAT_VENV}/bin/pip install -q pipecat-ai==1.14.0",
            shell=True, capture_output=True, text=True, check=False)
        if made.returncode != 0:
            print("Pipecat's venv could not be made; its columns are left out:",
                  made.stderr.strip().splitlines()[-1:] or "")
            return None
    return str(python)


def pipecat_round(python: str) -> dict[str, list[float]] | None:
    cases = [{"name": f"{w}/{wr}/{dr}", "wire": w, "wire_rate": wr, "dev_rate": dr,
              "seconds": SECONDS} for w, wr, dr in CASES]
    run = subprocess.run([python, str(ROOT / "benchmarks" / "pipecat_path.py"),
                          json.dumps(cases)], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        print("Pipecat's half failed:", run.stderr.strip().splitlines()[-1:])
        return None
    result: dict[str, list[float]] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def table(title: str, ours: dict[str, list[list[float]]],
          theirs: dict[str, list[list[float]]]) -> None:
    print(f"\n{title}")
    print(f"{'wire':<16} {'device':>7}  {'bridge up':>9} {'down':>6}  {'Pipecat up':>10}"
          f" {'down':>6}  {'ratio up':>8} {'down':>6}  {'both':>5}")
    for w, wr, dr in CASES:
        name = f"{w}/{wr}/{dr}"
        up, down = np.median(np.array(ours[name]), axis=0)
        row = f"{w + '/' + str(wr):<16} {dr:>7}  {up:>9.1f} {down:>6.1f}"
        if theirs[name]:
            pup, pdown = np.median(np.array(theirs[name]), axis=0)
            row += (f"  {pup:>10.1f} {pdown:>6.1f}  {up / pup:>7.1f}× {down / pdown:>5.1f}×"
                    f"  {(up + down) / (pup + pdown):>4.1f}×")
        if dr == wr:
            row += "  (no resampling)"
        print(row)


def main() -> None:
    python = pipecat_python()
    names = [f"{w}/{wr}/{dr}" for w, wr, dr in CASES]
    whole: dict[str, list[list[float]]] = {name: [] for name in names}
    alike: dict[str, list[list[float]]] = {name: [] for name in names}
    theirs: dict[str, list[list[float]]] = {name: [] for name in names}
    for _ in range(ROUNDS):  # interleaved: a bridge round, then a Pipecat round
        for name, (w, wr, dr) in zip(names, CASES, strict=True):
            whole[name].append([uplink_cost(w, wr, dr), downlink_cost(w, wr, dr)])
            alike[name].append([uplink_cost(w, wr, dr, whole=False),
                                downlink_cost(w, wr, dr, whole=False)])
        if python is not None:
            got = pipecat_round(python)
            if got is None:
                python = None
            else:
                for name, pair in got.items():
                    theirs[name].append(pair)
    print(f"\nCPU per 20 ms of audio, µs: median of {ROUNDS} interleaved rounds of {SECONDS} s"
          " each. A shared machine:\nthe absolute figures are indicative only; the ratios,"
          " from interleaved runs, are what counts.")
    if not any(theirs.values()):
        print("(Pipecat not available: its columns are left out)")
    table("resampler + codec only, both sides (like for like)", alike, theirs)
    table("the bridge's whole per-call path (ring, gain, framer; Downlink with jitter"
          " estimator, playout write and pull)\nagainst Pipecat's resampler + codec",
          whole, theirs)


if __name__ == "__main__":
    # no options: --help shows what is measured, anything else is refused
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
