"""What holding the rig's two devices open costs, whatever a program does with the audio.

On the PulseAudio rig (tests/rig, docs/audio-rig.md) at 48 kHz mono, with `--block-ms`
periods, each of these runs alone after 3 s of warm-up, and its CPU (utime + stime of
every thread, from /proc) is read over `--seconds`, rounds interleaved:

- two streams: PortAudio (sounddevice) input and output streams with callbacks that do
  nothing, as `process_cpu.py`'s floor opens them;
- one duplex stream: one `sounddevice.Stream` for both devices, the same callback;
- ALSA's tools: `arecord` from the microphone to /dev/null and `aplay` of zeros to the
  speaker (alsa-utils: C, ALSA's pulse plugin, no Python, no PortAudio), their two
  processes together; skipped when alsa-utils is not installed.

Issue 16's budget for the whole `vapi-bridge run` process during a call is 1.5 % of one
core; this says how much of that the devices alone take here.

    .venv/bin/python benchmarks/device_floors.py [--seconds 15] [--rounds 2] [--block-ms 20]
        [--warmup 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.rig.pulse import PulseRig  # noqa: E402

RATE = 48000
WARMUP_S = 3.0
TICKS = os.sysconf("SC_CLK_TCK")

STREAMS = """
import sys, time
import sounddevice as sd
mic, speaker, block, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
kw = dict(samplerate=48000, channels=1, dtype="int16", blocksize=block, latency="low")
def nothing_in(indata, frames, t, status): pass
def silence_out(outdata, frames, t, status): outdata.fill(0)
def duplex(indata, outdata, frames, t, status): outdata.fill(0)
if sys.argv[5] == "duplex":
    streams = [sd.Stream(device=(mic, speaker), callback=duplex, **kw)]
else:
    streams = [sd.InputStream(device=mic, callback=nothing_in, **kw),
               sd.OutputStream(device=speaker, callback=silence_out, **kw)]
for s in streams:
    s.start()
print("open", flush=True)
time.sleep(seconds)
"""


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def measure(pids: list[int], seconds: float, warmup: float) -> float:
    time.sleep(warmup)
    c0, t0 = sum(map(cpu_ticks, pids)), time.monotonic()
    time.sleep(seconds)
    c1, t1 = sum(map(cpu_ticks, pids)), time.monotonic()
    return (c1 - c0) / TICKS / (t1 - t0) * 100


def python_streams(rig: PulseRig, env: dict[str, str], kind: str, block: int,
                   seconds: float, warmup: float) -> float:
    proc = subprocess.Popen([sys.executable, "-c", STREAMS, rig.mic_device, rig.speaker_device,
                             str(block), str(warmup + seconds + 5), kind], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "open":
            raise RuntimeError(f"the devices did not open: {proc.communicate()[1][-800:]}")
        return measure([proc.pid], seconds, warmup)
    finally:
        proc.kill()
        proc.communicate()


def alsa_tools(rig: PulseRig, env: dict[str, str], block: int, seconds: float,
               warmup: float) -> float:
    common = ["-q", "-f", "S16_LE", "-r", str(RATE), "-c", "1", f"--period-size={block}",
              f"--buffer-size={4 * block}"]
    procs = [subprocess.Popen(["arecord", "-D", rig.mic_device, *common, "/dev/null"], env=env),
             subprocess.Popen(["aplay", "-D", rig.speaker_device, *common, "/dev/zero"],
                              env=env)]
    try:
        return measure([p.pid for p in procs], seconds, warmup)
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--block-ms", type=int, default=20)
    ap.add_argument("--warmup", type=float, default=WARMUP_S, help="seconds before each window")
    args = ap.parse_args()
    ok, why = PulseRig.available()
    if not ok:
        print(f"device floors skipped: {why}", file=sys.stderr)
        return 0
    block = RATE * args.block_ms // 1000
    tools = shutil.which("arecord") is not None and shutil.which("aplay") is not None
    rows: dict[str, list[float]] = {"two streams (PortAudio, Python callbacks)": [],
                                    "one duplex stream (PortAudio, Python callback)": []}
    if tools:
        rows["arecord + aplay (C, no PortAudio)"] = []
    with tempfile.TemporaryDirectory(prefix="vb-floors-") as d, \
            PulseRig(rate=RATE, tmpdir=Path(d) / "rig") as rig:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAPI_", "PULSE_"))}
        env.update(rig.env)
        for _ in range(args.rounds):
            names = list(rows)
            w, secs = args.warmup, args.seconds
            rows[names[0]].append(python_streams(rig, env, "two", block, secs, w))
            rows[names[1]].append(python_streams(rig, env, "duplex", block, secs, w))
            if tools:
                rows[names[2]].append(alsa_tools(rig, env, block, secs, w))
    load = os.getloadavg()
    print(f"the rig's two devices held open at {RATE} Hz mono, {args.block_ms} ms periods; "
          f"{args.seconds:g} s windows after {args.warmup:g} s, {args.rounds} rounds interleaved; "
          f"load average {load[0]:.1f} on {os.cpu_count()} cores")
    for name, figures in rows.items():
        print(f"{name:<48} " + "  ".join(f"{f:5.2f}" for f in figures) + "  % of one core")
    if not tools:
        print("(arecord/aplay not installed: apt-get install alsa-utils for the C row)")
    print("issue 16's budget for the whole process during a call: 1.50 % of one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
