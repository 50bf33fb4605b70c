"""The `vapi-bridge run` process's own CPU and event-loop wake-ups during a steady call.

On the PulseAudio rig (tests/rig, docs/audio-rig.md) at 48 kHz (`--device-rate`: 44.1 or
16 kHz), `vapi-bridge run` calls the simulator's echo assistant (a process of its own) with
`audio.input: vb_mic`,
`audio.output: vb_speaker`, pcm_s16le at 16 kHz on the wire (or `--wire mulaw`). Speech
is played into the virtual microphone for the whole call, and the echo assistant speaks
it back: audio flows both ways all the time.

From 3 s into the call, for `--seconds`, the benchmark reads the process's own counters
in /proc (no tracer attached while CPU is measured):

- CPU: utime + stime of all its threads (the event loop, PortAudio's callback threads,
  the recorder's writer when there is one), as % of one core;
- wake-ups: the voluntary context switches of the main thread (the event loop's): each
  is one time it blocked (in epoll_wait, or on the GIL) and was woken again; per 20 ms.

Then, unless `--no-strace`, `strace -c -f` is attached for `--strace-seconds` more and
its counts of the loop's system calls are printed per 20 ms (strace slows the process,
so it never overlaps the CPU window).

    .venv/bin/python benchmarks/process_cpu.py [--seconds 30] [--strace-seconds 10]
        [--wire pcm_s16le|mulaw] [--block-ms 20] [--device-rate 48000] [--calls 1]
        [--echo off|gate|aec] [--echo-path DB]
    .venv/bin/python benchmarks/process_cpu.py --standby [--wake-word okay_nabu]

`--standby` places no call: the daemon waits in standby mode, as a kiosk does most of the
day, and its CPU is read over `--seconds` beside the same devices' floor.

`--echo-path DB` loops the rig's speaker back into its microphone (DB down, 30 ms later),
as a kiosk's room does: the echo gate then locks onto a path (without it, no acoustic path:
the gate searches every lag).

`--cprofile FILE` runs the bridge under cProfile on its loop thread's CPU clock (to see what
costs; not for the figures); PROCESS_CPU_LOG=FILE keeps the bridge's output.

Beside it, the floor no program using these devices can go under: a process that opens the
same two devices the same way (PortAudio, 48 kHz, the same blocks, latency "low") with
callbacks that do nothing, measured over the same window. On the rig that is PortAudio's
threads and ALSA's pulse plugin; on a kiosk's own sound card it would be another figure.

Target (issue 16; reported, not asserted): at most 1.5 % of one core, about one loop
wake-up per 20 ms each way (2 per 20 ms in all).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.rig.pulse import PulseRig  # noqa: E402
from tests.rig.signals import espeak, silence  # noqa: E402

KEY = "sim-private-key"
WARMUP_S = 3.0
STANDBY_SETTLE_S = 4.0  # the speaker closes 2 s after the daemon is up and silent
LINES = ["I have an appointment at two o'clock with Doctor Lee",
         "Could you tell me where the lifts are, please",
         "My name is Sam and I am here for the interview"]
SYSCALLS = ("epoll_wait", "epoll_pwait", "sendto", "recvfrom", "getrandom", "write", "read",
            "futex", "clock_nanosleep")
TICKS = os.sysconf("SC_CLK_TCK")

SIM = r'''
import asyncio, signal, sys
from bridge.sim import SimConfig, Simulator
async def main() -> None:
    cfg = SimConfig(host="127.0.0.1", port=0, assistant="echo", api_key=sys.argv[1])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Simulator(cfg) as sim:
        print(f"listening on {sim.base_url}", flush=True)
        await stop.wait()
asyncio.run(main())
'''

# the bridge under cProfile on its event-loop thread's own CPU clock (not the wall clock,
# which on a loaded machine charges a call for the time others ran)
PROFILED = r'''
import cProfile, runpy, sys, time
out = sys.argv.pop(1)
sys.argv[0] = "bridge"
p = cProfile.Profile(time.thread_time)
p.enable()
try:
    runpy.run_module("bridge", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
else:
    code = 0
p.disable()
p.dump_stats(out)
sys.exit(code)
'''


@contextlib.contextmanager
def simulator(workdir: Path) -> Iterator[str]:
    out = workdir / "sim.out"
    with open(out, "w") as f:
        proc = subprocess.Popen([sys.executable, "-c", SIM, KEY], stdout=f,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while not (m := re.search(r"listening on (http://\S+)", out.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"simulator did not start: {out.read_text()[-500:]}")
            time.sleep(0.05)
        yield m[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get_json(url: str) -> dict:
    import json
    with urllib.request.urlopen(url, timeout=10) as resp:
        return dict(json.loads(resp.read()))


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def main_thread_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main_thread_switches(pid: int) -> int:
    text = Path(f"/proc/{pid}/task/{pid}/status").read_text()
    return int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", text)[1])  # type: ignore[index]


def measure_window(pid: int, seconds: float) -> tuple[float, float, float]:
    """Over `seconds` from now: the process's CPU and its loop thread's, % of one core, and
    the loop thread's wake-ups per 20 ms."""
    c0, m0, w0 = cpu_ticks(pid), main_thread_ticks(pid), main_thread_switches(pid)
    t0 = time.monotonic()
    time.sleep(seconds)
    c1, m1, w1 = cpu_ticks(pid), main_thread_ticks(pid), main_thread_switches(pid)
    dt = time.monotonic() - t0
    return (c1 - c0) / TICKS / dt * 100, (m1 - m0) / TICKS / dt * 100, (w1 - w0) / (dt / 0.020)


