"""Energy-based voice activity and tone-onset detection on the uplink."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np


def dbfs_to_rms(dbfs: float) -> float:
    return 32768.0 * 10 ** (dbfs / 20.0)


def block_rms(block: np.ndarray) -> float:
    x = block.astype(np.float64)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


@dataclass(frozen=True)
class VadEvent:
    kind: str  # "start" | "stop"
    start: int  # sample position where the speech began
    end: int  # for "stop": end of the last voiced block
    at: int  # sample position at which the decision was made


class _Blocker:
    """Cuts an arbitrary stream of samples into fixed blocks, tracking absolute positions."""

    def __init__(self, block: int) -> None:
        self.block = block
        self._rest = np.zeros(0, dtype=np.int16)
        self.pos = 0  # absolute position of the first sample in _rest

    def blocks(self, samples: np.ndarray) -> list[tuple[int, np.ndarray]]:
        buf = np.concatenate([self._rest, samples]) if len(self._rest) else samples
        out: list[tuple[int, np.ndarray]] = []
        i = 0
        while i + self.block <= len(buf):
            out.append((self.pos + i, buf[i : i + self.block]))
            i += self.block
        self._rest = np.array(buf[i:], dtype=np.int16)
        self.pos += i
        return out


class EnergyVad:
    """Speech starts when 3 of the last 4 10 ms blocks are above the threshold; it stops
    after ``hangover_ms`` without a voiced block. Digital silence and ±3 LSB noise never
    trigger it; espeak-ng speech (around -20 dBFS RMS) always does."""

    def __init__(
        self, rate: int, threshold_dbfs: float = -40.0, hangover_ms: float = 600.0
    ) -> None:
        self.rate = rate
        self.threshold = dbfs_to_rms(threshold_dbfs)
        self.hangover = int(rate * hangover_ms / 1000.0)
        self._blocker = _Blocker(max(1, rate // 100))
        self._recent: deque[tuple[int, bool]] = deque(maxlen=4)
        self.in_speech = False
        self.start = 0
        self.last_voiced_end = 0

    def reset(self) -> None:
        self._recent.clear()
        self.in_speech = False

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        events: list[VadEvent] = []
        for pos, block in self._blocker.blocks(samples):
            voiced = block_rms(block) >= self.threshold
            end = pos + len(block)
            if not self.in_speech:
                self._recent.append((pos, voiced))
                if sum(v for _, v in self._recent) >= 3:
                    self.in_speech = True
                    self.start = next(p for p, v in self._recent if v)
                    self.last_voiced_end = end
                    events.append(VadEvent("start", self.start, end, end))
            elif voiced:
                self.last_voiced_end = end
            elif end - self.last_voiced_end >= self.hangover:
                self.in_speech = False
                self._recent.clear()
                events.append(VadEvent("stop", self.start, self.last_voiced_end, end))
        return events


class OnsetDetector:
    """Finds tone onsets (a 5 ms block above threshold after >= 100 ms below) and estimates
    each tone's frequency from the 30 ms that follow."""

    def __init__(self, rate: int, threshold_dbfs: float = -40.0) -> None:
        self.rate = rate
        self.threshold = dbfs_to_rms(threshold_dbfs)
        self._blocker = _Blocker(max(1, rate // 200))
        self._quiet_needed = int(rate * 0.1)
        self._quiet = self._quiet_needed
        self._pending: int | None = None
        self._collect: list[np.ndarray] = []
        self._want = max(8, int(rate * 0.03))

    def feed(self, samples: np.ndarray) -> list[tuple[str, int, float]]:
        """Returns ("onset", pos, 0.0) at once and ("freq", pos, hz) when known."""
        out: list[tuple[str, int, float]] = []
        for pos, block in self._blocker.blocks(samples):
            loud = block_rms(block) >= self.threshold
            if self._pending is not None:
                self._collect.append(block)
                if sum(len(b) for b in self._collect) >= self._want:
                    out.append(("freq", self._pending, self._estimate()))
                    self._pending = None
            if loud:
                if self._quiet >= self._quiet_needed and self._pending is None:
                    self._pending = pos
                    self._collect = [block]
                    out.append(("onset", pos, 0.0))
                self._quiet = 0
            else:
                self._quiet += len(block)
        return out

    def mark(self, samples: np.ndarray, mono: float, markers: list[dict[str, Any]]) -> None:
        """Feed ``samples`` arriving at ``mono``: each onset appends a tone marker to
        ``markers`` (the record's uplink markers), its ``freq`` filled in once known."""
        for kind, pos, hz in self.feed(samples):
            if kind == "onset":
                at = round(pos / self.rate, 6)
                markers.append({"arrivalMonotonic": mono, "streamSeconds": at, "freq": None,
                                "kind": "tone", "_pos": pos})
                continue
            for m in markers:
                if m.get("_pos") == pos:
                    m["freq"] = round(hz, 1)
                    del m["_pos"]

    def _estimate(self) -> float:
        x = np.concatenate(self._collect).astype(np.float64)
        x = x * np.hanning(len(x))
        n = 1 << max(12, int(np.ceil(np.log2(len(x)))))
        spec = np.abs(np.fft.rfft(x, n))
        k = int(np.argmax(spec[1:])) + 1
        if 1 <= k < len(spec) - 1:
            a, b, c = spec[k - 1], spec[k], spec[k + 1]
            denom = a - 2 * b + c
            k = k + (0.5 * (a - c) / denom if denom else 0.0)
        return float(k * self.rate / n)
