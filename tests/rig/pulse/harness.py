"""The rig's in-process side: what the harness plays into the virtual microphone and what
it records from the virtual speaker's monitor, with monotonic timestamps taken from
PortAudio's DAC/ADC times; and, on demand, what reaches the microphone (the mic sink's
monitor: the clips and the echo paths as they actually ran), by the same recorder."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .daemon import RigError
from .recorder import Recorder, close_stream, mono16, warm_up
from .topology import HARNESS_MIC_IN, HARNESS_MIC_MONITOR, HARNESS_SPEAKER_MONITOR


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
    """The rig's in-process side: one OutputStream into the mic sink and one recorder on the
    speaker monitor, both opened once and kept running (no per-clip stream start-up); a
    recorder on the mic sink's monitor, opened by the first start_mic()."""

    def __init__(self, rate: int, block: int) -> None:
        self.rate = rate
        self.block = block
        self._lock = threading.Lock()
        self._clips: list[_Clip] = []
        self._idle = threading.Event()
        self._idle.set()
        self.underflows = 0
        self.underflow_times: list[float] = []  # time.monotonic() of each mic-player underflow
        self._out_callbacks = 0
        self._out: Any = None
        self._speaker = Recorder(HARNESS_SPEAKER_MONITOR, rate, block, "speaker's monitor")
        self._mic: Recorder | None = None

    @property
    def overflows(self) -> int:
        """The speaker monitor recorder's overflows."""
        return self._speaker.overflows

    @property
    def mic_overflows(self) -> int:
        """The microphone monitor recorder's overflows (0 before start_mic)."""
        return self._mic.overflows if self._mic is not None else 0

    def open(self) -> None:
        import sounddevice as sd

        self._out = sd.OutputStream(device=HARNESS_MIC_IN, callback=self._out_cb,
                                    **mono16(self.rate, self.block))
        self._speaker.open()
        self._out.start()
        # both running, their first ~100 ms of timing estimates past
        need = self._speaker.warm_callbacks
        warm_up(lambda: self._out_callbacks >= need and self._speaker.warm,
                lambda: f"harness streams not running (out callbacks {self._out_callbacks}, "
                        f"in callbacks {self._speaker.callbacks})")

    def close(self) -> None:
        close_stream(self._out)
        self._out = None
        self._speaker.close()
        if self._mic is not None:
            self._mic.close()
        self._mic = None
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

    # -- recorders

    def start_recording(self) -> None:
        self._speaker.start()

    def stop_recording(self) -> tuple[np.ndarray, int, float]:
        return self._speaker.stop()

    def start_mic(self) -> None:
        if self._mic is None:
            mic = Recorder(HARNESS_MIC_MONITOR, self.rate, self.block, "microphone's monitor")
            self._mic = mic
            mic.open()
            mic.wait_warm()
        self._mic.start()

    def stop_mic(self) -> np.ndarray:
        if self._mic is None:
            raise RigError("start_mic() was not called")
        return self._mic.stop()[0]