def speech(rate: int, seconds: float) -> np.ndarray:
    """Visitor lines with 0.8 s pauses, repeated to `seconds` (the echo assistant answers
    each one: speech both ways)."""
    one = np.concatenate([np.concatenate([espeak(t, rate), silence(800, rate)])
                          for t in LINES])
    reps = int(np.ceil(seconds * rate / len(one)))
    return np.tile(one, reps)[: int(seconds * rate)]


def strace_counts(pid: int, seconds: float) -> dict[str, int] | None:
    if shutil.which("strace") is None:
        return None
    proc = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-e",
                             "trace=" + ",".join(SYSCALLS)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    counts = {}
    for line in err.splitlines():
        parts = line.split()
        if parts and parts[-1] in SYSCALLS and len(parts) >= 5:
            counts[parts[-1]] = int(parts[3])
    return counts


# the floor: the same two streams with callbacks that do nothing
FLOOR = """
import sys, time
import sounddevice as sd
mic, speaker, rate, block, seconds = sys.argv[1:3] + [int(sys.argv[3]), int(sys.argv[4]),
                                                      float(sys.argv[5])]
def nothing_in(indata, frames, t, status): pass
def silence_out(outdata, frames, t, status): outdata.fill(0)
kw = dict(samplerate=rate, channels=1, dtype="int16", blocksize=block, latency="low")
with sd.InputStream(device=mic, callback=nothing_in, **kw), \\
        sd.OutputStream(device=speaker, callback=silence_out, **kw):
    print("open", flush=True)
    time.sleep(seconds)
"""


