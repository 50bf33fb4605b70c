"""Soak: N calls in `loop` mode against the simulator, each with a randomly chosen fault.

The real daemon (`bridge.service.daemon.Daemon`) runs in this process with headless audio (a
`NullSource` microphone, a `ClockedSink` speaker pulled in real time) and records every
call; the simulator runs in a child process so that its own memory (it keeps every call's
audio) is not counted. Each call draws a fault (or none: a normal short call) and a
`maxDurationSeconds` of 1 or 2 s. After the first call and after the last, with the daemon
between calls, it measures this process's RSS, open file descriptors and asyncio tasks;
it also compares them before the daemon starts and after it returns.

    .venv/bin/python benchmarks/soak.py              # 200 calls, a few minutes
    .venv/bin/python benchmarks/soak.py --calls 20 --seed 7

Target: 0 leaked descriptors and tasks, RSS growth under 5 MB (exit code 1 otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import gc
import io
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.audio.files import ClockedSink, NullSource  # noqa: E402
from bridge.profile import load_profile  # noqa: E402
from bridge.service.daemon import Daemon  # noqa: E402

KEY = "soak-private-key"
RSS_LIMIT_MB = 5.0
# (fault spec or None, weight). Mid-call faults fire within the 1–2 s calls.
FAULTS: list[tuple[str | None, float]] = [
    (None, 8.0),
    ("http-429", 1.0), ("http-500", 1.0), ("http-500=1", 0.0),  # =N counts per simulator
    ("http-hang", 0.7),
    ("connect-delay=500", 1.0),
    ("ws-close-1006=0.6", 1.5),
    ("ws-drop=0.5@1.5", 1.0),  # dead socket, then TCP abort
    ("ws-drop=0.5@30", 0.25),  # dead socket caught by the downlink-silence watchdog
    ("malformed-json=0.2", 1.0), ("odd-binary", 1.0), ("stall=600@0.4", 1.0),
    ("burst=0.4", 1.0), ("jitter=60", 1.0), ("delay-in-progress=300", 0.7),
    ("hang=300", 0.5), ("wrapped-events", 0.7), ("spec-shapes", 0.7),
    ("end-close=1000", 0.4), ("end-close=1001", 0.4), ("end-close=1005", 0.4),
    ("end-close=1006", 0.6),
]


@dataclass
class Snapshot:
    rss_kb: int
    fds: int
    tasks: int
    task_names: collections.Counter[str] = field(default_factory=collections.Counter)

    @classmethod
    def take(cls) -> Snapshot:
        gc.collect()
        rss = 0
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        try:
            tasks = asyncio.all_tasks()
        except RuntimeError:  # no running loop
            tasks = set()
        names = collections.Counter(_task_kind(t) for t in tasks)
        return cls(rss, len(os.listdir("/proc/self/fd")), len(tasks), names)


def _task_kind(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or task.get_name()


@dataclass
class CallResult:
    fault: str | None
    code: int
    outcome: str
    seconds: float


class ErrorTap(logging.Handler):
    """Remembers the daemon's last error line (a failed call has no summary)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


def classify(error: str) -> str:
    if m := re.search(r"\): (.+?) after \d+ attempts", error):
        return f"api: {m.group(1)}"
    if m := re.search(r"cannot open the call socket \((\w+)\)", error):
        return f"call socket: {m.group(1)}"
    return f"error: {error[:60]}"


