"""Keeping the assistant's own voice out of the uplink: `audio.echo: gate | aec | off`.

The far end is what the speaker actually played (the playout buffer hands every block it
fills to a lock-free ring); the near end is the microphone. Both reach the processor at
the microphone's rate, in the uplink task, before resampling to the wire.

- `gate` (the default, `echo_gate.py`): attenuates the microphone while it holds only the
  assistant's echo, measured from the far end; a visitor talking over the assistant
  opens it; what it held back while attenuating (`echo_lookback.py`, 40 ms) passes with
  them, so their word is not cut at its soft start. No dependencies.
- `aec` (`aec.py`): WebRTC echo cancellation (livekit, extra `[aec]`). Full duplex once
  converged, but it holds a visitor back in the assistant's first seconds (README).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from bridge.audio.aec import WebRtcAec
from bridge.audio.base import AudioSink, AudioSource
from bridge.audio.echo_gate import EchoGate
from bridge.audio.echo_lookback import LookBack
from bridge.audio.resample import Resampler

log = logging.getLogger("bridge.echo")

LATE_BLOCKS = 4  # the far end taken at once: the loop this many device blocks late


def _xruns(stream: AudioSource | AudioSink) -> int:
    """A device's underflows or overflows so far (0 for any other backend)."""
    stats = stream.device_stats
    return 0 if stats is None else stats.input_overflows + stats.output_underflows


class EchoControl(Protocol):
    rate: int

    def far(self, samples: np.ndarray) -> None:
        """What the speaker played since the last call (at `rate`)."""
        ...

    def near(self, samples: np.ndarray) -> np.ndarray:
        """The microphone's samples since the last call, returned cleaned: the same
        count, or, with a look-back, fewer while it holds some back and more as it lets
        them go."""
        ...


def make_echo_control(mode: str, rate: int, delay_ms: float = 0.0) -> EchoControl | None:
    if mode == "off":
        return None
    if mode == "gate":
        return LookBack(EchoGate(rate))
    if mode == "aec":
        return WebRtcAec(rate, delay_ms)
    raise ValueError(f"unknown echo mode {mode!r}")


def echo_path(mode: str, source: AudioSource, sink: AudioSink, block_ms: int = 20
              ) -> tuple[EchoControl | None, Callable[[], np.ndarray] | None]:
    """The echo control for a source/sink pair and the function giving it the far end.

    Only a real microphone with a real speaker has an acoustic path; with a WAV or null
    backend on either side echo control is off whatever the profile says. The stream delay
    for the AEC comes from the devices' PortAudio latencies when they report them.
    """
    if mode == "off" or not (source.is_device and sink.is_device):
        return None, None
    buffer = sink.buffer
    delay_ms = source.latency_ms + sink.latency_ms
    control = make_echo_control(mode, source.sample_rate, delay_ms)
    ring = buffer.enable_reference()
    resampler = Resampler(sink.sample_rate, source.sample_rate)
    unsure = getattr(control, "mark_unsure", None)
    late = sink.sample_rate * LATE_BLOCKS * block_ms // 1000  # (a block comes whole)
    xruns = _xruns(source) + _xruns(sink)

    def far_end() -> np.ndarray:
        nonlocal xruns
        played = ring.take()
        if unsure is not None:  # the echo may have moved (`echo_unsure`)
            now = _xruns(source) + _xruns(sink)
            if now != xruns:
                xruns = now
                unsure("an underflow or overflow")
            if len(played) > late:
                unsure("the loop ran late", len(played) / sink.sample_rate)
        return resampler.process(played)

    log.info("echo control: %s%s", mode, f" (stream delay {delay_ms:.0f} ms)" if mode == "aec"
             else "")
    return control, far_end
