"""Small numpy signal helpers shared by the audio-rig tests and benchmarks.

Level conventions (used consistently below):

* ``rms_db(x)`` is the RMS level in dB relative to full scale, where full scale is 32768 for
  int16 input and 1.0 for float input. A full-scale sine therefore reads −3.01 dB.
* ``tone(..., level_db)`` and ``find_onsets(..., threshold_db)`` use the *peak amplitude* of the
  sine in dBFS (a sine at ``level_db=-6`` has RMS −9.01 dB).
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import soxr

_FULL_SCALE = 32768.0


def _as_float(x: np.ndarray) -> np.ndarray:
    """Mono float64 in [-1, 1) from int16 or float input."""
    a = np.asarray(x)
    if a.ndim == 2:
        a = a[:, 0]
    if a.dtype == np.int16:
        return a.astype(np.float64) / _FULL_SCALE
    return a.astype(np.float64)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * _FULL_SCALE), -32768, 32767).astype(np.int16)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV; returns (mono int16 samples, rate). Extra channels are dropped."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM is supported")
        channels = w.getnchannels()
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    if channels > 1:
        data = data.reshape(-1, channels)[:, 0]
    return data.astype(np.int16), rate


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono int16 samples as a 16-bit PCM WAV."""
    data = np.asarray(samples)
    if data.ndim == 2:
        data = data[:, 0]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(data.astype("<i2").tobytes())


def read_stereo(path: Path) -> tuple[np.ndarray, int]:
    """A WAV's frames as (samples, channels), and its rate."""
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()), w.getframerate()


