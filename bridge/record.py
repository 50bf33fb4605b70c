"""Call recording: a stereo WAV at the wire rate and a transcript JSONL.

Left is what we sent, right is what the assistant sent. The uplink is paced in real time,
so its sample count is the recording's clock: a downlink chunk is placed at the uplink
position it arrived at (silence fills the gap before it), which keeps the two channels
aligned to within one downlink chunk. The WAV header is rewritten after every block, so
the file is valid even if the process dies; `close()` is called on every ending path.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np

from bridge.audio.files import WavWriter

log = logging.getLogger("bridge.record")

MAX_SKEW_S = 1.0  # downlink silent longer than this: pad its channel so memory stays bounded


def expand_path(template: str, *, call_id: str, profile: str, started: datetime) -> Path:
    stem = template.format(call_id=call_id, profile=profile,
                           started=started.strftime("%Y%m%dT%H%M%SZ"))
    path = Path(stem).expanduser()
    if not path.is_absolute() and os.environ.get("STATE_DIRECTORY"):
        path = Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / path
    return path


class Recorder:
    def __init__(self, template: str, profile: str, rate: int) -> None:
        self.template = template
        self.profile = profile
        self.rate = rate
        self.wav_path: Path | None = None
        self.transcript_path: Path | None = None
        self._wav: WavWriter | None = None
        self._jsonl: IO[str] | None = None
        self._left: list[np.ndarray] = []
        self._right: list[np.ndarray] = []
        self._left_n = self._right_n = self._written = 0
        self._t0 = 0.0

    def open(self, call_id: str) -> None:
        started = datetime.now(UTC)
        stem = expand_path(self.template, call_id=call_id, profile=self.profile,
                           started=started)
        self.wav_path = stem.with_name(stem.name + ".wav")
        self.transcript_path = stem.with_name(stem.name + ".jsonl")
        self._wav = WavWriter(self.wav_path, self.rate, channels=2)
        self._jsonl = self.transcript_path.open("a", encoding="utf-8")
        self._t0 = time.monotonic()
        log.info("recording to %s", self.wav_path)

    # taps: called from the event loop
    def on_uplink(self, frame: np.ndarray) -> None:
        if self._wav is None:
            return
        self._left.append(frame.copy())
        self._left_n += len(frame)
        if self._left_n - self._right_n > MAX_SKEW_S * self.rate:
            self._pad_right(self._left_n - int(0.2 * self.rate))
        self._flush()

    def on_downlink(self, samples: np.ndarray) -> None:
        if self._wav is None:
            return
        self._pad_right(self._left_n)
        self._right.append(samples.copy())
        self._right_n += len(samples)
        self._flush()

    def on_transcript(self, role: str, text: str) -> None:
        if self._jsonl is None:
            return
        line = {"t": round(time.monotonic() - self._t0, 3),
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "role": role, "text": text}
        self._jsonl.write(json.dumps(line) + "\n")
        self._jsonl.flush()

    def _pad_right(self, upto: int) -> None:
        if self._right_n < upto:
            gap = upto - self._right_n
            self._right.append(np.zeros(gap, dtype=np.int16))
            self._right_n += gap

    def _flush(self, final: bool = False) -> None:
        end = max(self._left_n, self._right_n) if final else min(self._left_n, self._right_n)
        n = end - self._written
        if n <= 0 or self._wav is None:
            return
        left = _take(self._left, n)
        right = _take(self._right, n)
        stereo = np.empty((n, 2), dtype=np.int16)
        stereo[:, 0] = left
        stereo[:, 1] = right
        self._wav.write(stereo)
        self._written = end

    def close(self) -> None:
        if self._wav is None:
            return
        try:
            self._flush(final=True)
        finally:
            self._wav.close()
            self._wav = None
            if self._jsonl is not None:
                self._jsonl.close()
                self._jsonl = None
        log.info("recording finished: %s (%.1f s)", self.wav_path, self._written / self.rate)


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
