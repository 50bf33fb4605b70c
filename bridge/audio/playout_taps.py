"""What the playout buffer (`bridge.audio.playout`) does with each block once filled: the
played rings mirror it (the recording's assistant leg, the turn clock), the overlay mixes
the kiosk's sounds over it, and the echo control's reference mirrors what is then heard.
All of it in the consumer (the audio callback): copies into preallocated rings only.
"""

from __future__ import annotations

import numpy as np

from bridge.audio.playout_types import Overlay
from bridge.audio.ring import SampleRing


class PlayoutTaps:
    sample_rate: int
    _ring: SampleRing  # the playout queue (`PlayoutBuffer`'s)

    @property
    def written(self) -> int:
        """Samples ever queued, counted as `played_samples` counts those played."""
        return self._ring.w

    def _init_taps(self) -> None:
        self.reference: SampleRing | None = None
        self.overlay: Overlay | None = None  # the kiosk's sounds (bridge/audio/sounds.py)
        self._played_rings: tuple[SampleRing, ...] = ()

    def enable_reference(self, seconds: float = 2.0) -> SampleRing:
        """Mirror every block played into a ring: the echo canceller's far end."""
        self.reference = SampleRing(int(seconds * self.sample_rate))
        return self.reference

    def add_played_ring(self, seconds: float) -> SampleRing:
        """Another ring mirroring every block played (flushes and silence included), for a
        consumer other than the echo control (the recording's assistant leg)."""
        ring = SampleRing(int(seconds * self.sample_rate), self.sample_rate)
        self._played_rings = (*self._played_rings, ring)
        return ring

    def remove_played_ring(self, ring: SampleRing) -> None:
        self._played_rings = tuple(r for r in self._played_rings if r is not ring)

    def _tap(self, out: np.ndarray, heard_at: float | None) -> None:
        """The consumer, on the block just filled."""
        for ring in self._played_rings:  # the assistant alone
            ring.put(out)
            if heard_at is not None:
                ring.mark(heard_at, ring.w - len(out))
        if self.overlay is not None:  # mixed over it: heard, and echo the mic may pick up
            self.overlay.mix_into(out)
        if self.reference is not None:
            self.reference.put(out)
