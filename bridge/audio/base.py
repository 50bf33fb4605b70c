"""The two interfaces the call talks to: an audio source and an audio sink.

Devices, WAV files and the null device implement both, so the call never knows which it
has. Samples are always int16 mono numpy arrays at the backend's own `sample_rate`.

What only some backends have is explicit, with a default in `Backend` rather than probed
for: a real device reports `device_stats`, its `latency_ms` and the capture clock
(`captured_until`), and `supervise()` watches it for the whole call; a file or the null
device keeps the defaults (no statistics, no latency, a `supervise()` that only waits).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bridge.audio.playout import PlayoutBuffer, PlayoutStats
from bridge.audio.ring import SampleRing


@dataclass
class DeviceStats:
    input_overflows: int = 0
    output_underflows: int = 0
    reopens: int = 0  # reopens that succeeded
    reopen_attempts: int = 0

    def __add__(self, other: DeviceStats) -> DeviceStats:
        return DeviceStats(self.input_overflows + other.input_overflows,
                           self.output_underflows + other.output_underflows,
                           self.reopens + other.reopens,
                           self.reopen_attempts + other.reopen_attempts)

    def __sub__(self, other: DeviceStats) -> DeviceStats:
        return DeviceStats(self.input_overflows - other.input_overflows,
                           self.output_underflows - other.output_underflows,
                           self.reopens - other.reopens,
                           self.reopen_attempts - other.reopen_attempts)


class Backend:
    """The optional features of a source or a sink, with the defaults of a file or the
    null device; a real device (`bridge/audio/device_stream.py`) overrides them."""

    is_device = False  # a real device: there is an acoustic path from speaker to mic
    device_stats: DeviceStats | None = None  # xruns and reopens, counted since opening
    captured_until: float | None = None  # monotonic time the newest sample read was captured

    @property
    def latency_ms(self) -> float:
        """The backend's own latency estimate (PortAudio's, for a device stream)."""
        return 0.0

    def frame_wake(self, samples: int) -> int | None:
        """A source that knows when it captured: an fd (an eventfd) made readable each time
        `samples` more samples are captured, for the uplink to send a frame at once; 0 stops
        it. None: no capture clock (a file, the null device): the uplink keeps its timer."""
        return None

    async def supervise(self) -> None:
        """Watch the backend for the whole call (cancel the task to stop). A device
        reopens itself here and raises AudioDeviceError when that keeps failing; a file
        never fails, so this only waits."""
        await asyncio.Event().wait()

    paused = False  # idle between calls (`pause`): no stream open

    def pause(self) -> None:
        """Standby with nothing to hear or play: a device closes its stream (PortAudio's
        thread and the sound server's share stop) until `resume`. A file or the null
        device has no stream: nothing to do."""

    def resume(self) -> None:
        """Open a paused device again (AudioDeviceError when it cannot)."""


class AudioSource(Protocol):
    sample_rate: int
    is_device: bool
    device_stats: DeviceStats | None
    captured_until: float | None

    @property
    def latency_ms(self) -> float: ...

    async def supervise(self) -> None: ...

    paused: bool

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def start(self) -> None: ...

    def frame_wake(self, samples: int) -> int | None: ...

    def read(self, due: int) -> np.ndarray:
        """Return captured samples. `due` is what real time owes since the last call;
        a clocked device returns what it actually captured instead."""
        ...

    def close(self) -> None: ...

    @property
    def level_db(self) -> float: ...


class AudioSink(Protocol):
    """Where the assistant's audio goes (LiveKit's AudioOutput contract, trimmed)."""

    sample_rate: int
    is_device: bool
    device_stats: DeviceStats | None
    buffer: PlayoutBuffer  # the playout queue its own clock pulls (the echo path reads it)

    @property
    def latency_ms(self) -> float: ...

    async def supervise(self) -> None: ...

    paused: bool

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def start(self) -> None: ...

    def capture_frame(self, samples: np.ndarray) -> None:
        """Queue decoded audio for playout."""
        ...

    def clear_buffer(self) -> None:
        """Barge-in: drop what is queued; the output fades out within one block."""
        ...

    def queued_mark(self) -> int:
        """A point after all that is queued now, in `played_samples`' count."""
        ...

    def clear_before(self, mark: int) -> None:
        """Drop what was queued before `mark` (`queued_mark`), not what came after it; the
        output fades out within one block, if it was playing any of it."""
        ...

    def set_playout_target(self, ms: float, floor_ms: float = 0.0) -> None:
        """From measured jitter: how much audio to hold before (re)starting playback, and
        the least to keep queued while playing."""
        ...

    def begin_stream(self, start_ms: float, gain: float = 1.0) -> None:
        """A call's audio starts: nothing an earlier call left queued is played, and
        playback starts afresh once `start_ms` are queued. `gain`: the call's output gain,
        applied before the sink (its speech is told from near-silence as Vapi sent it)."""
        ...

    def end_stream(self, over: bool = True, *, maybe: bool = False) -> None:
        """A call's audio is over: what is queued plays out, its end no underrun. `maybe`:
        more may come (Vapi's `ended`): only speech plays out so, near-silence is steered.
        `over` False: more came after all, played as the stream was (steered, gaps counted)."""
        ...

    def close(self) -> None: ...

    def playout_stats(self) -> PlayoutStats: ...

    def add_played_ring(self, seconds: float) -> SampleRing:
        """A ring that receives every block the sink plays (filled by its consumer)."""
        ...

    def remove_played_ring(self, ring: SampleRing) -> None: ...

    @property
    def played_samples(self) -> int: ...


