"""`audio.echo: aec`: WebRTC echo cancellation through livekit's
`rtc.AudioProcessingModule` (extra `[aec]`, Apache-2.0) on 10 ms frames. It subtracts a
modelled echo and suppresses what is left, so the visitor is heard while the assistant
talks (full duplex)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bridge.errors import ProfileError


class WebRtcAec:
    """WebRTC AEC (livekit's AudioProcessingModule) on 10 ms frames."""

    RATES = (8000, 16000, 32000, 48000)

    def __init__(self, rate: int, delay_ms: float = 0.0) -> None:
        try:
            from livekit import rtc
        except ImportError:
            from bridge.extras import missing_extra

            raise ProfileError(f"audio.echo: {missing_extra('aec', 'aec', 'livekit')}, or use "
                               f"audio.echo: gate") from None
        if rate not in self.RATES:
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
