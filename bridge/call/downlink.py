"""The downlink: wire bytes → decoder → gain → resampler → the sink's playout buffer.

Vapi's audio chunks are neither frame-sized nor sample-aligned: the s16le decoder carries a
split byte to the next chunk, and the sink's playout buffer re-blocks the audio for the
device. With `adaptive` (the default) each chunk's arrival feeds a jitter estimate
(`bridge.audio.jitter`) that sets the playout target (the estimate plus one device block,
within `bounds_ms`) and the floor kept while playing: a target more than 5 ms above the
current one applies at once, one more than 5 ms below only once the jitter window is full.
Until that window is full the lateness taken for the floor and the target is at least
`FIRST_FLOOR_MS`, the lateness Vapi's own chunking brings (chunks p50 50 ms apart, at most
~100 ms, as seen in its traffic and as the simulator sends them: docs/simulator.md). A
call's first arrivals have not shown it yet, and speech cannot be held back to catch up: a
reply ran dry mid-word whenever its first ~100 ms gap came before any other had (8 in 150
simulated calls; 0 with this floor), and a greeting from the call's first chunk, with no
near-silence before it in which to deepen the queue, started on too little to keep that
floor (9 in 150 simulated calls, 5 in 31 device calls; 0 in 150 and 0 in 32 with the
target taking it too).

On barge-in the queued audio is dropped (the sink fades it out), the resampler forgets its
history, and a sample split across the cut decodes as silence: played after the refill,
that one sample of the cut reply would ring through the resampler as a click.
While the assistant is muted what arrives is decoded but not played: skipped undecoded,
an odd byte count kept the s16le stream a byte off after the unmute, full-scale noise
wherever the decoder's check cannot tell (0.36 s of a 2900 Hz tone); what plays first after
the unmute fades in (it resumes mid-word).

After `user-interrupted`, speech that still arrives without a pause is the cut reply's
tail, and is dropped too: nothing in the protocol orders the event before the audio Vapi
had already produced (a server whose audio path lags its events sent 200 ms more of the
reply, played on over the visitor). The tail ends at the first pause in it — an arrival gap
of `TAIL_GAP_MS` (or the longest recent chunk's time and 50 ms, up to `TAIL_GAP_MAX_MS`: a
server sending 200 ms chunks in real time has 200 ms gaps between them, and 500 ms of a cut
reply played on after the first) from the event on (a pause in Vapi's audio that the event
arrived in is none: the tail came after it — 150 ms of it played on, cut with a click, when
the chunk before came 170 ms earlier), or `TAIL_QUIET_MS` of near-silence, which any next
reply follows (the visitor's turn lies between) — at the assistant's next reply's
`speech-update started` (`BargeIn`: one with a new `turn`, or without turns one while the
visitor is not speaking or after a `model-output` with a new `turnId`: else one while they
are may be the cut reply's own, reordered behind the event, and let the rest of its tail
play over them, 160 ms of it with simulator fault `stale-started`), or after `TAIL_MAX_MS`
of it and as long since the event (a server that talks on regardless; a tail sent faster
than real time packs more speech into the time Vapi takes to stop: of a greeting sent at
6x, 0.5 s played on over the visitor after the first 1 s). A second `user-interrupted`
while a tail comes keeps that tail (its gap counted from the later event). A barge-in on
the fallback signal (the visitor's speech start) or on a command drops no tail: Vapi may go
on with the line, or start the next one at once. But a `say` with `interruptAssistantEnabled`
sent while Vapi sends a reply (`cut_reply`) drops what still comes of it, no pause ending
that, until Vapi says the reply stopped (then until its first near-silent chunk: the said
line's audio may come before its `started`, and 150 ms of near-silence was not there to end
it: 0.9 s of the said line dropped) or the said line begins, 1 s at most (a say refused
drops nothing, but a tail the visitor cut too, which ends at its pause): Vapi has the say
0.2-0.3 s after it left by the controlUrl, and at 3x the visitor heard 0.76 s of the cut
reply after the cut (1.8 s with the say 0.6 s late), then the say. A dropped chunk still
arrived, so the jitter estimate takes it: kept from it, its time would read as the next
chunk's lateness (the floor and the target raised for the window's 8 s, the next answer
held back by as much). What arrives after a dropped tail fades in (`FADE_IN_MS`): it may
begin mid-word (a tail cut at its bound), out of the flush's silence, a click else. The log
line counts the speech dropped, not the near-silence the tail takes before it ends.

The sink outlives the call in `standby` and `loop` modes: a downlink begins a new stream
on it (nothing a call before left queued is played, the playout target starts again at
`start_ms`) and ends it with the call (`end`: what is queued plays out, its running dry no
underrun); `playout_stats` is this call's share of the sink's counters.

Ending the call ourselves (`ctl end`, a stop signal, the visitor gone) `end`s it with
`cut`: what is queued fades out at once, and what still arrives is counted, not played. A
call Vapi ends (after the assistant's goodbye, sent whole or ahead of time) is not cut: what
is queued plays out (`bridge.call.tail`). Vapi's `ended` with the socket open is a `maybe`
end (nothing orders it after the goodbye's audio): the queue keeps its target until nothing
comes for that long (the goodbye's first 47 ms, played out at once, began it on too little:
a 52 ms gap under load), and the resampler's held ms are given without silence fed into its
stream (3.7 ms of it went into the goodbye at 48 kHz). Speech that still arrives after it
resumes the stream (`end_stream(False)`: steered against jitter as before, not played as
stragglers), and `speech_at` keeps the socket open for it (`bridge.call.watchdog`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from bridge.audio.base import AudioSink, apply_gain
from bridge.audio.codec import Codec
from bridge.audio.fades import fade_in
from bridge.audio.jitter import JitterEstimator, target_ms
from bridge.audio.playout import PlayoutStats
from bridge.audio.resample import Resampler
from bridge.call.cut_tail import QUIET_PEAK, TAIL_GAP_MAX_MS, TAIL_GAP_MS, CutTail

FIRST_FLOOR_MS = 50.0  # the lateness kept covered until the jitter window is full
CUT_LOGGED_MS = 300.0  # less cut at our end is the usual queue, not speech worth a line

log = logging.getLogger("bridge.call")


class Downlink:
    def __init__(self, codec: Codec, wire_rate: int, sink: AudioSink, *, gain: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 bounds_ms: tuple[float, float] = (40.0, 200.0), block_ms: float = 20.0,
                 start_ms: float = 60.0, adaptive: bool = True) -> None:
        self.codec = codec
        self.wire_rate = wire_rate
        self.sink = sink
        self._gain = gain
        self._resampler = Resampler(wire_rate, sink.sample_rate)
        self.bytes_received = 0
        self.clock = clock
        self._bounds = bounds_ms
        self._block_ms = block_ms
        self.jitter = JitterEstimator(wire_rate) if adaptive else None
        self.target_ms = start_ms
        self.floor_ms = FIRST_FLOOR_MS if adaptive else 0.0
        sink.begin_stream(start_ms, gain)  # speech told as sent: at -36 dB it is still speech
        sink.set_playout_target(start_ms, self.floor_ms)
        self._base = sink.playout_stats()  # counted before this call: not its share
        self._cut = False
        self.muted = False  # `mute-assistant` sent: what still arrives is not played
        self._unmuted_fade = False  # what plays first after it fades in
        self._flushed = False  # the resampler's tail pushed out (the stream is over)
        self._realigned_said = 0  # the codec's realignments already logged
        self._tail: CutTail | None = None  # after user-interrupted: the cut reply's tail
        self._last_arrival: float | None = None
        self._reply_until: float | None = None  # `reply_over`: what arrives until then is its
        self.reply_end: int | None = None  # ... and the queue's mark as the next audio came
        self._ending = False  # `end`ed uncut: a goodbye may still arrive (Vapi's `ended`
        self.speech_at = 0.0  # ahead of it): when speech last arrived since (monotonic)

    def on_audio(self, data: bytes, longest: int = 0) -> None:
        """`data`: what the socket read in one go; `longest`: the bytes of the longest frame
        in it (0: one frame), the chunk the jitter estimate allows for."""
        self.bytes_received += len(data)
        if self._cut:
            return
        samples = self.codec.decode(data)
        if len(samples) == 0:
            return
        arrived, last = self.clock(), self._last_arrival
        self._last_arrival = arrived
        if self._reply_until is not None and arrived > self._reply_until:
            self.reply_end, self._reply_until = self.sink.queued_mark(), None
        if self._ending and (int(samples.max()) > QUIET_PEAK or int(samples.min()) < -QUIET_PEAK):
            if not self.speech_at:  # speech after Vapi's `ended`: the stream goes on, its
                self.sink.end_stream(False)  # queue steered, until the socket closes
            self.speech_at = arrived
        jitter = self.jitter
        if jitter is not None:  # before the tail: a dropped chunk arrived too
            n = len(samples)
            jitter.on_chunk(arrived, n, n * longest // len(data) if 0 < longest < len(data)
                            else n)
            floor = jitter.jitter_ms if jitter.settled else max(jitter.jitter_ms,
                                                                 FIRST_FLOOR_MS)
            target = target_ms(floor + jitter.chunk_ms, self._block_ms, *self._bounds)
            now = self.target_ms
            moved = target > now + 5 or (target < now - 5 and jitter.settled)  # rise, fall
            if moved:
                self.target_ms = target
            if moved or abs(floor - self.floor_ms) > 5:
                self.floor_ms = floor
                self.sink.set_playout_target(self.target_ms, floor)
        if self._tail is not None:
            if self._tail.drops(samples, arrived, last):
                return
            if self._tail.dropped:  # out of the flush's silence, maybe mid-word (the tail
                samples = fade_in(samples, self.wire_rate)  # cut at its bound): a click
            self._tail = None  # over: its first pause
        if self.muted:  # decoded all the same: the stream's byte alignment is kept exact
            return
        if self._unmuted_fade:  # it comes back mid-word, out of the mute's silence: at its
            samples = self._faded_back(samples)  # first sound (Vapi's own silence first)
        self._flushed = False  # what the resampler holds of it: pushed out at the end
        out = self._resampler.process(apply_gain(samples, self._gain))
        if len(out):
            self.sink.capture_frame(out)

    def mute(self, on: bool) -> None:
        """`mute-assistant` (True) or `unmute-assistant`: what plays first after it fades in
        at its first sound, whether anything arrived while muted or not."""
        self.muted = on
        self._unmuted_fade |= on

    def _faded_back(self, samples: np.ndarray) -> np.ndarray:
        loud = np.flatnonzero((samples > QUIET_PEAK) | (samples < -QUIET_PEAK))
        if not len(loud):
            return samples  # Vapi's own silence, still in flight: the fade waits for sound
        self._unmuted_fade, at = False, int(loud[0])
        return np.concatenate((samples[:at], fade_in(samples[at:], self.wire_rate)))

    def barge_in(self, *, tail_of: str = "", held: bool = False) -> float:
        """Silence the speaker now. Returns how many ms of queued audio were dropped.
        `tail_of` (the call's label; on `user-interrupted`): also drop the cut reply's tail
        as it arrives, logged once it is over; `held` (`cut_reply`): no pause ends it."""
        dropped = self.sink.playout_stats().depth_ms
        self.sink.clear_buffer()
        self._resampler.reset()
        self.codec.drop_split()
        if tail_of and self._tail is not None:  # cut again as its tail comes: one tail
            self._tail.recut(self.clock(), held=held)
        elif tail_of:
            self._tail = CutTail(tail_of, self.wire_rate, self.clock(), self._tail_gap_ms(),
                                 held=held)
        return dropped

    def cut_reply(self, label: str) -> float:
        """A command that cuts the reply Vapi is sending (a `say` with
        `interruptAssistantEnabled`): `barge_in`, and what still arrives of the reply is
        dropped, no pause ending it, until Vapi says it stopped (`reply_over`: then as a
        tail after `user-interrupted`) or the next reply begins, for `TAIL_MAX_MS` at most
        (a say Vapi speaks late or never: the reply plays on, faded in)."""
        return self.barge_in(tail_of=label, held=True)  # (the visitor's, still coming: held)

    def uncut(self) -> None:
        """The command `cut_reply` was for was not done after all (Vapi refused it): the
        tail goes, unless the visitor cut the reply too: then it ends at its pause."""
        if self._tail is not None and self._tail.held:
            if self._tail.visitor:
                self._tail.release(self.clock())
                return
            self._tail.over()
            self._tail = None

    def _tail_gap_ms(self) -> float:
        """The arrival pause that ends a tail: a server sending chunks longer than Vapi's
        has gaps that long between them (200 ms chunks: the tail ended at the first, and
        the rest of the cut reply played on, 500 ms of it)."""
        chunk = self.jitter.chunk_ms if self.jitter is not None else 0.0
        return min(TAIL_GAP_MAX_MS, max(TAIL_GAP_MS, chunk + 50.0))

    def reply_over(self, grace_s: float) -> None:
        """The assistant's `speech-update stopped`: what arrives within `grace_s` is still
        that reply's; `reply_end` marks where what came later begins (None until then)."""
        self._reply_until, self.reply_end = self.clock() + grace_s, None
        if self._tail is not None and self._tail.held:  # Vapi's cut: what was in flight
            self._tail.release(self.clock(), stopped=True)  # ends at its first quiet

    def next_reply(self) -> None:
        """The assistant's next reply has begun (its `speech-update started`, `BargeIn`):
        no more tail."""
        if self._tail is not None:
            self._tail.over()
            self._tail = None

    def end(self, *, cut: bool = False, label: str = "", maybe: bool = False) -> None:
        """The call's audio is over (the socket closed, or the call is being ended). `cut`:
        we end the call ourselves, so the assistant stops now, mid-word or not (faded), and
        nothing that still arrives is played; else what is queued plays out (a goodbye).
        `maybe`: Vapi's `ended`, its socket open: more may come, so the playout keeps its
        target until nothing comes for that long (`PlayoutBuffer.end_stream`)."""
        if cut and not self._cut:
            self._cut = True
            dropped = self.barge_in()
            if dropped >= CUT_LOGGED_MS:
                log.info("call %s: ending; %.1f s of the assistant's audio cut", label,
                         dropped / 1000)
        elif not self._cut:
            self._ending = True  # what still arrives plays, its speech watched (`speech_at`)
            if not self._flushed:  # the held last ms of what plays out
                self._flushed = True
                if len(tail := self._resampler.flush()):
                    self.sink.capture_frame(tail)
        if label and self.codec.realigned > self._realigned_said:  # said once per call
            self._realigned_said = self.codec.realigned
            log.info("call %s: the assistant's audio came a byte off its samples %d time(s) "
                     "(a reply cut mid-sample) and was realigned", label, self.codec.realigned)
        self.sink.end_stream(maybe=maybe)

    def playout_stats(self) -> PlayoutStats:
        """This call's share of the speaker's playout counters, and its depth now."""
        return self.sink.playout_stats().since(self._base)

    @property
    def received_seconds(self) -> float:
        return self.bytes_received / self.codec.bytes_per_sample / self.wire_rate
