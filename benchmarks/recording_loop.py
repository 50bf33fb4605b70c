"""What a slow disk costs the event loop while a call is recorded.

Runs the real uplink (paced in real time, one 20 ms frame per tick) with the real recorder
as its tap and a clocked null sink as the speaker, for `--seconds` per case. The disk is
simulated (the one stand-in here): every `write()` to the recording's files takes `delay`
ms, and with `stall` one write in every 3 s blocks for 500 ms, as an SD card does when its
controller erases. Printed per case: the time the recorder's tap takes on the event loop
per tick (median, 99th percentile, worst), the uplink's worst lateness after a deadline,
how many times it had to restart its schedule (a stall over 60 ms), the seconds of audio
the WAV holds against the seconds the uplink sent, and how long `aclose()` took (the
writer thread draining; the playout's tail first).

    .venv/bin/python benchmarks/recording_loop.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import statistics
import tempfile
import time
import wave
from typing import Any

import numpy as np

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink, NullSource
from bridge.call.recording import Recorder
from bridge.call.uplink import Uplink

RATE = 16000
CASES = [("a fast disk", 0.0, False), ("every write 5 ms", 5.0, False),
         ("every write 30 ms", 30.0, False), ("5 ms + a 500 ms stall every 3 s", 5.0, True)]


class SlowFile:
    """A real file whose every write first waits, as on a slow card."""

    def __init__(self, f: Any, delay_s: float, stall: bool) -> None:
        self._f, self._delay, self._stall = f, delay_s, stall

    def write(self, data: Any) -> int:
        global _next_stall
        now = time.monotonic()
        if self._stall and now >= _next_stall:
            _next_stall = now + 3.0
            time.sleep(0.5)
        time.sleep(self._delay)
        return self._f.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> SlowFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


_next_stall = 0.0


def slow_disk(root: pathlib.Path, delay_ms: float, stall: bool) -> None:
    real_open = pathlib.Path.open

    def slow_open(self: pathlib.Path, *args: Any, **kw: Any) -> Any:
        f = real_open(self, *args, **kw)
        return SlowFile(f, delay_ms / 1000, stall) if root in self.parents else f

    pathlib.Path.open = slow_open  # type: ignore[method-assign]


async def one_case(seconds: float, delay_ms: float, stall: bool) -> dict[str, float]:
    global _next_stall
    real_open = pathlib.Path.open
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        slow_disk(root, delay_ms, stall)
        try:
            recorder = Recorder(str(root / "rec"), "bench", RATE)
            sink, source = ClockedSink(RATE, None), NullSource(RATE)
            taps: list[float] = []

            def tap(frame: np.ndarray) -> None:
                t = time.perf_counter()
                recorder.on_uplink(frame)
                taps.append(time.perf_counter() - t)

            async def send(_: bytes) -> None:
                return None

            uplink = Uplink(source, codec_for("pcm_s16le"), RATE, send, tap=tap)
            recorder.attach_speaker(sink, uplink.frame_captured_at)
            recorder.open("bench")
            _next_stall = time.monotonic() + 1.0
            sink.start()
            task = asyncio.create_task(uplink.run())
            for i in range(int(seconds)):
                await asyncio.sleep(1.0)
                recorder.on_transcript("user", f"line {i}")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            sink.close()
            t = time.perf_counter()
            await recorder.aclose()
            closing = time.perf_counter() - t
            assert recorder.wav_path is not None
            with wave.open(str(recorder.wav_path), "rb") as w:
                kept = w.getnframes() / w.getframerate()
        finally:
            pathlib.Path.open = real_open  # type: ignore[method-assign]
    ms = sorted(t * 1000 for t in taps)
    stats = uplink.stats
    return {"p50": statistics.median(ms), "p99": ms[int(len(ms) * 0.99)], "max": ms[-1],
            "late": stats.max_lateness_ms, "resyncs": stats.late_ticks,
            "kept": kept, "lasted": stats.sent_seconds, "close": closing * 1000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    print(f"{'disk':34} {'tap on the loop per tick, ms':>30} {'uplink worst':>13} "
          f"{'restarts':>9} {'WAV s / sent s':>15} {'aclose':>10}")
    print(f"{'':34} {'median':>10}{'p99':>10}{'worst':>10} {'late, ms':>13} {'':>25} {'ms':>10}")
    for name, delay, stall in CASES:
        r = asyncio.run(one_case(args.seconds, delay, stall))
        print(f"{name:34} {r['p50']:10.3f}{r['p99']:10.2f}{r['max']:10.1f} {r['late']:13.1f} "
              f"{r['resyncs']:9.0f} {r['kept']:7.2f} / {r['lasted']:5.2f} {r['close']:10.1f}")


if __name__ == "__main__":
    main()
