"""Keeping the assistant's own voice out of the uplink: `audio.echo: off | gate | aec`.

The far end is what the speaker actually played (the playout buffer hands every block it
fills to a lock-free ring); the near end is the microphone. Both reach the processor at
the microphone's rate, in the uplink task, before resampling to the wire.

- `gate`: half-duplex. While the assistant is audible (plus a hangover) the microphone is
  attenuated, unless it is clearly louder than the echo the gate has learned to expect,
  so a visitor can still interrupt. No dependencies; costs some double-talk quality.
- `aec`: WebRTC echo cancellation through livekit's `rtc.AudioProcessingModule` (extra
  `[aec]`, Apache-2.0; 10 ms frames). Removes the echo and keeps double talk.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from bridge.audio.resample import Resampler
from bridge.errors import ProfileError

log = logging.getLogger("bridge.echo")


def _db(x: np.ndarray) -> float:
    if len(x) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-9) / 32768.0)


class EchoControl(Protocol):
    rate: int

    def far(self, samples: np.ndarray) -> None:
        """What the speaker played since the last call (at `rate`)."""
        ...

    def near(self, samples: np.ndarray) -> np.ndarray:
        """The microphone's samples since the last call, returned cleaned."""
        ...


class EchoGate:
    """Half-duplex gate with double-talk pass-through."""

    def __init__(self, rate: int, *, hangover_ms: float = 250.0, attenuation_db: float = 30.0,
                 margin_db: float = 6.0, far_floor_db: float = -50.0,
                 echo_span_ms: float = 400.0, learn_s: float = 3.0) -> None:
        self.rate = rate
        self._hangover = int(rate * hangover_ms / 1000)
        self._atten = 10 ** (-attenuation_db / 20)
        self._margin = margin_db
        self._floor = far_floor_db
        self._erl_db = -40.0  # the loudest echo relative to the far end, learned at first
        self._learn_left = int(rate * learn_s)  # far-active time left to learn it
        # far-end block levels over the span an echo can lag behind them: the echo heard
        # now may come from any of them, so the gate compares with their peak
        self._far_levels: deque[float] = deque(maxlen=max(1, int(echo_span_ms / 10)))
        self._far_db = -120.0
        self._quiet_for = 1 << 30  # samples since the far end was last audible
        self._gain = 1.0
        self.gated_ms = 0.0

    def far(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        level = _db(samples)
        for _ in range(max(1, round(len(samples) * 100 / self.rate))):  # one per 10 ms
            self._far_levels.append(level)
        self._far_db = max(self._far_levels)
        if level > self._floor:
            self._quiet_for = 0

    def near(self, samples: np.ndarray) -> np.ndarray:
        if len(samples) == 0:
            return samples
        far_active = self._quiet_for < self._hangover
        self._quiet_for += len(samples)
        target = 1.0
        if far_active:
            near_db = _db(samples)
            expected = self._far_db + self._erl_db
            if self._learn_left <= 0 and near_db > expected + self._margin:
                target = 1.0  # double talk: the visitor is clearly louder than the echo
            else:
                target = self._atten
                if near_db > -60.0 and self._learn_left > 0:
                    # learn the loudest echo return from the assistant's first seconds of
                    # speech (the greeting: visitors rarely talk over it), then hold it —
                    # it is a property of the room, and learning on would learn the visitor
                    self._learn_left -= len(samples)
                    erl = max(near_db - self._far_db, self._erl_db)
                    self._erl_db = min(6.0, max(-40.0, erl))
                self.gated_ms += len(samples) * 1000 / self.rate
        ramp = np.linspace(self._gain, target, len(samples), dtype=np.float32)
        self._gain = target
        return np.clip(samples * ramp, -32768, 32767).astype(np.int16)


class WebRtcAec:
    """WebRTC AEC (livekit's AudioProcessingModule) on 10 ms frames."""

    def __init__(self, rate: int, delay_ms: float = 0.0) -> None:
        try:
            from livekit import rtc
        except ImportError:
            from bridge.extras import missing_extra

            raise ProfileError(f"audio.echo: {missing_extra('aec', 'aec', 'livekit')}, or use "
                               f"audio.echo: gate") from None
        if rate not in (8000, 16000, 32000, 48000):
            raise ProfileError(f"audio.echo: aec works at 8/16/32/48 kHz, not {rate} Hz — set "
                               f"audio.device_rate to one of them")
        self._rtc = rtc
        self.rate = rate
        self._frame = rate // 100
        self._apm: Any = rtc.AudioProcessingModule(echo_cancellation=True,
                                                   high_pass_filter=True)
        self.set_delay_ms(delay_ms)
        self._far_rest = np.zeros(0, dtype=np.int16)
        self._near_rest = np.zeros(0, dtype=np.int16)

    def set_delay_ms(self, delay_ms: float) -> None:
        self._apm.set_stream_delay_ms(int(max(0.0, delay_ms)))

    def far(self, samples: np.ndarray) -> None:
        data = np.concatenate((self._far_rest, samples)) if len(self._far_rest) else samples
        f = self._frame
        whole = len(data) - len(data) % f
        for i in range(0, whole, f):
            frame = self._rtc.AudioFrame(data[i:i + f].tobytes(), self.rate, 1, f)
            self._apm.process_reverse_stream(frame)
        self._far_rest = data[whole:].copy()

    def near(self, samples: np.ndarray) -> np.ndarray:
        data = np.concatenate((self._near_rest, samples)) if len(self._near_rest) else samples
        f = self._frame
        whole = len(data) - len(data) % f
        out = np.empty(whole, dtype=np.int16)
        for i in range(0, whole, f):
            frame = self._rtc.AudioFrame(data[i:i + f].tobytes(), self.rate, 1, f)
            self._apm.process_stream(frame)
            out[i:i + f] = np.frombuffer(frame.data, dtype=np.int16)
        self._near_rest = data[whole:].copy()
        return out


def make_echo_control(mode: str, rate: int, delay_ms: float = 0.0) -> EchoControl | None:
    if mode == "off":
        return None
    if mode == "gate":
        return EchoGate(rate)
    if mode == "aec":
        return WebRtcAec(rate, delay_ms)
    raise ValueError(f"unknown echo mode {mode!r}")


def echo_path(mode: str, source: Any, sink: Any
              ) -> tuple[EchoControl | None, Callable[[], np.ndarray] | None]:
    """The echo control for a source/sink pair and the function giving it the far end.

    Only a real microphone with a real speaker has an acoustic path; with a WAV or null
    backend on either side echo control is off whatever the profile says. The stream delay
    for the AEC comes from the devices' PortAudio latencies when they report them.
    """
    from bridge.audio.devices import DeviceSink, DeviceSource  # no PortAudio load here

    if mode == "off" or not (isinstance(source, DeviceSource) and isinstance(sink, DeviceSink)):
        return None, None
    buffer = sink.buffer
    delay_ms = float(getattr(source, "latency_ms", 0.0)) + float(getattr(sink, "latency_ms", 0.0))
    control = make_echo_control(mode, source.sample_rate, delay_ms)
    ring = buffer.enable_reference()
    resampler = Resampler(sink.sample_rate, source.sample_rate)

    def far_end() -> np.ndarray:
        return resampler.process(ring.take())

    log.info("echo control: %s%s", mode, f" (stream delay {delay_ms:.0f} ms)" if mode == "aec"
             else "")
    return control, far_end
