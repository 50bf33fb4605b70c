"""Call recording: a stereo WAV at the wire rate and a transcript JSONL.

Left is what was sent (after echo control); right is what the speaker actually played
(after the playout buffer: flushes, underruns and silence included), taken from a ring the
sink's consumer fills with every block it plays. Both legs are placed on one clock, where
their sound was heard at the kiosk: each frame sent where its start was captured (the
input device's capture clock, less what the resampler and framer still held), each stretch
played where the speaker makes it heard (the output device's clock, stamped on the played
ring). Each leg is a continuous stream of its device's samples, so the placement only
decides the legs' offset, from the first half second (nothing is written before), and
fills with silence any time a leg lost later (the event loop stalled, a device reopened).
The network never moves either leg — a burst, a stall or an oversized frame only changes
what the speaker plays — so the file lasts as long as the call, and speech has no gaps.
The WAV header is rewritten after every block, so the file is valid even if the process
dies; `close()` is called on every ending path.
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

SLACK_S = 0.015  # a leg this far behind its clock has lost time (a stall): pad it
SETTLE_TICKS = 25  # uplink ticks over which the legs' offset is measured


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
        self._left = _Leg("sent")
        self._right = _Leg("speaker")
        self._written = 0
        self._t0 = 0.0
        self._speaker: SampleRing | None = None
        self._resampler: Resampler | None = None
        self._frame_captured_at: Callable[[], float] | None = None
        self._ref: float | None = None  # the instant at the WAV's start (monotonic)
        self._base: int | None = None  # how far both legs lag their clocks, once settled

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

    def attach_speaker(self, played: SampleRing, device_rate: int,
                       frame_captured_at: Callable[[], float]) -> None:
        """`played` receives every block the speaker plays (at `device_rate`), stamped
        with when it is heard; `frame_captured_at()` says when the start of the latest
        frame sent was captured."""
        self._speaker = played
        self._resampler = Resampler(device_rate, self.rate)
        self._frame_captured_at = frame_captured_at

    # called from the event loop, once per uplink tick
    def on_uplink(self, frame: np.ndarray) -> None:
        if self._wav is None:
            return
        captured = (self._frame_captured_at() if self._frame_captured_at is not None
                    else self._clock() - len(frame) / self.rate)
        if self._ref is None:
            self._ref, self._t0 = captured, self._clock()
            if self._speaker is not None:
                self._speaker.take()  # played before the call: not part of it
        self._place(self._left, captured)
        self._left.add(frame.copy())
        self._take_played()
        if self._base is None and len(self._left.lags) >= SETTLE_TICKS:
            self._settle()
        self._flush()

    def _take_played(self) -> None:
        if self._speaker is None or self._resampler is None:
            self._right.pad(self._left.n)  # no speaker to hear: silence
            return
        first = self._right.n == 0
        played = self._resampler.process(self._speaker.take())
        heard = self._speaker.time_of(self._speaker.r)  # when the end of it is heard
        if heard is None:
            heard = self._clock()
        heard -= (self._resampler.held_ms + len(played) * 1000.0 / self.rate) / 1000.0
        self._place(self._right, heard)
        self._right.add(played)
        if first and self._right.n:
            self._right.padded = 0  # the speaker's latency, not lost time

    def _place(self, leg: _Leg, at: float) -> None:
        """Pad `leg` with silence up to where the instant `at` lies when it has fallen
        behind that by more than `SLACK_S`: time its source lost (a stall)."""
        assert self._ref is not None
        target = round((at - self._ref) * self.rate) - (self._base or 0)
        if self._base is None:
            leg.lags.append(target - leg.n)
        if leg.n < target - round(SLACK_S * self.rate):
            if self._base is not None:
                log.info("recording: the %s leg lost %.0f ms at %.2f s", leg.name,
                          (target - leg.n) * 1000.0 / self.rate, leg.n / self.rate)
            leg.pad(target)

    def _settle(self) -> None:
        """After the first half second (nothing is written before): how far each leg's
        samples lag where their clock puts them (the median, against the jitter of the first
        ticks); the leg that lags less gets the difference as silence at its start, so an
        instant lies at the same place on both."""
        lags = [sorted(leg.lags)[len(leg.lags) // 2] if leg.lags else 0
                for leg in (self._left, self._right)]
        for leg, lag in zip((self._left, self._right), lags, strict=True):
            extra = lag - min(lags)
            leg.chunks.insert(0, np.zeros(extra, dtype=np.int16))
            leg.n += extra
        self._base = min(lags)
        log.info("recording: the speaker's leg placed %.0f ms after the sent one",
                 (self._right.n - self._left.n) * 1000.0 / self.rate)

    def on_transcript(self, role: str, text: str) -> None:
        if self._jsonl is None:
            return
        line = {"t": round(self._clock() - self._t0, 3),
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "role": role, "text": text}
        self._jsonl.write(json.dumps(line) + "\n")
        self._jsonl.flush()

    def _flush(self, final: bool = False) -> None:
        if self._base is None:
            if not final:
                return  # the legs' offset is not settled yet
            self._settle()
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
            if self._ref is not None:
                self._take_played()
            self._flush(final=True)
        finally:
            self._wav.close()
            self._wav = None
            if self._jsonl is not None:
                self._jsonl.close()
                self._jsonl = None
        ms = 1000.0 / self.rate
        log.info("recording finished: %s (%.1f s; time lost and filled with silence: sent "
                 "%.0f ms, speaker %.0f ms)", self.wav_path, self._written / self.rate,
                 self._left.padded * ms, self._right.padded * ms)


class _Leg:
    """One channel's samples not yet written, and how many it has had in all."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chunks: list[np.ndarray] = []
        self.n = 0
        self.padded = 0
        self.lags: list[int] = []  # how far behind its clock, over the first ticks

    def add(self, samples: np.ndarray) -> None:
        if len(samples):
            self.chunks.append(samples)
            self.n += len(samples)

    def pad(self, upto: int) -> None:
        """Silence up to `upto`: time this leg's source lost (counted in `padded`)."""
        if self.n < upto:
            self.padded += upto - self.n
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
