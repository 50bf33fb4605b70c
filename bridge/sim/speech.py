"""Audio the simulated assistant says: espeak-ng speech, tone "speech", beeps, near-silence."""

from __future__ import annotations

import asyncio
import logging
import shutil
import struct
import zlib

import numpy as np
import soxr

log = logging.getLogger("bridge.sim.speech")

SPEECH_PEAK = 16000  # int16 peak of synthesized speech (about -6 dBFS)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono int16 (whole buffer)."""
    if from_rate == to_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.int16)
    out = soxr.resample(np.asarray(samples, dtype=np.int16), from_rate, to_rate, quality="HQ")
    return np.asarray(out, dtype=np.int16)


def tone(
    freq: float, ms: float, rate: int, amplitude: int = 12000, ramp_ms: float = 3.0
) -> np.ndarray:
    """A sine burst with short raised-cosine ramps (no clicks)."""
    n = max(1, round(rate * ms / 1000.0))
    t = np.arange(n) / rate
    wave = np.sin(2 * np.pi * freq * t) * amplitude
    ramp = min(n // 2, int(rate * ramp_ms / 1000.0))
    if ramp > 0:
        env = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
        wave[:ramp] *= env
        wave[-ramp:] *= env[::-1]
    return wave.astype(np.int16)


def near_silence(n: int, rng: np.random.Generator, lsb: int = 3) -> np.ndarray:
    """Low-level noise of ±lsb, like the "silence" Vapi sends between utterances."""
    return rng.integers(-lsb, lsb + 1, size=n, dtype=np.int16)


def tone_speech(text: str, rate: int) -> np.ndarray:
    """Speech-like tones when espeak-ng is missing: one voiced burst per word, pauses at commas."""
    parts: list[np.ndarray] = []
    for word in text.split():
        core = word.strip(".,;:!?")
        if core:
            pitch = 140.0 + (zlib.crc32(core.lower().encode()) % 6) * 30.0
            ms = min(600.0, 90.0 + 45.0 * len(core))
            burst = tone(pitch, ms, rate, amplitude=9000, ramp_ms=15.0).astype(np.float64)
            burst += tone(pitch * 2, ms, rate, amplitude=4000, ramp_ms=15.0)
            parts.append(burst.astype(np.int16))
        gap = 250.0 if word[-1:] in ".!?" else 150.0 if word[-1:] in ",;:" else 70.0
        parts.append(np.zeros(int(rate * gap / 1000.0), dtype=np.int16))
    if not parts:
        return np.zeros(int(rate * 0.2), dtype=np.int16)
    return np.concatenate(parts)


def parse_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Parse a (possibly streamed, bogus-sized) PCM16 mono WAV: samples and rate."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    pos, rate = 12, 0
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"fmt ":
            rate = struct.unpack("<I", data[pos + 12 : pos + 16])[0]
        elif cid == b"data":
            body = data[pos + 8 :]
            body = body[: len(body) - len(body) % 2]
            return np.frombuffer(body, dtype="<i2").astype(np.int16), rate
        pos += 8 + size + (size % 2)
    raise ValueError("WAV stream without data")


class Synth:
    """Turns text into int16 audio at a given rate; espeak-ng when available, tones otherwise."""

    def __init__(self, mode: str = "auto") -> None:
        self.espeak = shutil.which("espeak-ng") if mode in ("auto", "espeak") else None
        if mode == "espeak" and self.espeak is None:
            log.warning("espeak-ng not found; speaking in tones")
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    @property
    def uses_espeak(self) -> bool:
        return self.espeak is not None

    async def speak(self, text: str, rate: int) -> np.ndarray:
        key = (text, rate)
        if key not in self._cache:
            audio = await self._espeak(text, rate) if self.espeak else None
            if audio is None:
                audio = tone_speech(text, rate)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = audio
        return self._cache[key]

    async def _espeak(self, text: str, rate: int) -> np.ndarray | None:
        assert self.espeak is not None
        try:
            proc = await asyncio.create_subprocess_exec(
                self.espeak,
                "--stdout",
                "-v",
                "en-us",
                "-s",
                "170",
                "--",
                text[:2000],
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
            samples, src_rate = parse_wav_bytes(out)
        except (TimeoutError, OSError, ValueError) as exc:
            log.warning("espeak-ng failed (%s); speaking in tones", exc)
            return None
        peak = int(np.max(np.abs(samples.astype(np.int32)))) if len(samples) else 0
        if peak > 0:
            samples = (samples.astype(np.float64) * (SPEECH_PEAK / peak)).astype(np.int16)
        return resample(samples, src_rate, rate)
