"""A look-back for the echo gate: a visitor's word, talking over the assistant, passes from
its soft start, not from the 10 ms that opened the gate.

The gate opens on the first 10 ms of microphone `margin_db` louder than the echo expected;
a word's start (an "h", an "s", a vowel rising) is quieter than that, and was attenuated
30 dB with the echo: on synthetic speech over a -6 dB loop, half of the visitor's words
lost 39 ms or more from where they rose 30 dB below their peak (one in ten, 91 ms). So
while the gate attenuates, the newest `ms` of microphone are held back here; when it
opens they pass as captured, ahead of the block that opened it (the same words: half lost
nothing, one in ten 51 ms or more). Nothing the visitor says is delayed: what is held is
sent the moment the gate opens. The uplink runs `ms` behind only while it carries the
attenuated echo (`held_ms`, which the uplink counts as captured and not yet sent); the
frames that fall short as the gate closes are sent late or as silence, in place of echo
30 dB down. What is held when the gate opens without a visitor (the echo ended more than
`release_ms` before) is the echo's pause. 40 ms: a flush and a 20 ms block stay under
the framer's 100 ms backlog bound, past which it drops audio.
"""

from __future__ import annotations

import numpy as np

from bridge.audio.echo_gate import EchoGate

LOOK_BACK_MS = 40.0


class LookBack:
    """`EchoGate` with a look-back; the same `far`/`near`, but `near` may return fewer
    samples than it was given (as the gate closes) or more (as it opens)."""

    def __init__(self, gate: EchoGate, ms: float = LOOK_BACK_MS) -> None:
        self.gate = gate
        self.rate = gate.rate
        self._keep = int(gate.rate * ms / 1000)
        self._raw = np.zeros(0, dtype=np.int16)  # held back: as captured
        self._gated = np.zeros(0, dtype=np.int16)  # the same, as the gate left them
        self._ramp = max(1, gate.rate // 500)  # 2 ms, as the gate ramps

    @property
    def held_ms(self) -> float:
        """The microphone held back (captured, not yet returned)."""
        return 1000.0 * len(self._raw) / self.rate

    def far(self, samples: np.ndarray) -> None:
        self.gate.far(samples)

    def mark_unsure(self, why: str, late_s: float = 0.0) -> None:
        self.gate.mark_unsure(why, late_s)

    def near(self, samples: np.ndarray) -> np.ndarray:
        was = self.gate.gain
        out = self.gate.near(samples)
        if self.gate.gain < 1.0:  # attenuating: the newest `_keep` samples wait
            raw = np.concatenate((self._raw, samples))
            gated = np.concatenate((self._gated, out))
            cut = max(0, len(raw) - self._keep)
            self._raw, self._gated = raw[cut:], gated[cut:]
            return gated[:cut]
        if not len(self._raw):
            return out
        # opened: what was held passes as captured, ramped up from the attenuation
        raw = np.concatenate((self._raw, samples)).astype(np.float32)
        k = min(self._ramp, len(raw))
        raw[:k] *= np.linspace(was, 1.0, k, dtype=np.float32)
        self._raw = self._gated = np.zeros(0, dtype=np.int16)
        return raw.astype(np.int16)