class SoakDaemon(Daemon):
    """The daemon, drawing a fault and a call length before each call, and measuring."""

    def __init__(self, *args: object, calls: int, rng: random.Random, tap: ErrorTap,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls = calls
        self.rng = rng
        self.tap = tap
        self.results: list[CallResult] = []
        self.first: Snapshot | None = None
        self.last: Snapshot | None = None
        self._specs = [f for f, w in FAULTS if w > 0]
        self._weights = [w for _, w in FAULTS if w > 0]

    async def call_once(self) -> int:
        self.fault = self.rng.choices(self._specs, self._weights)[0]
        assistant = self.profile.assistant
        overrides = {**assistant.overrides, "maxDurationSeconds": self.rng.choice((1, 2))}
        self.profile = dataclasses.replace(
            self.profile, assistant=dataclasses.replace(assistant, overrides=overrides))
        before, self.tap.last = self.last_summary, ""
        started = time.monotonic()
        code = await super().call_once()
        if self.last_summary is not before and self.last_summary is not None:
            outcome = self.last_summary.ended_reason
        else:
            outcome = classify(self.tap.last)
        self.results.append(CallResult(self.fault, code, outcome, time.monotonic() - started))
        n = len(self.results)
        if n == 1 or n >= self.calls:
            for _ in range(5):  # let cancelled tasks of the call finish
                await asyncio.sleep(0.02)
            snap = Snapshot.take()
            if n == 1:
                self.first = snap
            else:
                self.last = snap
                self.stopping.set()
        if n % 20 == 0:
            print(f"  {n} calls, RSS {Snapshot.take().rss_kb / 1024:.1f} MB", file=sys.stderr,
                  flush=True)
        return code


def start_simulator() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.sim", "--port", "0", "--speech", "tones",
         "--api-key", KEY], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(http://\S+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return proc, m.group(1)


def write_profile(directory: Path, base_url: str) -> Path:
    data = {
        "api": {"base_url": base_url, "key_env": "SOAK_SIM_KEY", "retry_attempts": 2,
                "retry_max_delay_seconds": 1, "timeout_seconds": 1},
        "assistant": {"id": "echo", "overrides": {"firstMessage": "Hello."}},
        "audio": {"input": "null", "output": "null"},
        "call": {"end_timeout_seconds": 1},
        "record": {"path": str(directory / "rec" / "{call_id}")},
        "service": {"mode": "loop", "loop_delay_seconds": 0.05, "max_backoff_seconds": 1,
                    "control_socket": str(directory / "ctl.sock")},
        "transcript": {"print": "off"},
    }
    path = directory / "soak.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def valid_recordings(directory: Path) -> tuple[int, int]:
    good = total = 0
    for wav in (directory / "rec").glob("*.wav"):
        total += 1
        with contextlib.suppress(wave.Error, EOFError, OSError), wave.open(str(wav)) as w:
            frames = w.getnframes()
            if w.getnchannels() == 2 and wav.stat().st_size == 44 + frames * 4:
                good += 1
    return good, total


async def soak(calls: int, seed: int, directory: Path, base_url: str) -> int:
    os.environ["SOAK_SIM_KEY"] = KEY
    profile = load_profile(str(write_profile(directory, base_url)))
    rate = profile.wire.sample_rate
    tap = ErrorTap()
    logging.getLogger("bridge").addHandler(tap)
    stop = asyncio.Event()
    daemon = SoakDaemon(profile, audio=(NullSource(rate), ClockedSink(rate)), stop=stop,
                        calls=calls, rng=random.Random(seed), tap=tap)
    outside_before = Snapshot.take()
    started = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):  # the per-call summary lines
        code = await daemon.run()
    elapsed = time.monotonic() - started
    for _ in range(5):
        await asyncio.sleep(0.02)
    outside_after = Snapshot.take()
    return report(daemon, code, elapsed, outside_before, outside_after, directory)


def report(daemon: SoakDaemon, code: int, elapsed: float, before: Snapshot, after: Snapshot,
           directory: Path) -> int:
    results = daemon.results
    first, last = daemon.first, daemon.last
    assert first is not None and last is not None
    print(f"\nsoak: {len(results)} calls in {elapsed:.0f} s (daemon exit {code})")
    print("ended by:")
    for outcome, n in collections.Counter(r.outcome for r in results).most_common():
        print(f"  {n:5d}  {outcome}")
    faults = collections.Counter(r.fault or "(none)" for r in results)
    print("faults drawn: " + ", ".join(f"{f} {n}" for f, n in sorted(faults.items())))
    slowest = max(results, key=lambda r: r.seconds)
    print(f"longest call: {slowest.seconds:.1f} s ({slowest.fault or 'no fault'}: "
          f"{slowest.outcome})")
    good, total = valid_recordings(directory)
    print(f"recordings: {good} of {total} valid stereo WAVs")
    rss_growth = (last.rss_kb - first.rss_kb) / 1024
    print(f"\n{'':24}{'after call 1':>14}{f'after call {len(results)}':>16}{'growth':>10}")
    print(f"{'RSS (MB)':24}{first.rss_kb / 1024:14.1f}{last.rss_kb / 1024:16.1f}"
          f"{rss_growth:+10.1f}")
    print(f"{'open descriptors':24}{first.fds:14d}{last.fds:16d}{last.fds - first.fds:+10d}")
    print(f"{'asyncio tasks':24}{first.tasks:14d}{last.tasks:16d}{last.tasks - first.tasks:+10d}")
    if first.task_names != last.task_names:
        print(f"  tasks after call 1: {dict(first.task_names)}")
        print(f"  tasks at the end:   {dict(last.task_names)}")
    print(f"{'whole run':24}{'before':>14}{'after':>16}")
    print(f"{'  open descriptors':24}{before.fds:14d}{after.fds:16d}{after.fds - before.fds:+10d}")
    print(f"{'  asyncio tasks':24}{before.tasks:14d}{after.tasks:16d}"
          f"{after.tasks - before.tasks:+10d}")
    print(f"{'  RSS (MB)':24}{before.rss_kb / 1024:14.1f}{after.rss_kb / 1024:16.1f}")
    leaks = (last.fds - first.fds, last.tasks - first.tasks, after.fds - before.fds,
             after.tasks - before.tasks)
    ok = all(n <= 0 for n in leaks) and rss_growth < RSS_LIMIT_MB and good == total
    print(f"\ntarget (0 leaked descriptors and tasks, RSS growth < {RSS_LIMIT_MB:.0f} MB, every "
          f"recording valid): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the recordings and log")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="soak-", dir="/tmp"))
    logging.basicConfig(filename=directory / "daemon.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sim, base_url = start_simulator()
    print(f"soak: {args.calls} calls against the simulator at {base_url} (seed {args.seed}); "
          f"log {directory / 'daemon.log'}", flush=True)
    try:
        return asyncio.run(soak(args.calls, args.seed, directory, base_url))
    finally:
        sim.terminate()
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
