"""Call recording: a stereo WAV at the wire rate and a transcript JSONL.

Left is what was sent (after echo control); right is what the speaker actually played
(after the playout buffer: flushes, underruns and silence included), taken from a ring the
sink's consumer fills with every block it plays. Both legs are on one clock, the
uplink's real-time ticks: at each tick the frame sent goes on the left, and what the
speaker played since the last tick (resampled to the wire rate) goes on the right. The
network never moves either leg (a burst, a stall or an oversized frame only changes what
the speaker plays), so the file lasts as long as the call and speech has no gaps. Each
leg is placed where it was heard: the right leg is delayed by the output and input
latencies (and the resamplers' delays), so a sound the microphone picked up from the
speaker lies at the same place on both legs. A leg whose source stopped (the event loop
stalled, a device reopened) is padded with silence up to the clock. The WAV header is
rewritten after every block, so the file is valid even if the process dies; `close()` is
called on every ending path.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np

from bridge.audio.files import WavWriter
from bridge.audio.resample import Resampler
from bridge.audio.ring import SampleRing

log = logging.getLogger("bridge.record")

SLACK_S = 0.06  # a leg this far behind the clock has lost time (a stall): pad it


def expand_path(template: str, *, call_id: str, profile: str, started: datetime) -> Path:
    stem = template.format(call_id=call_id, profile=profile,
                           started=started.strftime("%Y%m%dT%H%M%SZ"))
    path = Path(stem).expanduser()
    if not path.is_absolute() and os.environ.get("STATE_DIRECTORY"):
        path = Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / path
    return path


class Recorder:
    def __init__(self, template: str, profile: str, rate: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.template = template
        self.profile = profile
        self.rate = rate
        self.wav_path: Path | None = None
        self.transcript_path: Path | None = None
        self._wav: WavWriter | None = None
        self._jsonl: IO[str] | None = None
        self._clock = clock
        self._left = _Leg()
        self._right = _Leg()
        self._written = 0
        self._t0 = 0.0
        self._start: float | None = None  # the clock's zero: the first frame sent
        self._speaker: SampleRing | None = None
        self._resampler: Resampler | None = None
        self._shift = 0

    def open(self, call_id: str) -> None:
        started = datetime.now(UTC)
        stem = expand_path(self.template, call_id=call_id, profile=self.profile,
                           started=started)
        self.wav_path = stem.with_name(stem.name + ".wav")
        self.transcript_path = stem.with_name(stem.name + ".jsonl")
        self._wav = WavWriter(self.wav_path, self.rate, channels=2)
        self._jsonl = self.transcript_path.open("a", encoding="utf-8")
        self._t0 = self._clock()
        log.info("recording to %s", self.wav_path)

    def attach_speaker(self, played: SampleRing, device_rate: int, latency_ms: float) -> None:
        """`played` receives every block the speaker plays (at `device_rate`); `latency_ms`
        is how long after the uplink sends a sound the speaker's copy of the same instant
        is heard: output + input latency and the uplink resampler's delay."""
        self._speaker = played
        self._resampler = Resampler(device_rate, self.rate)
        shift_ms = latency_ms - self._resampler.delay_ms
        self._shift = max(0, round(shift_ms * self.rate / 1000))

    # called from the event loop, once per uplink tick
    def on_uplink(self, frame: np.ndarray) -> None:
        if self._wav is None:
            return
        now = self._clock()
        if self._start is None:
            self._start = self._t0 = now
            if self._speaker is not None:
                self._speaker.take()  # played before the call: not part of it
            self._right.pad(self._shift)
        clock = round((now - self._start) * self.rate)
        self._left.pad(clock - len(frame) - round(SLACK_S * self.rate))
        self._left.add(frame.copy())
        self._take_played(clock)
        self._flush()

    def _take_played(self, clock: int) -> None:
        if self._speaker is None or self._resampler is None:
            self._right.pad(self._left.n)  # no speaker to hear: silence
            return
        self._right.add(self._resampler.process(self._speaker.take()))
        self._right.pad(clock + self._shift - round(SLACK_S * self.rate))

    def on_transcript(self, role: str, text: str) -> None:
        if self._jsonl is None:
            return
        line = {"t": round(self._clock() - self._t0, 3),
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "role": role, "text": text}
        self._jsonl.write(json.dumps(line) + "\n")
        self._jsonl.flush()

    def _flush(self, final: bool = False) -> None:
        left, right = self._left.n, self._right.n
        end = max(left, right) if final else min(left, right)
        n = end - self._written
        if n <= 0 or self._wav is None:
            return
        stereo = np.empty((n, 2), dtype=np.int16)
        stereo[:, 0] = self._left.take(n)
        stereo[:, 1] = self._right.take(n)
        self._wav.write(stereo)
        self._written = end

    def close(self) -> None:
        if self._wav is None:
            return
        try:
            if self._start is not None:
                self._take_played(self._left.n - self._shift)
            self._flush(final=True)
        finally:
            self._wav.close()
            self._wav = None
            if self._jsonl is not None:
                self._jsonl.close()
                self._jsonl = None
        log.info("recording finished: %s (%.1f s)", self.wav_path, self._written / self.rate)


class _Leg:
    """One channel's samples not yet written, and how many it has had in all."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.n = 0

    def add(self, samples: np.ndarray) -> None:
        if len(samples):
            self.chunks.append(samples)
            self.n += len(samples)

    def pad(self, upto: int) -> None:
        if self.n < upto:
            self.add(np.zeros(upto - self.n, dtype=np.int16))

    def take(self, n: int) -> np.ndarray:
        return _take(self.chunks, n)


def _take(chunks: list[np.ndarray], n: int) -> np.ndarray:
    """Remove and return the first n samples of a chunk list (zeros where it runs out)."""
    out = np.zeros(n, dtype=np.int16)
    filled = 0
    while chunks and filled < n:
        head = chunks[0]
        k = min(len(head), n - filled)
        out[filled:filled + k] = head[:k]
        filled += k
        if k == len(head):
            chunks.pop(0)
        else:
            chunks[0] = head[k:]
    return out
