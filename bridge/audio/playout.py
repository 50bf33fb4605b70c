"""The playout buffer between the downlink and the speaker.

One producer (the event loop, writing decoded assistant audio) and one consumer (the output
device callback, or a clocked file writer) share a `SampleRing` without a lock: each side
advances only its own counter (the producer never overwrites what is unread); a flush (of
all, or of what came before a point) is a request the consumer carries out on its next pull,
faded so the cut does not click. The consumer allocates nothing: it copies into the block
and preallocated rings. Every edge is a whole fade (`fade_ms`, `fades.py`).

Playback starts once the target depth (`start_ms`, then what the jitter estimate asks
for) is queued, and again so after near-silence ran dry; speech that ran dry goes on once
the lateness seen and a block are queued (a chunk late mid-word costs a block or two, not
a refill to the target: the gap deepens the queue by what was late). While playing, the
low-water mark over ~1.5 s (the depth just before the latest arrivals) is kept at or above
a floor (a block beyond the lateness seen: a chunk that late finds a block queued; each
(re)start begins a new history): below it, a block of silence is held back; when it has
stayed two blocks above for four periods (~6 s), a block is skipped.
Both happen only while all that is queued is near-silence (Vapi sends it between
utterances); pauses between words are shorter than the queue: speech is never stretched.

The buffer outlives calls (a sink outlives them in `standby` and `loop` modes), so each call
is a stream: `begin_stream` drops whatever an earlier one left and starts again from the
start depth with a fresh low-water history; `end_stream` plays out what is queued (no
refill to the target, no held-back silence), its running dry being the end, not an
underrun. With `maybe` (Vapi's `ended`, its socket open: a goodbye may stream behind it)
that waits until nothing came for the target's time (a goodbye behind `ended` began on the
47 ms then queued, and ran dry in its first words: a 52 ms gap). The counters go on over
streams: a call's share is a difference.

Speech is never dropped. Audio arriving faster than real time (a whole reply at once) is
queued whole in a preallocated ring of `capacity_ms` (90 s) and played at the device's
pace; what is further ahead than the ring holds waits in its sink (`BufferedSink`). The
delay bound (`max_ms` beyond the target) is kept only in near-silence: while the queue is
longer, near-silence at its head 800 ms past speech and 50 ms before the next is skipped
(pauses under 850 ms stay whole; no word is cut). Audio written to a full ring is lost.
Every sample dropped is counted, as silence or as speech.
"""

from __future__ import annotations

import time

import numpy as np

from bridge.audio.fades import Fades
from bridge.audio.lowwater import LowWater
from bridge.audio.playout_taps import PlayoutTaps
from bridge.audio.playout_types import PlayoutSettings, PlayoutStats
from bridge.audio.ring import SampleRing
from bridge.audio.speechruns import QUIET_PEAK, SpeechRuns

__all__ = ["QUIET_PEAK", "PlayoutBuffer", "PlayoutSettings", "PlayoutStats"]