def wav_bytes(data: bytes) -> np.ndarray:
    """A mono 16-bit WAV held in memory (one the simulator serves) as samples."""
    with wave.open(io.BytesIO(data), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono int16 with soxr (HQ, delay-compensated one-shot)."""
    if from_rate == to_rate:
        return np.asarray(samples, dtype=np.int16).copy()
    y = soxr.resample(_as_float(samples).astype(np.float32), from_rate, to_rate, quality="HQ")
    return _to_int16(np.asarray(y, dtype=np.float64))


@functools.lru_cache(maxsize=32)
def _espeak_cached(text: str, rate: int, voice: str, speed: int, peak_db: float | None) -> bytes:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng not found (Debian package: espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="vbrig-espeak-") as d:
        out = Path(d) / "speech.wav"
        subprocess.run(
            [exe, "-v", voice, "-s", str(speed), "-w", str(out), text],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=30,
        )
        data, src_rate = read_wav(out)
    y = _as_float(resample(data, src_rate, rate)) if src_rate != rate else _as_float(data)
    if peak_db is not None:
        peak = float(np.max(np.abs(y))) or 1.0
        y = y * (10 ** (peak_db / 20) / peak)
    return _to_int16(y).tobytes()


def espeak(
    text: str,
    rate: int,
    *,
    voice: str = "en-us",
    speed: int = 165,
    peak_db: float | None = -3.0,
) -> np.ndarray:
    """Synthesize ``text`` with espeak-ng, resampled (soxr) to ``rate``; mono int16.

    espeak-ng writes 22050 Hz; the result is normalised to a peak of ``peak_db`` dBFS (None keeps
    espeak's own level). Results are cached per arguments; a fresh copy is returned each call.
    """
    raw = _espeak_cached(text, int(rate), voice, int(speed), peak_db)
    return np.frombuffer(raw, np.int16).copy()


def tone(
    freq: float, ms: float, rate: int, level_db: float = -6.0, *, fade_ms: float = 1.0
) -> np.ndarray:
    """A sine of ``freq`` Hz lasting ``ms`` milliseconds, peak ``level_db`` dBFS, mono int16.

    ``fade_ms`` raised-cosine ramps at both ends avoid clicks (0 for a hard onset).
    """
    n = round(rate * ms / 1000)
    t = np.arange(n) / rate
    y = 10 ** (level_db / 20) * np.sin(2 * np.pi * freq * t)
    nf = min(round(rate * fade_ms / 1000), n // 2)
    if nf > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(nf) / nf)
        y[:nf] *= ramp
        y[n - nf :] *= ramp[::-1]
    return _to_int16(y)


def silence(ms: float, rate: int) -> np.ndarray:
    return np.zeros(round(rate * ms / 1000), dtype=np.int16)


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS (full scale 32768 for int16, 1.0 for float); −200 for digital silence."""
    y = _as_float(x)
    if y.size == 0:
        return -200.0
    r = float(np.sqrt(np.mean(y * y)))
    return 20 * np.log10(r) if r > 1e-10 else -200.0


SILENT = 1e-4  # a window with less energy than this share of the piece's scores ~0


def sliding_correlation(seg: np.ndarray, piece: np.ndarray) -> np.ndarray:
    """r[k]: the normalised correlation of `piece` with seg[k:k + len(piece)], for every k.
    A near-silent window scores ~0, not the noise of the FFT and of the running sum over a
    floor of nothing (which read above 1)."""
    n = len(piece)
    dots = _xcorr(seg, piece)[n - 1:len(seg)]
    sq = np.concatenate(([0.0], np.cumsum(seg * seg)))
    energy = float(np.dot(piece, piece))
    return dots / np.sqrt(np.maximum(sq[n:] - sq[:-n], SILENT * energy) * energy)


def _xcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full cross-correlation c[k] = sum_n a[n + k - (len(b) - 1)] * b[n], via FFT."""
    n = len(a) + len(b) - 1
    nfft = 1 << (n - 1).bit_length()
    fa = np.fft.rfft(a, nfft)
    fb = np.fft.rfft(b[::-1], nfft)
    return np.fft.irfft(fa * fb, nfft)[:n]


def align(reference: np.ndarray, recorded: np.ndarray) -> int:
    """Lag in samples (may be negative) at which ``reference`` best matches inside ``recorded``:
    ``recorded[lag + i] ≈ reference[i]``."""
    ref = _as_float(reference)
    rec = _as_float(recorded)
    if ref.size == 0 or rec.size == 0:
        raise ValueError("empty signal")
    c = _xcorr(rec, ref)
    return int(np.argmax(c)) - (len(ref) - 1)


def overlap(reference: np.ndarray, recorded: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """The aligned overlap (reference part, recorded part) for a sample ``lag`` from ``align``,
    at most the reference's length; float64 in full-scale units."""
    ref = _as_float(reference)
    rec = _as_float(recorded)
    r0 = max(0, -lag)
    s0 = max(0, lag)
    n = max(0, min(len(ref) - r0, len(rec) - s0))
    return ref[r0 : r0 + n], rec[s0 : s0 + n]


def align_and_correlate(
    reference: np.ndarray, recorded: np.ndarray, rate: int
) -> tuple[float, float]:
    """(lag_seconds, correlation): where ``reference`` starts inside ``recorded`` (FFT
    cross-correlation, positive = later in the recording) and the normalised correlation
    (cosine similarity, 1.0 = identical shape, level-independent) of the aligned overlap of the
    reference's length. Parts of the reference that fall outside the recording count as missing
    (they lower the correlation) rather than being silently dropped."""
    lag = align(reference, recorded)
    ref_part, rec_part = overlap(reference, recorded, lag)
    ref_all = _as_float(reference)
    denom = np.sqrt(np.sum(ref_all * ref_all) * np.sum(rec_part * rec_part))
    corr = float(np.sum(ref_part * rec_part) / denom) if denom > 0 else 0.0
    return lag / rate, corr


def piece_correlations(reference: np.ndarray, recorded: np.ndarray, rate: int,
                       piece_ms: float = 250.0, slack_ms: float = 150.0,
                       quiet_dbfs: float = -45.0) -> list[float]:
    """The correlation of each `piece_ms` of the reference louder than `quiet_dbfs` with the
    recording (`piece_matches` without the lags)."""
    return [score for score, _ in piece_matches(reference, recorded, rate, piece_ms,
                                                slack_ms, quiet_dbfs)]


def piece_matches(reference: np.ndarray, recorded: np.ndarray, rate: int,
                  piece_ms: float = 250.0, slack_ms: float = 150.0,
                  quiet_dbfs: float = -45.0, far_ms: float = 600.0) -> list[tuple[float, int]]:
    """(correlation, lag in samples) of each `piece_ms` of the reference louder than
    `quiet_dbfs` with the recording, each at its own best lag: speech that came back whole
    scores ~1 in every piece even where a playout buffer re-timed it between words (held
    back blocks of silence, skipped some, restarted after an underrun), which one global
    alignment scores as a loss; a piece that did not come back, or came back cut, scores
    low.

    The lags follow the re-timing from piece to piece, from the first voiced piece's
    earliest place in the recording (where it scores at least 95 % of its best): each
    piece is looked for within `slack_ms` of the one before's, and, where it is not found
    there (below 0.5), up to `far_ms` away (a buffer that held back silence in a pause
    moves everything after it at once). Not from one global alignment: where the reference
    says a thing twice (an echo assistant repeats the visitor's words sample for sample)
    and the playout skipped 20 ms between the two, the copy scored higher at the wrong lag
    (the visitor's words on the echo's place) than either half at its own, and a
    rehearsal's listen test scored half its pieces at ~0."""
    ref, rec = _as_float(reference), _as_float(recorded)
    n, slack = round(rate * piece_ms / 1000), round(rate * slack_ms / 1000)
    far = max(slack, round(rate * far_ms / 1000))
    starts = [i for i in range(0, len(ref) - n + 1, n) if rms_db(ref[i:i + n]) >= quiet_dbfs]
    if not starts or len(rec) < n:
        return [(0.0, 0) for _ in starts]

    def match(i: int, around: int, within: int) -> tuple[float, int]:
        lo = max(0, around + i - within)
        seg = rec[lo:around + i + n + within]
        if len(seg) < n:
            return 0.0, around
        r = sliding_correlation(seg, ref[i:i + n])
        k = int(np.argmax(r))
        return float(r[k]), lo + k - i

    first = sliding_correlation(rec, ref[starts[0]:starts[0] + n])
    best = float(first.max())
    around = (int(np.argmax(first >= 0.95 * best)) - starts[0] if best >= 0.5
              else align(reference, recorded))
    out = []
    for i in starts:
        score, at = match(i, around, slack)
        if score < 0.5:
            wide = match(i, around, far)
            if wide[0] > score:
                score, at = wide
        out.append((score, at))
        if score >= 0.5:
            around = at
    return out


def envelope_correlation(
    reference: np.ndarray, recorded: np.ndarray, rate: int, window_ms: float = 20.0
) -> float:
    """How alike the loudness contours are (Pearson correlation of ``window_ms`` RMS
    envelopes at their best alignment, 1.0 = same syllables at the same times). Unlike
    `align_and_correlate` it ignores phase and spectral reshaping (an echo canceller's
    suppression, a codec), so it tells "the same sentence, filtered" from "another sound"."""
    w = max(1, round(rate * window_ms / 1000))

    def env(x: np.ndarray) -> np.ndarray:
        y = _as_float(x)
        y = y[: len(y) // w * w].reshape(-1, w)
        return np.sqrt(np.mean(y * y, axis=1))

    ref, rec = env(reference), env(recorded)
    if ref.size < 2 or rec.size == 0:
        return 0.0
    lag = int(np.argmax(_xcorr(rec - rec.mean(), ref - ref.mean()))) - (len(ref) - 1)
    seg = np.zeros_like(ref)  # the recording under the reference; outside it counts as silence
    r0, s0 = max(0, -lag), max(0, lag)
    n = max(0, min(len(ref) - r0, len(rec) - s0))
    seg[r0 : r0 + n] = rec[s0 : s0 + n]
    if np.std(seg) == 0 or np.std(ref) == 0:
        return 0.0
    return float(np.corrcoef(ref, seg)[0, 1])


def snr_db(reference: np.ndarray, recorded: np.ndarray, rate: int) -> float:
    """Signal-to-residual ratio (dB) after aligning and least-squares gain-matching ``recorded``
    to ``reference``: how much of the recording is *not* the reference (noise, distortion,
    glitches, resampling error)."""
    lag_s, _ = align_and_correlate(reference, recorded, rate)
    ref_part, rec_part = overlap(reference, recorded, round(lag_s * rate))
    e_ref = float(np.sum(ref_part * ref_part))
    if e_ref == 0:
        return -200.0
    g = float(np.sum(ref_part * rec_part)) / e_ref
    resid = rec_part - g * ref_part
    e_res = float(np.sum(resid * resid))
    return 200.0 if e_res == 0 else 10 * np.log10(g * g * e_ref / e_res)


def tone_amplitude(x: np.ndarray, rate: int, freq: float, window_ms: float = 5.0) -> np.ndarray:
    """Per-sample amplitude (linear, full scale = 1) of ``freq`` in a sliding rectangular window
    of ``window_ms`` ending at each sample (complex demodulation + moving sum; equivalent to a
    Goertzel filter evaluated at every sample). Entry i covers samples (i - W, i]."""
    y = _as_float(x)
    w = max(1, round(rate * window_ms / 1000))
    idx = np.arange(len(y))
    z = y * np.exp(-2j * np.pi * freq * idx / rate)
    cs = np.concatenate(([0], np.cumsum(z)))
    s = cs[idx + 1] - cs[np.maximum(0, idx + 1 - w)]
    return 2 * np.abs(s) / w


def find_onsets(
    x: np.ndarray,
    rate: int,
    freq: float,
    threshold_db: float = -30.0,
    *,
    window_ms: float = 5.0,
    min_gap_ms: float = 50.0,
) -> list[float]:
    """Onset times (seconds from the start of ``x``) of tone bursts at ``freq``.

    The tone's amplitude is tracked per sample over a ``window_ms`` window; an onset is an upward
    crossing of ``threshold_db`` (peak amplitude, dBFS) after at least ``min_gap_ms`` below it.
    The crossing is refined to sub-window precision: while a burst fills the window, the
    amplitude grows linearly, so onset = crossing − W·threshold/plateau (plateau read one window
    later). Precision is ~0.1 ms for clean markers.
    """
    amp = tone_amplitude(x, rate, freq, window_ms)
    w = max(1, round(rate * window_ms / 1000))
    thr = 10 ** (threshold_db / 20)
    gap = round(rate * min_gap_ms / 1000)
    above = np.flatnonzero(amp >= thr)
    if above.size == 0:
        return []
    # first index of each run of "above" separated by more than `gap` samples below
    starts = above[np.concatenate(([True], np.diff(above) > gap))]
    onsets: list[float] = []
    for i in starts:
        plateau = float(np.max(amp[i : min(len(amp), i + 2 * w)]))
        frac = min(1.0, thr / plateau) if plateau > 0 else 1.0
        # the window ending at sample i covers (i - w, i]; the burst's first sample is
        # i - frac*w + 1 (it has been filling the window linearly)
        onsets.append(float(i - frac * w + 1) / rate)
    return onsets
