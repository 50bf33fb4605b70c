"""The rig's in-process side: what the harness plays into the virtual microphone and what
it records from the virtual speaker's monitor, with monotonic timestamps taken from
PortAudio's DAC/ADC times; and, on demand, what reaches the microphone (the mic sink's
monitor: the clips and the echo paths as they actually ran)."""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .daemon import RigError
from .topology import HARNESS_MIC_IN, HARNESS_MIC_MONITOR, HARNESS_SPEAKER_MONITOR

# Harness stream buffering. Timestamps do not depend on it (they come from PortAudio's DAC/ADC
# times), so it is generous: with ~8 ms ("low") or 30 ms the harness's own mic player underflowed
# on a 2-core machine with one core kept busy, glitching the "mic" signal.
HARNESS_LATENCY_S = 0.1


def reinit_portaudio() -> None:
    """Make PortAudio re-read the (ALSA) device list: it enumerates only in Pa_Initialize."""
    import sounddevice as sd

    n = max(1, sd._initialized)
    for _ in range(sd._initialized):
        sd._terminate()
    for _ in range(n):
        sd._initialize()


@dataclass
class _Clip:
    data: np.ndarray
    pos: int = 0
    t_start: float = 0.0
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class Harness:
    """The rig's in-process side: one OutputStream into the mic sink and one InputStream on the
    speaker monitor, both opened once and kept running (no per-clip stream start-up)."""

    def __init__(self, rate: int, block: int) -> None:
        self.rate = rate
        self.block = block
        self._lock = threading.Lock()
        self._clips: list[_Clip] = []
        self._idle = threading.Event()
        self._idle.set()
        self.underflows = 0
        self.overflows = 0
        self.underflow_times: list[float] = []  # time.monotonic() of each mic-player underflow
        self._out_callbacks = 0
        self._in_frames = 0
        self._in_callbacks = 0
        self._last_adc_end = 0.0
        # (frame index, monotonic time of that frame's capture) estimates, last ~20 s
        self._est: deque[tuple[int, float]] = deque(maxlen=max(100, 20 * rate // block))
        self._recording = False
        self._rec_chunks: list[np.ndarray] = []
        self._rec_first_frame: int | None = None
        self._out: Any = None
        self._in: Any = None
        self._mic: Any = None  # the mic sink's monitor: opened by the first start_mic()
        self._mic_chunks: list[np.ndarray] | None = None

    def open(self) -> None:
        import sounddevice as sd

        mono16: dict[str, Any] = {"samplerate": self.rate, "channels": 1, "dtype": "int16",
                                  "blocksize": self.block, "latency": HARNESS_LATENCY_S}
        self._out = sd.OutputStream(device=HARNESS_MIC_IN, callback=self._out_cb, **mono16)
        self._in = sd.InputStream(device=HARNESS_SPEAKER_MONITOR, callback=self._in_cb, **mono16)
        self._in.start()
        self._out.start()
        # Both streams' timing estimates are off during the first ~100 ms (PortAudio/pulse
        # priming; the first output callbacks come in a burst to fill the buffer): wait 0.2 s
        # and until both callbacks are running.
        t0 = time.monotonic()
        deadline = t0 + 5
        need = int(0.1 * self.rate / self.block)
        while (
            self._out_callbacks < need or self._in_callbacks < need or time.monotonic() - t0 < 0.2
        ):
            if time.monotonic() > deadline:
                raise RigError(
                    f"harness streams not running (out callbacks {self._out_callbacks}, "
                    f"in callbacks {self._in_callbacks})"
                )
            time.sleep(0.01)

    def close(self) -> None:
        for s in (self._out, self._in, self._mic):
            if s is not None:
                with contextlib.suppress(Exception):
                    s.abort()
                with contextlib.suppress(Exception):
                    s.close()
        self._out = self._in = self._mic = None
        with self._lock:
            for c in self._clips:
                c.started.set()
                c.done.set()
            self._clips.clear()
            self._idle.set()

    # -- mic player

    def _out_cb(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        if status.output_underflow:
            self.underflows += 1
            self.underflow_times.append(now)
        self._out_callbacks += 1
        with self._lock:
            if not self._clips:
                outdata.fill(0)
                return
            dac = now + (time_info.outputBufferDacTime - time_info.currentTime)
            mix = np.zeros(frames, dtype=np.int32)
            keep: list[_Clip] = []
            for c in self._clips:
                if c.pos == 0:
                    c.t_start = dac
                    c.started.set()
                k = min(frames, len(c.data) - c.pos)
                mix[:k] += c.data[c.pos : c.pos + k]
                c.pos += k
                if c.pos >= len(c.data):
                    c.done.set()
                else:
                    keep.append(c)
            self._clips = keep
            if not keep:
                self._idle.set()
        outdata[:, 0] = np.clip(mix, -32768, 32767)

    def play(self, data: np.ndarray) -> float:
        if self._out is None:
            raise RigError("harness is closed")
        clip = _Clip(np.ascontiguousarray(data, dtype=np.int16))
        if len(clip.data) == 0:
            return time.monotonic()
        with self._lock:
            self._clips.append(clip)
            self._idle.clear()
        if not clip.started.wait(2.0):
            raise RigError("mic player stream is not running")
        return clip.t_start

    def wait_idle(self, timeout: float) -> None:
        if not self._idle.wait(timeout):
            raise RigError("mic playback did not finish in time")

    # -- speaker recorder

    def _in_cb(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        if status.input_overflow:
            self.overflows += 1
        adc = now + (time_info.inputBufferAdcTime - time_info.currentTime)
        with self._lock:
            self._in_callbacks += 1
            self._est.append((self._in_frames, adc))
            if self._recording:
                if self._rec_first_frame is None:
                    self._rec_first_frame = self._in_frames
                self._rec_chunks.append(indata[:, 0].copy())
            self._in_frames += frames
            self._last_adc_end = adc + frames / self.rate

    def start_recording(self) -> None:
        with self._lock:
            self._rec_chunks = []
            self._rec_first_frame = None
            self._recording = True

    def stop_recording(self) -> tuple[np.ndarray, int, float]:
        t_stop = time.monotonic()
        deadline = t_stop + 2.0
        # wait until audio that left the speaker up to t_stop has been captured
        while self._last_adc_end < t_stop and time.monotonic() < deadline:
            time.sleep(0.002)
        with self._lock:
            self._recording = False
            chunks = self._rec_chunks
            first = self._rec_first_frame
            self._rec_chunks = []
            ests = [(f, t) for f, t in self._est if first is not None and f >= first]
            if len(ests) < 5:
                ests = list(self._est)[-50:]
        if first is None or not chunks:
            raise RigError("speaker monitor delivered no audio")
        data = np.concatenate(chunks)
        # Each callback gives an estimate of when frame 0 of the stream was captured
        # (adc_time - frame_index / rate); the median over the recording is robust to jitter.
        t0 = statistics.median(t - f / self.rate for f, t in ests)
        return data, self.rate, t0 + first / self.rate

    # -- microphone recorder (no timestamps: aligned with what it is compared to)

    def _mic_cb(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        with self._lock:
            if self._mic_chunks is not None:
                self._mic_chunks.append(indata[:, 0].copy())

    def start_mic(self) -> None:
        import sounddevice as sd

        if self._mic is None:
            self._mic = sd.InputStream(device=HARNESS_MIC_MONITOR, callback=self._mic_cb,
                                       samplerate=self.rate, channels=1, dtype="int16",
                                       blocksize=self.block, latency=HARNESS_LATENCY_S)
            self._mic.start()
        with self._lock:
            self._mic_chunks = []

    def stop_mic(self) -> np.ndarray:
        time.sleep(HARNESS_LATENCY_S)  # what reached the microphone until now, captured
        with self._lock:
            chunks, self._mic_chunks = self._mic_chunks, None
        if not chunks:
            raise RigError("the microphone's monitor delivered no audio")
        return np.concatenate(chunks)
