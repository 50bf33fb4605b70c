"""Bridge-added latency through real, clocked devices: mic → wire and wire → speaker.

On the PulseAudio rig (tests/rig, docs/audio-rig.md), `vapi-bridge run` calls the
simulator's `tone` assistant (a process of its own) with `audio.input: vb_mic`,
`audio.output: vb_speaker`:

- mic → wire: short 1 kHz beeps are played into the virtual microphone; each one's entry
  time (when its first sample became capturable) is compared with the simulator's
  `uplink.markers[].arrivalMonotonic` (arrival of the frame in which it detected the beep).
- wire → speaker: the simulator beeps every ~500 ms on the downlink and records when it
  wrote each beep's chunk (`downlink.markers[].sentMonotonic`); the speaker's monitor is
  recorded and each beep's onset found in it (`find_onsets`, converted to monotonic time).

All clocks are this host's CLOCK_MONOTONIC. The virtual devices' own latency is measured
first with a trivial pass-through child (PortAudio, same block size and latency setting),
as in docs/audio-rig.md, and subtracted for the "beyond" columns:

- capture: the device's share of a beep's mic → wire time is from the beep's entry until
  the capture callback that hands the application the block holding its FIRST sample. A
  beep starts anywhere inside a block, so that share is a block's duration shorter for a
  beep starting at a block's end than for one starting at its start: PortAudio's capture
  latency (ADC time of a block's first sample → callback, printed for reference) is the
  worst case, about half a block more than the typical beep pays. So the child is fed the
  very same beep train as the bridge (same beep, same period: its onsets fall at every
  1 ms phase of the block in turn), finds on sample positions the block in which each
  onset falls (its first non-zero sample), and records, on the same monotonic clock and
  from the same entry times, when that block's callback ran. "beyond capture" is the
  bridge's mic → wire median less this onset-to-callback median, over the same phases;
  both from the same entry-time reference, whose own error cancels.
- playback: PortAudio's playback latency (callback → DAC time of the block's first
  sample); the simulator's beeps are found by their onset in the speaker's monitor, which
  is where a block's first sample would be heard: no phase to account for.

Median and p95 for each call, and over all calls pooled; the mic → wire delay is a
constant per call that varies from call to call (where the capture blocks fall against
the uplink's 20 ms ticks), so the per-call figures are the honest spread. Both downlink
chunkings of the simulator (Vapi-like uneven chunks, and exact 20 ms frames) unless
`--chunking` picks one; the mic → wire path does not depend on it. All processes run at
normal priority, on whatever else the machine is doing (say so beside the figures).

    .venv/bin/python benchmarks/latency.py [--calls 3] [--block-ms 20] [--beeps 24]
        [--chunking vapi|frames] [--wire pcm_s16le|mulaw] [--device-rate 48000]

Targets (reported, not asserted): mic → wire ≤ 30 ms and wire → speaker ≤ 60 ms beyond the
devices' own latency (issue 16 aims at mic → wire median ≤ 15 ms, p95 ≤ 20 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.rig.pulse import PulseRig  # noqa: E402
from tests.rig.signals import find_onsets, read_wav, silence, tone  # noqa: E402

KEY = "sim-private-key"
BEEP_HZ = 1000.0
# Mic beeps are 8 ms: the simulator's onset detector needs one 5 ms block above -40 dBFS,
# and its VAD needs 3 of 4 10 ms blocks, which an 8 ms beep never gives, so the beeps never
# start a "user turn" (that would flush the playout buffer as a barge-in).
MIC_BEEP_MS = 8.0
# Neither period is a multiple of the 20 ms frame and block: each beep meets the frame
# boundaries, device blocks and uplink ticks at another phase (steps of 7 ms), so the
# figures spread over every phase instead of repeating one.
MIC_PERIOD_S = 0.407
TONE_PERIOD_MS = 507.0
MIC_BEEPS = 24
WARMUP_S = 2.0  # markers in the first seconds of a call (playout still settling) are left out
TARGET_UP_MS, TARGET_DOWN_MS = 30.0, 60.0
CASES = [("pcm_s16le", 16000, "vapi"), ("pcm_s16le", 16000, "frames"),
         ("mulaw", 8000, "vapi"), ("mulaw", 8000, "frames")]


def stats(values_ms: list[float]) -> tuple[float, float]:
    a = np.asarray(values_ms)
    return float(np.median(a)), float(np.percentile(a, 95))


# ---- the virtual devices' own latency ---------------------------------------------------

PASSTHROUGH = r'''
import collections, json, signal, sys, threading, time
import numpy as np
import sounddevice as sd
rate, block, latency = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
latency = latency if latency in ("low", "high") else float(latency)
fifo = collections.deque()
cap, play, xruns, onsets, quiet = [], [], [0], [], [rate]
def cb_in(indata, frames, t, status):
    now = time.monotonic()
    cap.append(t.currentTime - t.inputBufferAdcTime)
    xruns[0] += bool(status)
    x = indata[:, 0]
    loud = np.flatnonzero(x)
    if len(loud) and quiet[0] + loud[0] >= rate // 10:  # a beep's first non-zero sample
        onsets.append((now, int(loud[0]), frames))
    quiet[0] = frames - 1 - int(loud[-1]) if len(loud) else quiet[0] + frames
    fifo.append(x.copy())
def cb_out(outdata, frames, t, status):
    play.append(t.outputBufferDacTime - t.currentTime)
    xruns[0] += bool(status)
    outdata[:, 0] = fifo.popleft() if fifo else 0
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
kw = dict(samplerate=rate, channels=1, dtype="int16", latency=latency, blocksize=block)
with sd.InputStream(device="vb_mic", callback=cb_in, **kw) as i, \
        sd.OutputStream(device="vb_speaker", callback=cb_out, **kw) as o:
    print("ready", i.latency, o.latency, flush=True)
    done.wait()
print(json.dumps({"capture_ms": 1000 * float(np.median(cap[50:])),
                  "playback_ms": 1000 * float(np.median(play[50:])),
                  "xruns": xruns[0], "pa_latency_ms": 1000 * o.latency,
                  "onsets": onsets}), flush=True)
'''


@dataclass
class DeviceLatency:
    capture_ms: float  # PortAudio's: ADC time of a block's first sample → its callback
    onset_ms: float  # a beep's entry → the callback of the block holding its first sample
    onset_p95_ms: float
    onset_in_block_ms: float  # median position of the onsets inside their blocks
    playback_ms: float
    round_trip_ms: float
    round_trip_p95_ms: float
    pa_latency_ms: float
    xruns: int


def beeps(n: int, period_s: float, ms: float, rate: int) -> np.ndarray:
    one = np.concatenate([tone(BEEP_HZ, ms, rate, -6.0),
                          silence(period_s * 1000 - ms, rate)])
    return np.concatenate([one] * n)


def speaker_onsets(rig: PulseRig) -> list[float]:
    """Monotonic times at which 1 kHz beeps left the virtual speaker (as detected)."""
    audio, rate, t0 = rig.stop_speaker_recording()
    return [t0 + s for s in find_onsets(audio, rate, BEEP_HZ, -30.0)]


def onset_bias(beep: np.ndarray, rate: int) -> float:
    """How late find_onsets reports a beep of this shape (its fade-in)."""
    lead = 0.05
    return find_onsets(np.concatenate([silence(lead * 1000, rate), beep]), rate, BEEP_HZ,
                       -30.0)[0] - lead


def match(starts: list[float], ends: list[float], window: float) -> list[float]:
    """For each start, the first end within `window` s after it (ms)."""
    out = []
    ends_sorted = sorted(ends)
    for s in starts:
        later = [e for e in ends_sorted if s < e < s + window]
        if later:
            out.append((later[0] - s) * 1000)
    return out


def device_latency(rig: PulseRig, block_ms: int, latency: str, env: dict[str, str],
                   n: int) -> DeviceLatency:
    block = rig.rate * block_ms // 1000
    child = subprocess.Popen([sys.executable, "-c", PASSTHROUGH, str(rig.rate), str(block),
                              latency], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout is not None
        ready = child.stdout.readline()
        if not ready.startswith("ready"):
            raise RuntimeError(f"pass-through child failed: {ready!r}")
        time.sleep(0.5)
        rig.start_speaker_recording()
        # the bridge's own beep train: the onsets fall at every phase of the block
        t_start = rig.play_into_mic(beeps(n, MIC_PERIOD_S, MIC_BEEP_MS, rig.rate), rig.rate)
        rig.wait_mic_idle()
        time.sleep(0.3)
        bias = onset_bias(tone(BEEP_HZ, MIC_BEEP_MS, rig.rate, -6.0), rig.rate)
        heard = [t - bias for t in speaker_onsets(rig)]
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    info = json.loads(out.strip().splitlines()[-1])
    entries = [t_start + k * MIC_PERIOD_S for k in range(n)]
    rt = match(entries, heard, MIC_PERIOD_S - 0.01)
    onset, in_block = [], []
    for e in entries:
        hits = [(t, pos) for t, pos, _ in info["onsets"] if e < t < e + 0.2]
        if hits:
            onset.append((hits[0][0] - e) * 1000)
            in_block.append(hits[0][1] / rig.rate * 1000)
    if len(rt) < n * 0.8 or len(onset) < n * 0.8:
        raise RuntimeError(f"only {len(rt)} / {len(onset)} of {n} beeps came through the "
                           f"pass-through child")
    med, p95 = stats(rt)
    on_med, on_p95 = stats(onset)
    return DeviceLatency(info["capture_ms"], on_med, on_p95,
                         float(np.median(in_block)) if in_block else float("nan"),
                         info["playback_ms"], med, p95, info["pa_latency_ms"],
                         info["xruns"])


# ---- a call ---------------------------------------------------------------------------

SIM = r'''
import asyncio, signal, sys
from bridge.sim import SimConfig, Simulator
async def main() -> None:
    cfg = SimConfig(host="127.0.0.1", port=0, assistant="tone", api_key=sys.argv[1],
                    downlink_chunking=sys.argv[2], tone_period_ms=float(sys.argv[3]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Simulator(cfg) as sim:
        print(f"listening on {sim.base_url}", flush=True)
        await stop.wait()
asyncio.run(main())
'''


@contextlib.contextmanager
def simulator(workdir: Path, chunking: str) -> Iterator[str]:
    """The simulator's tone assistant in a process of its own (`vapi-bridge sim` has no
    option for the beep period)."""
    out = workdir / f"sim-{chunking}.out"
    with open(out, "w") as f:
        proc = subprocess.Popen([sys.executable, "-c", SIM, KEY, chunking,
                                 str(TONE_PERIOD_MS)], stdout=f, stderr=subprocess.STDOUT,
                                cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while not (m := re.search(r"listening on (http://\S+)", out.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"simulator did not start: {out.read_text()[-500:]}")
            time.sleep(0.05)
        yield m[1]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def get_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return bytes(resp.read())


@dataclass
class CallResult:
    wire: str
    chunking: str
    up_ms: list[float]
    down_ms: list[float]
    in_chunk_ms: list[float]
    summary: str


def call_seconds(n_beeps: int) -> int:
    """Long enough for the 2 s start, the beep train and the last markers' arrival."""
    return max(10, int(np.ceil(2.0 + n_beeps * MIC_PERIOD_S + 2.5)))  # the profile floor


