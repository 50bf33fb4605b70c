"""`listen --verify`: which listen channel carries which leg of the call.

The reference is the daemon's own recording of the call (`record.path`: left = what this
bridge sent, right = what its speaker played — what it received, later by the playout
delay — at the wire rate, on one clock). The
daemon tells where that recording stood when the listener asked (`sentSeconds`), so the
listen stream is searched for only within ±`WINDOW_S` of that point: an echoing
assistant repeats the visitor seconds later, and an unbounded search would match the
echo too. Each listen channel is correlated (normalised, best lag in the window) with
each leg; the pairing with the larger total wins.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.audio.base import level_dbfs, show_dbfs
from bridge.audio.resample import resample_all

WINDOW_S = 1.0
BLOCK_S = 0.5
ACTIVE_DBFS = -50.0  # blocks quieter than this (pauses, near-silence) are not compared
SILENT_DBFS = -60.0
CONFIDENT = 0.5  # each matched channel's correlation at least this
MARGIN = 0.2  # and the winning pairing this much better than the other
LEGS = ("sent", "received")
PARTY = {"sent": "customer (what this bridge sent: the visitor)",
         "received": "assistant (what this bridge received)"}


@dataclass
class ChannelMatch:
    channel: int
    label: str | None
    corr: dict[str, float]  # leg -> best normalised correlation
    lag_s: dict[str, float]  # leg -> listen start relative to the hint
    level_db: float

    @property
    def silent(self) -> bool:
        return self.level_db < SILENT_DBFS


@dataclass
class Report:
    channels: list[ChannelMatch]
    mapping: dict[int, str] | None  # channel -> leg, when confident
    note: str

    def lines(self) -> list[str]:
        out = []
        for m in self.channels:
            label = f" (announced as {m.label!r})" if m.label else ""
            scores = ", ".join(f"{leg} r={m.corr[leg]:.2f}" for leg in LEGS)
            where = f" → {PARTY[self.mapping[m.channel]]}" if self.mapping else ""
            out.append(f"channel {m.channel}{label}: {scores}, level {show_dbfs(m.level_db)}"
                       f"{where}")
        out.append(self.note)
        return out


def read_segment(path: Path, start_s: float, seconds: float) -> tuple[np.ndarray, int, float]:
    """(stereo int16 samples, rate, actual start in seconds) of a recording."""
    with wave.open(str(path), "rb") as w:
        rate, channels, total = w.getframerate(), w.getnchannels(), w.getnframes()
        first = min(max(0, int(start_s * rate)), total)
        w.setpos(first)
        raw = w.readframes(min(total - first, int(seconds * rate) + 1))
    data = np.frombuffer(raw, dtype="<i2").astype(np.int16).reshape(-1, channels)
    return data, rate, first / rate


def best_lag(x: np.ndarray, y: np.ndarray, lo: int, hi: int) -> tuple[float, int]:
    """Max over lags k in [lo, hi] of the normalised correlation of x with y[k:k+len(x)]."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    n = len(x) + len(y) - 1
    nfft = 1 << (n - 1).bit_length()
    c = np.fft.irfft(np.fft.rfft(y, nfft) * np.conj(np.fft.rfft(x, nfft)), nfft)
    ex = float(np.sum(x * x))
    ks = np.arange(max(lo, -len(x) + 1), min(hi, len(y) - 1) + 1)
    if ex <= 0 or not len(ks):
        return 0.0, lo
    csum = np.concatenate(([0.0], np.cumsum(y * y)))
    ey = csum[np.minimum(len(y), ks + len(x))] - csum[np.maximum(0, ks)]
    ncc = np.where(ey > 0, c[ks % nfft] / np.sqrt(ex * np.maximum(ey, 1e-12)), 0.0)
    i = int(np.argmax(ncc))
    return float(ncc[i]), int(ks[i])


