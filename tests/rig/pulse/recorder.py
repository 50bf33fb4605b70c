"""A harness recorder: one InputStream on a rig device (the virtual speaker's monitor, or the
mic sink's: what reaches the microphone), opened once and kept running, recording between
`start` and `stop`; with its overflows counted and the time each frame was captured
estimated from PortAudio's ADC times."""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from .daemon import RigError

# Harness stream buffering. Timestamps do not depend on it (they come from PortAudio's DAC/ADC
# times), so it is generous: with ~8 ms ("low") or 30 ms the harness's own mic player underflowed
# on a 2-core machine with one core kept busy, glitching the "mic" signal.
HARNESS_LATENCY_S = 0.1


def mono16(rate: int, block: int) -> dict[str, Any]:
    """Every harness stream's settings: mono int16 at the rig's rate, `block` frames a
    callback, HARNESS_LATENCY_S of buffering."""
    return {"samplerate": rate, "channels": 1, "dtype": "int16", "blocksize": block,
            "latency": HARNESS_LATENCY_S}


def warm_up(warm: Callable[[], bool], says: Callable[[], str]) -> None:
    """Until `warm()` (its callbacks running) and 0.2 s have passed: a stream's timing
    estimates are off during its first ~100 ms (PortAudio/pulse priming; an output's first
    callbacks come in a burst to fill its buffer). RigError(`says()`) after 5 s."""
    t0 = time.monotonic()
    while not warm() or time.monotonic() - t0 < 0.2:
        if time.monotonic() > t0 + 5:
            raise RigError(says())
        time.sleep(0.01)


def close_stream(stream: Any) -> None:
    """Abort and close a PortAudio stream (None: none), whatever became of it."""
    if stream is not None:
        with contextlib.suppress(Exception):
            stream.abort()
        with contextlib.suppress(Exception):
            stream.close()


class Recorder:
    """What reaches `device`, recorded between start() and stop(); `name` for its errors."""

    def __init__(self, device: str, rate: int, block: int, name: str) -> None:
        self.device, self.rate, self.block, self.name = device, rate, block, name
        self._lock = threading.Lock()
        self.overflows = 0
        self.callbacks = 0
        self.warm_callbacks = int(0.1 * rate / block)  # 0.1 s of them
        self._frames = 0
        self._last_adc_end = 0.0
        # (frame index, monotonic time of that frame's capture) estimates, last ~20 s
        self._est: deque[tuple[int, float]] = deque(maxlen=max(100, 20 * rate // block))
        self._recording = False
        self._chunks: list[np.ndarray] = []
        self._first_frame: int | None = None
        self._stream: Any = None

    def open(self) -> None:
        import sounddevice as sd

        self._stream = sd.InputStream(device=self.device, callback=self._cb,
                                      **mono16(self.rate, self.block))
        self._stream.start()

    @property
    def warm(self) -> bool:
        return self.callbacks >= self.warm_callbacks

    def wait_warm(self) -> None:
        warm_up(lambda: self.warm, lambda: f"the {self.name} recorder is not running "
                                           f"({self.callbacks} callbacks)")

    def close(self) -> None:
        close_stream(self._stream)
        self._stream = None

    def _cb(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        if status.input_overflow:
            self.overflows += 1
        adc = now + (time_info.inputBufferAdcTime - time_info.currentTime)
        with self._lock:
            self.callbacks += 1
            self._est.append((self._frames, adc))
            if self._recording:
                if self._first_frame is None:
                    self._first_frame = self._frames
                self._chunks.append(indata[:, 0].copy())
            self._frames += frames
            self._last_adc_end = adc + frames / self.rate

    def start(self) -> None:
        with self._lock:
            self._chunks = []
            self._first_frame = None
            self._recording = True

    def stop(self) -> tuple[np.ndarray, int, float]:
        """(mono int16 samples, rate, start_monotonic): everything that reached the device
        up to this call; start_monotonic is the time.monotonic() of samples[0]."""
        t_stop = time.monotonic()
        deadline = t_stop + 2.0
        # wait until audio that reached the device up to t_stop has been captured
        while self._last_adc_end < t_stop and time.monotonic() < deadline:
            time.sleep(0.002)
        with self._lock:
            self._recording = False
            chunks = self._chunks
            first = self._first_frame
            self._chunks = []
            ests = [(f, t) for f, t in self._est if first is not None and f >= first]
            if len(ests) < 5:
                ests = list(self._est)[-50:]
        if first is None or not chunks:
            raise RigError(f"the {self.name} delivered no audio")
        data = np.concatenate(chunks)
        # Each callback gives an estimate of when frame 0 of the stream was captured
        # (adc_time - frame_index / rate); the median over the recording is robust to jitter.
        t0 = statistics.median(t - f / self.rate for f, t in ests)
        return data, self.rate, t0 + first / self.rate