def device_floor(rig: PulseRig, args: argparse.Namespace, env: dict[str, str]) -> float:
    """% of one core a process holding the two devices open, doing nothing else, uses."""
    block = rig.rate * args.block_ms // 1000
    proc = subprocess.Popen([sys.executable, "-c", FLOOR, rig.mic_device, rig.speaker_device,
                             str(rig.rate), str(block), str(WARMUP_S + args.seconds + 5)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "open":
            raise RuntimeError(f"the devices did not open: {proc.communicate()[1][-800:]}")
        time.sleep(WARMUP_S)
        return measure_window(proc.pid, args.seconds)[0]
    finally:
        proc.kill()
        proc.communicate()


def one_call(rig: PulseRig, args: argparse.Namespace, env: dict[str, str],
             workdir: Path) -> tuple[float, float, float, dict[str, int] | None, str]:
    total_s = WARMUP_S + args.seconds + (0 if args.no_strace else args.strace_seconds) + 2
    wire_rate = 16000 if args.wire == "pcm_s16le" else 8000
    with simulator(workdir) as base:
        profile = workdir / "profile.yaml"
        profile.write_text(yaml.safe_dump({
            "api": {"base_url": base, "retry_max_delay_seconds": 1},
            "assistant": {"id": "echo", "overrides": {"firstMessage": ""}},
            "wire": {"format": args.wire, "sample_rate": wire_rate},
            "call": {"max_duration_seconds": max(10, int(np.ceil(total_s)) + 1)},
            "audio": {"input": rig.mic_device, "output": rig.speaker_device,
                      "device_rate": rig.rate, "block_ms": args.block_ms,
                      **({"echo": args.echo} if args.echo else {})},
        }, sort_keys=False))
        prof = ["-c", PROFILED, args.cprofile] if args.cprofile else ["-m", "bridge"]
        proc = subprocess.Popen([sys.executable, *prof, "run", "--profile",
                                 str(profile)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while not get_json(base + "/_sim/calls")["calls"]:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the call did not start: {proc.communicate()[1]}")
                time.sleep(0.05)
            rig.play_into_mic(speech(rig.rate, total_s), rig.rate)
            time.sleep(WARMUP_S)
            cpu_pct, loop_pct, wakes = measure_window(proc.pid, args.seconds)
            counts = None if args.no_strace else strace_counts(proc.pid, args.strace_seconds)
            out, err = proc.communicate(timeout=total_s + 20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        rig.wait_mic_idle()
    if os.environ.get("PROCESS_CPU_LOG"):
        Path(os.environ["PROCESS_CPU_LOG"]).write_text(out + "\n----\n" + err)
    if proc.returncode != 0:
        raise RuntimeError(f"vapi-bridge exited {proc.returncode}: {err[-1500:]}")
    summary = next((line for line in out.splitlines() if " ended: " in line), "")
    return cpu_pct, loop_pct, wakes, counts, summary


def standby_wait(rig: PulseRig, args: argparse.Namespace, env: dict[str, str],
                 workdir: Path) -> tuple[float, float, float]:
    """A standby daemon waiting for a trigger (no call): CPU %, loop %, wake-ups / 20 ms,
    from `STANDBY_SETTLE_S` after it is up (its devices closed by then, bridge/service/idle.py)."""
    with simulator(workdir) as base:
        profile = workdir / "standby.yaml"
        profile.write_text(yaml.safe_dump({
            "api": {"base_url": base}, "assistant": {"id": "echo"},
            "audio": {"input": rig.mic_device, "output": rig.speaker_device,
                      "device_rate": rig.rate, "block_ms": args.block_ms},
            "service": {"mode": "standby", "control_socket": str(workdir / "ctl.sock")},
            **({"trigger": {"wake_word": args.wake_word}} if args.wake_word else {}),
        }, sort_keys=False))
        proc = subprocess.Popen([sys.executable, "-m", "bridge", "run", "--profile",
                                 str(profile)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while not (workdir / "ctl.sock").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the daemon did not start: {proc.communicate()[1]}")
                time.sleep(0.05)
            time.sleep(STANDBY_SETTLE_S)
            return measure_window(proc.pid, args.seconds)
        finally:
            proc.terminate()
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="CPU window (default 30)")
    ap.add_argument("--strace-seconds", type=float, default=10.0)
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--wire", choices=("pcm_s16le", "mulaw"), default="pcm_s16le")
    ap.add_argument("--block-ms", type=int, default=20)
    ap.add_argument("--device-rate", type=int, default=48000, choices=(16000, 44100, 48000))
    ap.add_argument("--calls", type=int, default=1)
    ap.add_argument("--echo", help="audio.echo for the call (default: the profile's)")
    ap.add_argument("--echo-path", type=float, metavar="DB", help="loop the speaker back "
                    "into the microphone at DB (30 ms later), as a kiosk's room does (the echo "
                    "gate's path locks; default: no acoustic path, the gate searching all lags)")
    ap.add_argument("--cprofile", metavar="FILE", help="run the bridge under cProfile (its "
                    "event-loop thread), statistics to FILE (slows it: not for the figures)")
    ap.add_argument("--standby", action="store_true", help="no call: a standby daemon "
                    "waiting for a trigger (its devices closed meanwhile, unless the wake "
                    "word listens)")
    ap.add_argument("--wake-word", help="with --standby: trigger.wake_word (the [wake] extra)")
    args = ap.parse_args()
    ok, why = PulseRig.available()
    if not ok:
        print(f"process CPU benchmark skipped: {why}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="vb-cpu-") as d, \
            PulseRig(rate=args.device_rate, tmpdir=Path(d) / "rig") as rig:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAPI_", "PULSE_"))}
        env.update(rig.env, VAPI_API_KEY=KEY, PYTHONUNBUFFERED="1")
        floor = device_floor(rig, args, env)
        if args.standby:
            cpu, loop_pct, wakes = standby_wait(rig, args, env, Path(d))
            load = os.getloadavg()
            print(f"`vapi-bridge run` in standby, waiting for a trigger: {args.seconds:.0f} s "
                  f"from {STANDBY_SETTLE_S:.0f} s after it is up, rig devices at {rig.rate} "
                  f"Hz; load average {load[0]:.1f} on {os.cpu_count()} cores; the devices "
                  f"open = a process holding the same two streams with callbacks that do "
                  f"nothing")
            print(f"wake word {args.wake_word or 'none':<10} process {cpu:5.2f} % of one core"
                  f"  loop thread {loop_pct:5.2f} %  loop wake-ups / 20 ms {wakes:4.2f}"
                  f"  the devices open {floor:5.2f} %")
            return 0
        if args.echo_path is not None:
            rig.loop_speaker_into_mic(gain_db=args.echo_path, delay_ms=30.0)
        results = [one_call(rig, args, env, Path(d)) for _ in range(args.calls)]
    load = os.getloadavg()
    echo_path = ("no acoustic path" if args.echo_path is None else
                 f"the speaker looped into the microphone at {args.echo_path:g} dB, 30 ms")
    print(f"`vapi-bridge run` during a steady call: rig devices at {rig.rate} Hz, "
          f"{args.block_ms} ms blocks, {args.wire} on the wire, audio.echo "
          f"{args.echo or '(default)'}, speech both ways (echo assistant), {echo_path}; "
          f"{args.seconds:.0f} s window from {WARMUP_S:.0f} s into the call; load average "
          f"{load[0]:.1f} / {load[1]:.1f} (1 / 5 min) on {os.cpu_count()} cores")
    print(f"{'call':<5} {'process CPU %':>14} {'loop thread %':>14} "
          f"{'loop wake-ups / 20 ms':>22}   strace -f (all threads), calls per 20 ms")
    for i, (cpu, loop_pct, wakes, counts, _) in enumerate(results, 1):
        per = "" if counts is None else "  ".join(
            f"{k} {v / (args.strace_seconds / 0.020):.2f}" for k, v in sorted(counts.items()))
        print(f"{i:<5} {cpu:>14.2f} {loop_pct:>14.2f} {wakes:>22.2f}   {per or '—'}")
    print("CPU: % of one core, the whole process and its event-loop thread alone (the rest "
          "is PortAudio's threads: ALSA's pulse plugin on the rig). Wake-ups: the event-loop "
          "thread's voluntary context switches (each time it blocked and was woken). "
          "Target: ≤ 1.5 % of one core, ~2 wake-ups per 20 ms (one each way).")
    print(f"The devices alone (a process holding the same two streams open with callbacks "
          f"that do nothing, same window): {floor:.2f} % of one core. Above that floor, the "
          f"bridge's own: " + ", ".join(f"call {i} {r[0] - floor:.2f} %"
                                        for i, r in enumerate(results, 1)) + ".")
    for i, (*_, summary) in enumerate(results, 1):
        print(f"  call {i}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