def blockwise(x: np.ndarray, y: np.ndarray, centre: int, window: int, rate: int
              ) -> tuple[float, float]:
    """Energy-weighted mean over `BLOCK_S` blocks of x of each block's best correlation with
    y near where it should be, and the median lag (s) against that place. The daemon's
    recording holds what its speaker played, later than Vapi sent it by a playout delay
    that varies (tens of ms, more after a burst): one lag for the whole stream would
    understate a true match."""
    n = int(BLOCK_S * rate)
    scores, weights, lags = [], [], []
    for start in range(0, max(1, len(x) - n // 2), n):
        block = x[start:start + n]
        if level_dbfs(block) < ACTIVE_DBFS:
            continue
        at = centre + start
        r, k = best_lag(block, y, at - window, at + window)
        scores.append(r)
        weights.append(float(np.sum(np.square(block, dtype=np.float64))))
        lags.append((k - at) / rate)
    if not scores:
        return 0.0, 0.0
    return float(np.average(scores, weights=weights)), float(np.median(lags))


def correlate(listen: np.ndarray, listen_rate: int, labels: tuple[str, ...] | None,
              recording: Path, offset_s: float) -> Report:
    """`listen` (frames, channels) int16 began `offset_s` into the daemon's recording."""
    duration = len(listen) / listen_rate
    ref, ref_rate, start = read_segment(recording, offset_s - WINDOW_S, duration + 2 * WINDOW_S)
    legs = {leg: resample_all(np.ascontiguousarray(ref[:, i]), ref_rate, listen_rate)
            for i, leg in enumerate(LEGS)}
    centre = int((offset_s - start) * listen_rate)
    window = int(WINDOW_S * listen_rate)
    matches = []
    for ch in range(listen.shape[1]):
        x = listen[:, ch]
        corr, lag = {}, {}
        for leg, y in legs.items():
            corr[leg], lag[leg] = blockwise(x, y, centre, window, listen_rate)
        label = labels[ch] if labels and ch < len(labels) else None
        matches.append(ChannelMatch(ch, label, corr, lag, level_dbfs(x)))
    return decide(matches, legs)


def decide(matches: list[ChannelMatch], legs: dict[str, np.ndarray]) -> Report:
    if len(matches) != 2:
        return Report(matches, None, f"inconclusive: the listen stream has {len(matches)} "
                                     f"channel(s), not 2")
    silent_legs = [leg for leg, y in legs.items() if level_dbfs(y) < SILENT_DBFS]
    if silent_legs:
        return Report(matches, None, f"inconclusive: what this bridge {silent_legs[0]} was "
                                     f"silent during the listen; speak (or play a file) and "
                                     f"retry")
    if quiet := [m for m in matches if m.silent]:  # (the legs' check spans ±WINDOW_S more)
        return Report(matches, None, f"inconclusive: channel {quiet[0].channel} of the "
                                     f"listen stream carried no sound "
                                     f"({show_dbfs(quiet[0].level_db, 'digital zero')}): "
                                     f"nobody spoke on it while it listened; listen while "
                                     f"both the visitor (or a file: input) and the assistant "
                                     f"speak, and retry")
    a, b = matches
    straight = a.corr["sent"] + b.corr["received"]
    crossed = a.corr["received"] + b.corr["sent"]
    mapping = {0: "sent", 1: "received"} if straight >= crossed else {0: "received", 1: "sent"}
    weakest = min(matches[ch].corr[leg] for ch, leg in mapping.items())
    if weakest < CONFIDENT or abs(straight - crossed) < MARGIN:
        return Report(matches, None, f"inconclusive: the best pairing scores {weakest:.2f} "
                                     f"(need {CONFIDENT}) with a margin of "
                                     f"{abs(straight - crossed):.2f} (need {MARGIN})")
    customer = next(ch for ch, leg in mapping.items() if leg == "sent")
    note = f"verified: channel {customer} is the customer, channel {1 - customer} the assistant"
    label = matches[customer].label
    if label and label != "customer":
        note += f" — but the server announced channel {customer} as {label!r}"
    return Report(matches, mapping, note)
