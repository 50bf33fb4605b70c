"""What one call came to: its outcome, the audio counters, and the one summary line."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bridge.audio.base import DeviceStats
from bridge.audio.playout import PlayoutStats
from bridge.call.uplink import UplinkStats
from bridge.errors import ExitCode
from bridge.inert import inert
from bridge.words import plural

CONNECTION_LOST = "connection-lost"


@dataclass
class CallSummary:
    call_id: str
    ended_reason: str
    duration_s: float
    cost: float | None = None
    uplink: UplinkStats = field(default_factory=UplinkStats)
    playout: PlayoutStats = field(default_factory=PlayoutStats)
    received_s: float = 0.0
    malformed: int = 0
    interruptions: int = 0
    devices: DeviceStats | None = None  # sound-card counters, when a device was used
    device_error: str | None = None  # a device failed for good and ended the call
    recording_error: str | None = None  # the recording stopped early: path and cause

    @property
    def connection_lost(self) -> bool:
        return self.ended_reason == CONNECTION_LOST

    @property
    def exit_code(self) -> ExitCode:
        if self.device_error:
            return ExitCode.AUDIO
        return ExitCode.NETWORK if self.connection_lost else ExitCode.OK

    def line(self) -> str:
        cost = f", cost ${self.cost:.4f}" if self.cost is not None else ""
        # the full id: the call is over, so it no longer opens anything (see call.py)
        return (f"call {self.call_id} ended: {self.ended_reason} after "
                f"{self.duration_s:.1f} s{cost}; sent {self.uplink.sent_seconds:.1f} s, "
                f"received {self.received_s:.1f} s of audio, "
                f"{plural(self.playout.audible_underruns, 'audible underrun')} "
                f"({self.playout.underruns} in all), {self._dropped()}, "
                f"{plural(self.interruptions, 'interruption')}{self._device_counts()}"
                + (f"; recording incomplete ({self.recording_error})"
                   if self.recording_error else ""))

    def _dropped(self) -> str:
        p = self.playout
        return (f"dropped {p.speech_dropped_ms:.0f} ms of speech and "
                f"{p.silence_dropped_ms:.0f} ms of silence")

    def _device_counts(self) -> str:
        d = self.devices
        if d is None:
            return ""
        reopens = (f"{plural(d.reopen_attempts, 'reopen attempt')} ({d.reopens} succeeded)"
                   if d.reopen_attempts else "no reopens")
        return (f"; devices: {plural(d.input_overflows, 'input overflow')}, "
                f"{plural(d.output_underflows, 'output underflow')}, {reopens}")


def outcome(body: dict[str, Any], reason: str) -> tuple[str, float | None]:
    """The ended reason and cost of `GET /call/{id}`: server text, so inert and bounded, and
    only of the right types."""
    ended = body.get("endedReason")
    cost = body.get("cost")
    good = isinstance(cost, (int, float)) and not isinstance(cost, bool) and \
        math.isfinite(cost) and cost >= 0
    return (inert(ended, 100) if isinstance(ended, str) and ended else reason,
            float(cost) if good else None)