def measure_call(rig: PulseRig, *args: Any) -> CallResult:
    """One call's figures; a call that fails (on a loaded machine the socket sometimes
    drops at the end of the call) is placed once more, and says so."""
    try:
        return _measure_call(rig, *args)
    except RuntimeError as e:
        print(f"a call failed, placed again: {str(e).splitlines()[0]}", file=sys.stderr)
        return _measure_call(rig, *args)


def _measure_call(rig: PulseRig, wire: str, wire_rate: int, chunking: str, block_ms: int,
                 latency: str, env: dict[str, str], workdir: Path, n_beeps: int
                 ) -> CallResult:
    with simulator(workdir, chunking) as base:
        profile = workdir / f"{wire}-{chunking}.yaml"
        profile.write_text(yaml.safe_dump({
            "api": {"base_url": base, "retry_max_delay_seconds": 1},
            "assistant": {"id": "tone", "overrides": {"firstMessage": ""}},
            "wire": {"format": wire, "sample_rate": wire_rate},
            "call": {"max_duration_seconds": call_seconds(n_beeps)},
            "audio": {"input": rig.mic_device, "output": rig.speaker_device,
                      "device_rate": rig.rate, "block_ms": block_ms,
                      "latency": float(latency) if latency[0].isdigit() else latency,
                      "echo": "off"},
        }, sort_keys=False))
        rig.start_speaker_recording()
        proc = subprocess.Popen([sys.executable, "-m", "bridge", "run", "--profile",
                                 str(profile)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while True:
                calls = get(base + "/_sim/calls")["calls"]
                if calls and get(f"{base}/_sim/calls/{calls[0]['id']}")["uplink"]["frames"] \
                        >= 100:  # 2 s into the call
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the call did not start: {proc.communicate()[1]}")
                time.sleep(0.05)
            t_start = rig.play_into_mic(beeps(n_beeps, MIC_PERIOD_S, MIC_BEEP_MS, rig.rate),
                                        rig.rate)
            rig.wait_mic_idle()
            out, err = proc.communicate(timeout=call_seconds(n_beeps) + 20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"vapi-bridge exited {proc.returncode}: {err[-1500:]}")
        heard = speaker_onsets(rig)
        rec = get(f"{base}/_sim/calls/{calls[0]['id']}")
        downlink, dl_rate = read_wav_bytes(get_bytes(f"{base}/_sim/calls/{rec['id']}"
                                                     f"/downlink.wav"))
    up_arrivals = [m["arrivalMonotonic"] for m in rec["uplink"]["markers"]]
    up = match([t_start + k * MIC_PERIOD_S for k in range(n_beeps)], up_arrivals, 0.3)
    # the detector's bias on the simulator's own beep (3 ms ramps), from what it sent
    sent_onsets = find_onsets(downlink, dl_rate, BEEP_HZ, -30.0)
    marks = [m for m in rec["downlink"]["markers"] if m["streamSeconds"] >= WARMUP_S]
    bias = statistics.median(
        min(sent_onsets, key=lambda s, m=m: abs(s - m["streamSeconds"])) - m["streamSeconds"]
        for m in marks)
    heard = [t - bias for t in heard]
    # each beep's offset inside the chunk that carried it: a player can start it no sooner
    # than that after the chunk arrived
    bps = 2 if wire == "pcm_s16le" else 1
    starts = np.concatenate([[0], np.cumsum(rec["downlink"]["chunkBytes"])])
    down, in_chunk = [], []
    for m in marks:
        lat = match([m["sentMonotonic"]], heard, 0.45)
        if lat:
            pos = m["streamSeconds"] * wire_rate * bps
            chunk = int(np.searchsorted(starts, pos, side="right")) - 1
            down.append(lat[0])
            in_chunk.append((pos - starts[chunk]) / bps / wire_rate * 1000)
    summary = next((line for line in out.splitlines() if " ended: " in line), "")
    return CallResult(wire, chunking, up, down, in_chunk, summary)


def read_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(data)
        f.flush()
        return read_wav(f.name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device-rate", type=int, default=48000, choices=(16000, 44100, 48000))
    ap.add_argument("--block-ms", type=int, default=20)
    ap.add_argument("--latency", default="low", help="audio.latency: low, high or seconds")
    ap.add_argument("--calls", type=int, default=1,
                    help="calls per case (the mic→wire delay varies by call: where the "
                         "capture blocks fall against the uplink's 20 ms ticks)")
    ap.add_argument("--beeps", type=int, default=MIC_BEEPS,
                    help=f"mic beeps per call, {MIC_PERIOD_S * 1000:.0f} ms apart (default "
                         f"%(default)s; the call lasts about 5 s more)")
    ap.add_argument("--wire", choices=("pcm_s16le", "mulaw"), help="only this wire format")
    ap.add_argument("--chunking", choices=("vapi", "frames"),
                    help="only this downlink chunking (mic→wire does not depend on it)")
    ap.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    args = ap.parse_args()
    ok, why = PulseRig.available()
    if not ok:
        print(f"latency benchmark skipped: {why}", file=sys.stderr)
        return 0
    cases = [c for c in CASES if args.wire in (None, c[0]) and args.chunking in (None, c[2])]
    with tempfile.TemporaryDirectory(prefix="vb-latency-") as d, \
            PulseRig(rate=args.device_rate, tmpdir=Path(d) / "rig") as rig:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAPI_", "PULSE_"))}
        env.update(rig.env, VAPI_API_KEY=KEY, PYTHONUNBUFFERED="1")
        dev = device_latency(rig, args.block_ms, args.latency, env, args.beeps)
        results = [[measure_call(rig, w, r, c, args.block_ms, args.latency, env, Path(d),
                                 args.beeps) for _ in range(args.calls)]
                   for w, r, c in cases]
        harness = rig.harness_xruns
    report(args, dev, results, harness)
    return 0


def _fmt(values: list[float], less: float) -> str:
    """'median / p95 (beyond: median / p95)' in ms, or dashes."""
    if not values:
        return "—"
    med, p95 = stats(values)
    return f"{med:5.1f} / {p95:5.1f}  ({med - less:5.1f} / {p95 - less:5.1f})"


def report(args: argparse.Namespace, dev: DeviceLatency, results: list[list[CallResult]],
           harness: dict[str, int]) -> None:
    load = os.getloadavg()
    print(f"devices: PulseAudio virtual mic/speaker at {args.device_rate} Hz, "
          f"{args.calls} call(s) per case, {args.beeps} mic beeps per call, "
          f"{args.block_ms} ms blocks, latency={args.latency} (PortAudio: "
          f"{dev.pa_latency_ms:.0f} ms), normal priority, load average "
          f"{load[0]:.1f} / {load[1]:.1f} (1 / 5 min) on {os.cpu_count()} cores")
    print(f"devices' own latency (pass-through child): a beep's entry → the callback of "
          f"the block holding its first sample: median {dev.onset_ms:.1f} ms, p95 "
          f"{dev.onset_p95_ms:.1f} ms (onsets a median {dev.onset_in_block_ms:.1f} ms into "
          f"their block; PortAudio's capture latency of a block's first sample: "
          f"{dev.capture_ms:.1f} ms); playback {dev.playback_ms:.1f} ms (callback → DAC); "
          f"round trip mic → child → speaker median {dev.round_trip_ms:.1f} ms, p95 "
          f"{dev.round_trip_p95_ms:.1f} ms; xruns {dev.xruns}")
    print()
    head = (f"{'wire':<10} {'chunking':<8} {'call':<6} {'n':>3} "
            f"{'mic→wire med / p95 (beyond capture)':<37} {'n':>3} "
            f"{'wire→spk med / p95 (beyond playback)':<39} {'in chunk':>8}")
    print(head)
    print("-" * len(head))
    raw = []
    for runs in results:
        pooled = CallResult(runs[0].wire, runs[0].chunking,
                            [x for r in runs for x in r.up_ms],
                            [x for r in runs for x in r.down_ms],
                            [x for r in runs for x in r.in_chunk_ms], "")
        rows = [(str(i + 1), r) for i, r in enumerate(runs)]
        if len(runs) > 1:
            rows.append(("pooled", pooled))
        for label, r in rows:
            off = f"{stats(r.in_chunk_ms)[0]:8.1f}" if r.in_chunk_ms else f"{'—':>8}"
            print(f"{r.wire:<10} {r.chunking:<8} {label:<6} {len(r.up_ms):>3} "
                  f"{_fmt(r.up_ms, dev.onset_ms):<37} {len(r.down_ms):>3} "
                  f"{_fmt(r.down_ms, dev.playback_ms):<39} {off}")
        raw.append({"wire": pooled.wire, "chunking": pooled.chunking,
                    "calls": [{"mic_to_wire_ms": r.up_ms, "wire_to_speaker_ms": r.down_ms,
                               "beep_offset_in_chunk_ms": r.in_chunk_ms,
                               "summary": r.summary} for r in runs]})
    print()
    print(f"targets: mic→wire ≤ {TARGET_UP_MS:.0f} ms and wire→speaker ≤ {TARGET_DOWN_MS:.0f} "
          f"ms beyond the devices' own latency (in brackets: the figure less the device's "
          f"median onset-to-callback time or playback latency above). 'in chunk': the median "
          f"offset of a beep inside the chunk that carried it, which no player can avoid "
          f"(wire→speaker is measured from when the chunk was written). Rig xruns: "
          f"{harness}.")
    for runs in results:
        for i, r in enumerate(runs):
            print(f"  {r.wire}/{r.chunking} call {i + 1}: {r.summary}")
    if args.json:
        print(json.dumps({"devices": dev.__dict__, "cases": raw}, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
