"""The kiosk's own sounds (chime, connecting tone, offline line) mixed over the speaker.

A `SoundMixer` belongs to one output: the playout buffer hands it each block it has just
filled (`PlayoutBuffer.overlay`), after the played rings (the recording's assistant leg
and the heard-gap clock hold only the assistant) and before the echo reference (the echo
control must know everything the speaker emits, so a sound's echo is kept out of the
microphone's uplink like the assistant's). The sounds never pass through the playout
queue: they neither delay nor reorder the assistant's audio, and touch none of its
statistics.

One producer (the event loop: `play`, `stop`) and one consumer (the audio callback:
`mix_into`) share the voices without a lock: the producer publishes a new tuple of voices
by one attribute store and asks a voice to stop by setting a flag; each voice's position,
fade and `done` flag are the consumer's. The consumer allocates no buffer: it mixes in a
preallocated float32 block and fades with a preallocated ramp. A stop fades out over
`FADE_MS` (no click); clips are faded in and out once when loaded.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bridge.audio.files import read_wav_mono

FADE_MS = 25.0  # a stop fades out over this
EDGE_MS = 3.0  # every clip is faded in and out over this when loaded
MAX_BLOCK_S = 0.5  # the mixer's scratch block; longer callbacks are mixed in pieces


def load_clip(path: str | Path, rate: int, gain: float = 1.0) -> np.ndarray:
    """A WAV file as float32 samples at `rate`, times `gain`, with soft edges (the
    resampler is the project's own: `bridge.audio.resample`). Raises AudioDeviceError
    when the file cannot be read."""
    samples, _ = read_wav_mono(Path(path), rate)
    clip = samples.astype(np.float32) * np.float32(gain)
    edge = min(len(clip) // 2, max(1, int(EDGE_MS * rate / 1000)))
    if edge:
        ramp = np.linspace(0.0, 1.0, edge, dtype=np.float32)
        clip[:edge] *= ramp
        clip[len(clip) - edge:] *= ramp[::-1]
    return clip


class Voice:
    """One clip playing: `loop` repeats it until stopped; it starts after `wait` samples."""

    __slots__ = ("clip", "done", "fade_left", "loop", "pos", "stopping", "wait")

    def __init__(self, clip: np.ndarray, loop: bool, wait: int) -> None:
        self.clip = clip
        self.loop = loop
        self.wait = wait  # consumer
        self.pos = 0  # consumer
        self.fade_left = -1  # consumer: samples of the stop fade left, -1 before it began
        self.done = len(clip) == 0  # consumer (and the producer before it is published)
        self.stopping = False  # producer: asks for a fade-out

    @property
    def remaining(self) -> int:
        """Samples still to play (a loop: up to the end of the current period)."""
        if self.done:
            return 0
        if self.fade_left >= 0:
            return self.fade_left
        return self.wait + len(self.clip) - self.pos


class SoundMixer:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._fade = max(1, int(FADE_MS * rate / 1000))
        self._ramp = np.linspace(1.0, 0.0, self._fade, dtype=np.float32)
        self._block = int(MAX_BLOCK_S * rate)
        self._acc = np.zeros(self._block, dtype=np.float32)
        self._tmp = np.zeros(self._block, dtype=np.float32)
        self._voices: tuple[Voice, ...] = ()  # producer publishes, consumer reads
        self.sounded_at = 0.0  # consumer's: when (monotonic) a block last held a voice

    # ---- producer (event loop) --------------------------------------------------------
    def play(self, clip: np.ndarray, *, loop: bool = False, after: int = 0) -> Voice:
        """Start `clip` (float32 at this mixer's rate) `after` samples from now."""
        voice = Voice(clip, loop, max(0, after))
        self._voices = (*(v for v in self._voices if not v.done), voice)
        return voice

    def stop(self, voice: Voice | None) -> None:
        """Fade `voice` out (within `FADE_MS`); one still waiting to start never starts."""
        if voice is not None:
            voice.stopping = True

    def stop_all(self) -> None:
        for voice in self._voices:
            voice.stopping = True

    @property
    def busy(self) -> bool:
        return any(not v.done for v in self._voices)

    def remaining_samples(self) -> int:
        """The longest a voice still has to play (a loop counts to its period's end, one
        being stopped to the end of its fade): when a sound played now would start after
        what is playing."""
        return max((min(v.remaining, 2 * self._fade) if v.stopping else v.remaining
                    for v in self._voices), default=0)

    # ---- consumer (audio callback) ----------------------------------------------------
    def mix_into(self, out: np.ndarray) -> None:
        """Add the playing voices to `out` (int16, 1-D), in place; saturates."""
        voices = self._voices
        if not voices:
            return
        for start in range(0, len(out), self._block):
            self._mix_block(voices, out[start:start + self._block])

    def _mix_block(self, voices: tuple[Voice, ...], out: np.ndarray) -> None:
        n = len(out)
        acc = self._acc[:n]
        mixed = False
        for voice in voices:
            if voice.done:
                continue
            if not mixed:
                acc[:] = out
                mixed = True
            self._mix_voice(voice, acc, n)
        if mixed:
            self.sounded_at = time.monotonic()
            np.rint(acc, out=acc)
            np.minimum(acc, 32767.0, out=acc)
            np.maximum(acc, -32768.0, out=acc)
            np.copyto(out, acc, casting="unsafe")

    def _mix_voice(self, v: Voice, acc: np.ndarray, n: int) -> None:
        if v.stopping and v.fade_left < 0:
            if v.wait > 0:  # never started: nothing to fade
                v.done = True
                return
            v.fade_left = self._fade
        i = 0
        if v.wait > 0:
            i = min(v.wait, n)
            v.wait -= i
        clip = v.clip
        while i < n and not v.done:
            k = min(n - i, len(clip) - v.pos)
            seg = clip[v.pos:v.pos + k]
            if v.fade_left >= 0:
                k = min(k, v.fade_left)
                at = self._fade - v.fade_left
                seg = self._tmp[:k]
                np.multiply(clip[v.pos:v.pos + k], self._ramp[at:at + k], out=seg)
                v.fade_left -= k
                if v.fade_left == 0:
                    v.done = True
            np.add(acc[i:i + k], seg, out=acc[i:i + k])
            v.pos += k
            i += k
            if v.pos >= len(clip):
                if v.loop and not v.done:
                    v.pos = 0
                else:
                    v.done = True