class PlayoutBuffer(PlayoutTaps):
    def __init__(self, sample_rate: int, settings: PlayoutSettings | None = None) -> None:
        self.sample_rate = sample_rate
        s = settings or PlayoutSettings()
        per_ms = sample_rate / 1000.0
        self._cap = int(s.capacity_ms * per_ms)
        self._ring = SampleRing(self._cap)  # w: producer, r: consumer
        self._fades = Fades(int(s.fade_ms * per_ms))  # consumer's
        self._fade = self._fades.length
        self._tail = np.zeros(self._fade, dtype=np.int16)  # an underrun's look back
        self.target_samples, self.floor_samples = int(s.start_ms * per_ms), 0  # producer's
        self._max_samples = int(s.max_ms * per_ms)
        self._runs = SpeechRuns(sample_rate)
        self._flush_to = 0  # this and the three below: producer-owned
        self._overflow = self._overflow_speech = 0
        self._ending = 0  # `end_stream`: 1 maybe (`ended`), 2 over: play out, uncounted
        self._stream_seq, self._discard_to = 0, 0  # `begin_stream`'s request
        # consumer-owned
        self._playing = self._dry_in_speech = False
        self._underruns = self._audible_underruns = 0
        self._dropped = 0  # near-silence skipped by the consumer
        self._flushed = self._flushes_done = 0
        self._stretched = 0
        self._discarded = 0  # what earlier streams left, dropped as the next began
        self._stream_done = 0  # the `begin_stream` request carried out
        self._init_taps()  # the played rings, the overlay, the echo reference
        self._low = LowWater(int(1.5 * sample_rate))  # consumer's; period in samples played
        # `watch_queued_end`: the producer sets _watch then bumps _watch_seq; the consumer
        # answers with _watch_heard, then sets _watch_done to the seq it answered
        self._watch, self._watch_seq, self._watch_done, self._watch_heard = 0, 0, 0, 0.0
        self._c0 = self._c1 = 0  # consumer: the ring span the latest block copied out
        self._seen_w = self._idle = 0  # consumer: the last write seen, samples pulled since

    # ---- producer side (event loop) -------------------------------------------------
    def write(self, samples: np.ndarray) -> None:
        n = len(samples)
        if n == 0:
            return
        free = self.room
        if n > free:  # consumer stalled: keep the newest audio that fits
            lost = samples[: n - free]
            self._overflow += len(lost)
            if self._runs.loud.count(lost):
                self._overflow_speech += len(lost)
            samples = samples[n - free:] if free > 0 else samples[:0]
            n = len(samples)
            if n == 0:
                return
        self._runs.note(self._ring.w, samples)
        self._ring.put(samples)  # fits: never overwrites what is unread

    @property
    def room(self) -> int:
        """Samples `write` takes now without dropping any (producer side)."""
        return self._cap - (self._ring.w - self._ring.r)

    def watch_queued_end(self) -> None:
        """Note the end of what is queued now: `queued_end_heard` then says when the first
        sample queued after it is heard (or would be), all before it played or dropped."""
        self._watch = self._ring.w
        self._watch_seq += 1

    @property
    def queued_end_heard(self) -> float | None:
        """For the latest `watch_queued_end`: when (monotonic); None until it is reached."""
        return self._watch_heard if self._watch_done == self._watch_seq else None

    def flush(self, before: int = 1 << 62) -> None:
        """Drop what is queued (barge-in), or only what was before a `written` count."""
        self._flush_to = max(self._flush_to, min(before, self._ring.w))

    def begin_stream(self, start_ms: float, gain: float = 1.0) -> None:
        """A new stream (a call): nothing queued before it is ever played (the next pull drops it,
        fading out what was playing; not counted as a flush), and playback starts again once
        `start_ms` are queued, with no floor and no low-water history. `gain`: its audio is
        written that much louder than sent (speech is told as sent)."""
        self.set_target_ms(start_ms)
        self._runs.set_gain(gain)  # before the stream's first write
        self._discard_to = self._ring.w
        self._stream_seq += 1
        self._ending = 0  # last: a consumer that sees it sees the request too

    def end_stream(self, over: bool = True, *, maybe: bool = False) -> None:
        """No more audio comes: what is queued (and any straggler) plays out, its running
        dry the end, no underrun. `maybe`: more may (Vapi's `ended`): it plays out so once
        nothing came for the target's time. `over` False: more came (a goodbye behind it)."""
        self._ending = (1 if maybe else 2) if over else 0

    def set_target_ms(self, ms: float, floor_ms: float = 0.0) -> None:
        """`ms`: depth to hold before (re)starting; `floor_ms`: the low-water mark to keep
        while playing (the lateness the jitter estimate has seen)."""
        self.target_samples = int(ms * self.sample_rate / 1000.0)
        self.floor_samples = int(floor_ms * self.sample_rate / 1000.0)

    # ---- consumer side (audio callback) ---------------------------------------------
    def read_into(self, out: np.ndarray, heard_at: float | None = None) -> None:
        """Fill `out` (int16, 1-D) completely: audio, or silence when there is none.
        `heard_at`: when the block's first sample reaches the listener (monotonic)."""
        self._c1 = -1  # nothing copied out yet
        self._fill(out)
        seq = self._watch_seq
        if self._watch_done != seq and self._ring.r >= self._watch:  # reached this block
            c0, c1 = self._c0, self._c1  # past what was copied (a flush's fade): after it
            at = (time.monotonic() if heard_at is None else heard_at) + (
                min(max(self._watch, c0), c1) - c0 if c1 >= 0 else 0) / self.sample_rate
            self._watch_heard, self._watch_done = at, seq
        self._tap(out, heard_at)  # the played rings, the overlay, the echo reference

    def _fill(self, out: np.ndarray) -> None:
        want = len(out)
        ending = self._ending  # read before the stream's seq (`begin_stream` sets it after)
        seq, flush_to = self._stream_seq, self._flush_to
        if seq != self._stream_done or flush_to > self._ring.r:
            self._cut(out, seq, flush_to)
            return
        w = self._ring.w
        self._idle = 0 if w != self._seen_w else self._idle + want  # nothing came (`maybe`)
        self._seen_w = w
        depth = w - self._ring.r
        if not self._playing:
            over = ending > 1 or (ending > 0 and self._idle >= self.target_samples)
            need = 1 if over else self.target_samples  # the stream over: what is left
            if self._dry_in_speech and ending < 2:  # speech ran dry: on once the lateness
                need = min(need, want + self.floor_samples)  # seen and a block are queued
            if depth < need or depth == 0:
                out[:] = 0
                self._fades.go_on(out)  # the last fade out, past a short block's end
                return
            self._fades.drop_fade_out()
            self._playing, self._dry_in_speech = True, False
            self._low.reset()  # the marks as it ran dry say nothing of the refilled queue
        if depth > self.target_samples + self._max_samples + want:  # beyond the bound
            drop = min(self._runs.droppable(self._ring.r, w), depth - self.target_samples)
            if drop > 0:  # near-silence only, never a word
                self._ring.r += drop
                self._dropped += drop
                depth -= drop
        elif ending < 2:
            depth = self._steer(out, want, depth)
            if depth < 0:
                return
        n = min(want, depth)
        self._copy_out(out if n == want else out[:n], n)
        if self._fades.fading_in:
            self._fades.fade_in(out[:n])
        if n < want:  # the stream's end running out is no underrun (`maybe`: one may be)
            if ending < 2 and self._ran_dry_loud(out[:n]):
                self._audible_underruns += not ending
                self._dry_in_speech = True
            self._underruns += not ending
            out[n:] = 0
            self._fades.fade_out(out, max(0, n - self._fade), n, self._ring)
            self._playing = False
            self._fades.begin_fade_in()

    def _ran_dry_loud(self, part: np.ndarray) -> bool:
        """Whether what ran dry was speech: this block's `part`, or if the queue emptied at
        the block before's end, that block's last fade (in the ring: nothing came after)."""
        if not len(part):
            part = self._tail[:min(self._fade, self._ring.r)]
            self._ring.copy_out(self._ring.r - len(part), part)
        return bool(len(part)) and max(int(part.max()), -int(part.min())) >= self._runs.loud.peak

    def _cut(self, out: np.ndarray, seq: int, flush_to: int) -> None:
        """Carry out a new stream (`seq`) and a flush (`flush_to`): drop what is queued
        before them, fading out what was playing within `out`."""
        depth = self._ring.w - self._ring.r
        k = min(self._fade, depth, len(out))
        out[:] = 0
        if self._playing:
            self._copy_out(out[:k], k)
            self._fades.fade_out(out, 0, k, self._ring)
        else:
            self._fades.go_on(out)
        r = self._ring.r
        if seq != self._stream_done:  # what earlier streams left: never played
            self._discarded += max(0, self._discard_to - r)
            r = max(r, self._discard_to)
            self._stream_done = seq
        if flush_to > r:
            self._flushed += flush_to - r
            self._flushes_done += 1
            r = flush_to
        self._ring.r = r
        self._playing = self._dry_in_speech = False
        self._fades.cancel_fade_in()

    def _steer(self, out: np.ndarray, want: int, depth: int) -> int:
        """Keep the low-water mark (the depth just before the latest arrivals) at or above
        the floor, and shrink it when it has stayed two blocks above for four periods;
        only in near-silence. Returns the new depth, or -1 when this block was filled with
        held-back silence."""
        low = self._low
        low.note(depth, want)
        floor = want + self.floor_samples  # a chunk this late leaves a block to pull
        if low.recent < floor and self._quiet(want, depth):
            low.shift(want)  # hold back one quiet block: later depths are one higher
            out[:] = 0
            self._stretched += want
            return -1
        if low.settled > floor + 2 * want and self._quiet(want, depth):
            low.shift(-want)  # skip one quiet block: the delay shrinks by a block
            self._ring.r += want
            self._dropped += want
            return depth - want
        return depth

    def _quiet(self, want: int, depth: int) -> bool:
        """Whether everything queued (at least one block) is near-silence: the assistant is
        between utterances, not in a pause between words."""
        return depth >= want and self._runs.quiet_from(self._ring.r)

    def _copy_out(self, dst: np.ndarray, n: int) -> None:
        """`dst`: exactly `n` samples long."""
        r = self._ring.r
        self._ring.copy_out(r, dst)
        self._c0, self._c1 = r, r + n
        self._ring.r = r + n

    # ---- either side (reads only) ---------------------------------------------------
    @property
    def depth_ms(self) -> float:
        return max(0, self._ring.w - self._ring.r) * 1000.0 / self.sample_rate

    @property
    def played_samples(self) -> int:
        return self._ring.r

    @property
    def speech_queued(self) -> bool:
        """Whether anything loud is still queued (else only near-silence is)."""
        return not self._runs.quiet_from(self._ring.r)

    def stats(self) -> PlayoutStats:
        per_ms = self.sample_rate / 1000.0
        overflow, overflow_speech = self._overflow, self._overflow_speech
        return PlayoutStats(
            underruns=self._underruns, audible_underruns=self._audible_underruns,
            silence_dropped_ms=(self._dropped + overflow - overflow_speech) / per_ms,
            speech_dropped_ms=overflow_speech / per_ms,
            stretched_ms=self._stretched / per_ms, overflow_ms=overflow / per_ms,
            flushes=self._flushes_done, flushed_ms=self._flushed / per_ms,
            played_ms=(self._ring.r - self._discarded) / per_ms,
            depth_ms=self.depth_ms,
        )

