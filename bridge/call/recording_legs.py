"""A recording's two legs on one clock, taken as the WAV's stereo blocks.

Left is what was sent (after echo control); right is what the speaker actually played
(after the playout buffer: flushes, underruns and silence included), taken from a ring the
sink's consumer fills with every block it plays. Both legs are placed on one clock, where
their sound was heard at the kiosk: each frame sent where its start was captured (the
input device's capture clock, less what the resampler and framer still held), each stretch
played where the speaker makes it heard (the output device's clock, stamped on the played
ring). Each leg is a continuous stream of its device's samples, so the placement only
decides the legs' offset, from the first half second (nothing is written before), and
fills with silence time a leg lost later (the loop stalled, a device reopened; a clock
that jumped over `JUMP_S` is not: `timeline`).
The network never moves either leg — a burst, a stall or an oversized frame only changes
what the speaker plays — so the file lasts as long as the call, and speech has no gaps. A
goodbye still queued when the call ends is placed as it plays out (`tail`), the sent leg
silent beside it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from bridge.audio.base import AudioSink
from bridge.audio.resample import Resampler
from bridge.audio.ring import SampleRing
from bridge.audio.timeline import Leg, settle

log = logging.getLogger("bridge.record")

SLACK_S = 0.050  # this far behind its clock, a leg lost time (≥ 60 ms; stamps jitter less)
JUMP_S = 10.0  # further behind its clock, the clock jumped (`timeline.Leg.place`)
SETTLE_TICKS = 25  # uplink ticks over which the legs' offset is measured
PLAYED_RING_S = 5.0  # played audio awaiting the recorder: drained every 20 ms tick


class Legs:
    """The sent leg and the speaker's, placed on one clock at the wire rate; `block()`
    takes what both hold as stereo samples for the WAV."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self._clock = rate, clock
        self._left, self._right = Leg("sent"), Leg("speaker")
        self.written = 0  # samples of each leg in the WAV
        self._tail_from: int | None = None  # the sent leg's length as the call ended
        self.sink: AudioSink | None = None
        self._speaker: SampleRing | None = None
        self._speaker_on = False  # a block the speaker played in the call was taken
        self._resampler: Resampler | None = None
        self._frame_captured_at: Callable[[], float] | None = None
        self._ref: float | None = None  # the instant at the WAV's start (monotonic)
        self._base: int | None = None  # how far both legs lag their clocks, once settled

    @property
    def started(self) -> bool:
        """The WAV's start is placed (a frame was sent, or the call's last words heard)."""
        return self._ref is not None

    def attach_speaker(self, sink: AudioSink, frame_captured_at: Callable[[], float]) -> None:
        """Record every block `sink` plays (a ring, stamped with when each is heard);
        `frame_captured_at()`: when the start of the latest frame sent was captured."""
        self.sink = sink
        self._speaker = sink.add_played_ring(PLAYED_RING_S)
        self._resampler = Resampler(sink.sample_rate, self.rate)
        self._frame_captured_at = frame_captured_at

    def detach_speaker(self) -> None:
        """The sink stops filling the ring; what it holds can still be taken."""
        if self.sink is not None and self._speaker is not None:
            self.sink.remove_played_ring(self._speaker)
            self.sink = None

    def drop_played(self) -> None:
        """What the speaker played so far is not part of the call."""
        if self._speaker is not None:
            self._speaker.take()

    def send(self, frame: np.ndarray) -> None:
        """A frame sent (once per uplink tick, on the loop), placed where its start was
        captured, and what the speaker played since it."""
        captured = (self._frame_captured_at() if self._frame_captured_at is not None
                    else self._clock() - len(frame) / self.rate)
        if self._ref is None:
            self._ref = captured
            self.drop_played()  # played before the call: not part of it
        self._place(self._left, captured)
        self._left.add(frame.copy())
        self.take_played()
        if self._base is None and len(self._left.lags) >= SETTLE_TICKS:
            self._settle()

    def ended(self) -> None:
        """The call ended: what the speaker plays from here is its tail. A call over before
        its first frame was sent starts the WAV where the speaker's first is heard."""
        if self._ref is None:
            heard = self._speaker.time_of(self._speaker.r) if self._speaker else None
            self._ref = heard if heard is not None else self._clock()
        self._tail_from = self._left.n

    def tail(self) -> None:
        """As the speaker plays out the call's last words: the sent leg silent beside them."""
        self.take_played()
        self._left.add(np.zeros(max(0, self._right.n - self._left.n), dtype=np.int16))

    def take_played(self) -> None:
        if self._speaker is None or self._resampler is None:
            self._right.pad(self._left.n)  # no speaker to hear: silence
            return
        idle = not self._speaker_on  # nothing played yet: a stream starting (a sink waking
        block = self._speaker.take()  # up takes over a second) is silence, not time lost
        played = self._resampler.process(block)
        heard = self._speaker.time_of(self._speaker.r)  # when the end of it is heard
        heard = (self._clock() if heard is None else heard) - (
            self._resampler.held_ms + len(played) * 1000.0 / self.rate) / 1000.0
        self._place(self._right, heard, quiet=idle)
        self._right.add(played)
        if idle:
            self._right.padded, self._speaker_on = 0, len(block) > 0

    def _place(self, leg: Leg, at: float, quiet: bool = False) -> None:
        """Pad `leg` up to the instant `at` when more than `SLACK_S` behind (`Leg.place`)."""
        assert self._ref is not None
        padded, jumped = leg.place(round((at - self._ref) * self.rate) - (self._base or 0),
                                   round(SLACK_S * self.rate), round(JUMP_S * self.rate),
                                   settling=self._base is None)
        if jumped:
            log.warning("recording: the %s leg's device clock jumped %+.1f s at %.2f s: not time "
                        "lost (the legs may be apart from here)", leg.name, jumped / self.rate,
                        leg.n / self.rate)
        elif padded and self._base is not None and not quiet:
            log.info("recording: the %s leg lost %.0f ms at %.2f s", leg.name,
                     padded * 1000.0 / self.rate, (leg.n - padded) / self.rate)

    def _settle(self) -> None:
        """After the first half second (nothing is written before): the legs' offset."""
        self._base = settle(self._left, self._right)
        log.info("recording: the speaker's leg placed %.0f ms after the sent one",
                 (self._right.n - self._left.n) * 1000.0 / self.rate)

    def block(self, final: bool = False) -> np.ndarray | None:
        """The stereo samples both legs hold past `written` (`final`: all either holds, the
        other padded with silence); None when there are none, or the legs' offset is not
        settled yet. Counted in `written` once the WAV has them (`wrote`)."""
        if self._base is None:
            if not final:
                return None  # the legs' offset is not settled yet
            self._settle()
        left, right = self._left.n, self._right.n
        n = (max(left, right) if final else min(left, right)) - self.written
        if n <= 0:
            return None
        stereo = np.empty((n, 2), dtype=np.int16)
        stereo[:, 0] = self._left.take(n)
        stereo[:, 1] = self._right.take(n)
        return stereo

    def wrote(self, block: np.ndarray) -> None:
        self.written += len(block)

    def report(self) -> str:
        """How long the WAV is, how much of it played out after the call, and the time each
        leg lost (filled with silence): for the recording's last log line."""
        start = self._left.n if self._tail_from is None else self._tail_from
        ms, tail = 1000.0 / self.rate, self._left.n - start
        return (f"{self.written / self.rate:.1f} s, {tail / self.rate:.2f} s of it played out "
                f"after the call; time lost and filled with silence: sent "
                f"{self._left.padded * ms:.0f} ms, speaker {self._right.padded * ms:.0f} ms")