FrameTap = Callable[[np.ndarray], None]


ECHO_TAIL_S = 0.3  # after the speaker's last sound is heard: the room's reverberation


def own_sound_until(source: AudioSource, sink: AudioSink) -> float:
    """Until when (time.monotonic()) the microphone may hold one of the kiosk's sounds
    (the overlay, not a call's audio): its last block, plus both devices' latency and the
    room's `ECHO_TAIL_S`; ever on while one plays. 0.0 when none has."""
    overlay = sink.buffer.overlay
    if overlay is None:
        return 0.0
    last = time.monotonic() if overlay.busy else overlay.sounded_at
    latency_s = (sink.latency_ms + source.latency_ms) / 1000
    return last + latency_s + ECHO_TAIL_S if last else 0.0


def sounding(sink: AudioSink) -> bool:
    """Whether the speaker has anything to play: audio queued (a call's, or a goodbye
    played out after it), or one of the kiosk's sounds."""
    overlay = sink.buffer.overlay
    return sink.buffer.depth_ms > 0 or (overlay is not None and overlay.busy)


def audible(sink: AudioSink) -> bool:
    """Whether the speaker still has something a microphone could hear: speech queued (not
    only the near-silence a reply ends with, or Vapi streams between utterances: that would
    hold the wake word deaf for as long as it takes to play), or one of the kiosk's sounds."""
    overlay = sink.buffer.overlay
    return sink.buffer.speech_queued or (overlay is not None and overlay.busy)


def level_dbfs(samples: np.ndarray) -> float:
    if len(samples) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-9) / 32768.0)


SILENCE_DBFS = -200.0  # below any real signal: level_dbfs() of digital silence is about -270


def show_dbfs(db: float, silence: str = "silence") -> str:
    """A level for people: `-23 dBFS`, or `silence` (digital zero) rather than -270."""
    return silence if db <= SILENCE_DBFS else f"{db:.0f} dBFS"


def apply_gain(samples: np.ndarray, gain: float) -> np.ndarray:
    if gain == 1.0 or len(samples) == 0:
        return samples
    return np.clip(samples * gain, -32768, 32767).astype(np.int16)
