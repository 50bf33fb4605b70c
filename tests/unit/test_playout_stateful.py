"""A stateful (hypothesis) test of the playout buffer: any interleaving of writes, pulls of
any block size, flushes, target changes and streams begun and ended keeps the buffer's
promises.

Every loud sample written carries its own sequence number (distinct ramps over the whole
int16 range, all at least 1000 in magnitude); quiet writes (near-silence, |x| <= 3, like
Vapi's between-utterance bed) carry none but let the near-silence steering run. With a
one-sample fade (`fade_ms=0`) the buffer never alters a sample, so every loud sample that
comes out names exactly which one went in. Invariants:

- every pull fills the whole block (a sentinel value never survives);
- samples come out in the order written (sequence numbers strictly increase), each at
  most once, and only ones that were written;
- once a flush or a new stream has been consumed (the pull after it), nothing written
  before it plays, and nothing written before it is still queued;
- speech is never dropped: a loud sample that never plays was either flushed or lost to a
  full ring as it arrived (the model knows which), and the speech-dropped counter covers
  exactly those losses — zero whenever the ring never overflowed with speech (always, with
  the large capacity some runs draw);
- the depth never exceeds the capacity;
- the counters (underruns, drops, flushes, played…) never decrease.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bridge.audio.playout import QUIET_PEAK, PlayoutBuffer, PlayoutSettings

# 150 runs of 60 steps: 7 s alone. (It took 75-194 s at the dependency floors, where
# hypothesis 6.100 recovers a lambda precondition's source on every step, 2274 times by
# compiling candidate snippets: hence `_room_for_ids`, a named function.) A slow machine
# still gets more room than the suite's 120 s hang guard.
pytestmark = pytest.mark.timeout(480)

RATE = 8000
PER_MS = RATE // 1000
SENTINEL = 999  # not a loud id (>= 1000), not near-silence (< QUIET_PEAK): never written
POSITIVE = 32767 - 1000 + 1  # ids 0..POSITIVE-1 map to 1000..32767, the rest to -1000..


def encode(ids: np.ndarray) -> np.ndarray:
    return np.where(ids < POSITIVE, 1000 + ids, -1000 - (ids - POSITIVE)).astype(np.int16)


def decode(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.int64)
    return np.where(v > 0, v - 1000, POSITIVE + (-v - 1000))


MAX_IDS = 2 * (32767 - 1000)  # about 63 000 distinct loud samples


def _room_for_ids(machine: PlayoutMachine) -> bool:
    return machine.next_id < MAX_IDS - 2000
COUNTERS = ("underruns", "audible_underruns", "silence_dropped_ms", "speech_dropped_ms",
            "stretched_ms", "overflow_ms", "flushes", "flushed_ms", "played_ms")


class PlayoutMachine(RuleBasedStateMachine):
    buf: PlayoutBuffer
    capacity: int

    @initialize(start_ms=st.integers(0, 120), max_ms=st.integers(20, 400),
                capacity_ms=st.one_of(st.integers(60, 600), st.just(20_000)))
    def make(self, start_ms: int, max_ms: int, capacity_ms: int) -> None:
        settings_ = PlayoutSettings(start_ms=start_ms, max_ms=max_ms, fade_ms=0,
                                    capacity_ms=capacity_ms)
        self.buf = PlayoutBuffer(RATE, settings_)
        self.capacity = capacity_ms * PER_MS
        self.next_id = 0  # the id the next loud sample gets
        self.last_played = -1  # the highest id played so far
        self.min_allowed = 0  # ids below this were flushed away
        self.pending_flush: int | None = None
        self.since_flush = 0  # samples written since the latest flush
        self.stats = self.buf.stats()
        self.played = 0
        self.may_vanish = np.zeros(MAX_IDS, dtype=bool)  # flushed, or lost to a full ring
        self.lost_speech = 0  # samples of writes with speech that a full ring cut

    def _free(self) -> int:
        return self.capacity - round(self.buf.depth_ms * PER_MS)

    # ---- producer -------------------------------------------------------------------
    @precondition(_room_for_ids)
    @rule(n=st.integers(1, 2000))
    def write_loud(self, n: int) -> None:
        ids = np.arange(self.next_id, self.next_id + n)
        self.next_id += n
        lost = max(0, n - self._free())  # a full ring keeps the newest that fits
        self.may_vanish[ids[:lost]] = True
        self.lost_speech += lost
        self.buf.write(encode(ids))
        self.since_flush += n

    @rule(n=st.integers(1, 2000), seed=st.integers(0, 2**16))
    def write_quiet(self, n: int, seed: int) -> None:
        self.buf.write(np.random.default_rng(seed).integers(-3, 4, n).astype(np.int16))
        self.since_flush += n

    @rule()
    def flush(self) -> None:
        self.buf.flush()
        self.pending_flush = self.next_id
        self.since_flush = 0

    @rule(ms=st.integers(0, 300), floor_ms=st.integers(0, 120))
    def set_target(self, ms: int, floor_ms: int) -> None:
        self.buf.set_target_ms(ms, floor_ms)

    @rule(start_ms=st.integers(0, 120))
    def begin_stream(self, start_ms: int) -> None:
        """The next call: for what was queued before, as a flush (not counted as one)."""
        self.buf.begin_stream(start_ms)
        self.pending_flush = self.next_id
        self.since_flush = 0

    @rule()
    def end_stream(self) -> None:
        self.buf.end_stream()

    # ---- consumer -------------------------------------------------------------------
    @rule(block=st.integers(1, 800))
    def pull(self, block: int) -> None:
        out = np.full(block, SENTINEL, dtype=np.int16)
        self.buf.read_into(out)
        assert not np.any(out == SENTINEL), "every sample of the block is written"
        loud = np.abs(out.astype(np.int32)) >= 1000
        assert not np.any((np.abs(out.astype(np.int32)) >= QUIET_PEAK) & ~loud), \
            "only what was written comes out (a sample was altered)"
        ids = decode(out[loud])
        if self.pending_flush is not None:  # this pull consumes the flush
            self.may_vanish[:self.pending_flush] = True
        if len(ids):
            skipped = np.setdiff1d(np.arange(self.last_played + 1, ids[-1] + 1), ids)
            assert np.all(self.may_vanish[skipped]), "speech that was neither flushed nor " \
                "lost to a full ring was dropped"
            assert np.all(np.diff(ids) > 0), "samples come out in the order written, once"
            assert ids[0] > self.last_played, "nothing plays twice or out of order"
            assert ids[-1] < self.next_id, "only samples that were written"
            assert np.all(ids >= self.min_allowed), "audio flushed earlier played"
            if self.pending_flush is not None:  # the pull consuming a flush: one faded
                # sample (fade_ms=0: one, unchanged) of the old audio, then nothing older
                assert np.all(ids[1:] >= self.pending_flush), "flushed audio played"
            self.last_played = int(ids[-1])
        if self.pending_flush is not None:  # this pull consumed the flush
            self.min_allowed = max(self.min_allowed, self.pending_flush)
            self.pending_flush = None
            assert self.buf.depth_ms * PER_MS <= self.since_flush, \
                "what was queued before the flush is gone"
        self.played += block

    # ---- invariants -----------------------------------------------------------------
    @invariant()
    def depth_within_capacity(self) -> None:
        depth = round(self.buf.depth_ms * PER_MS)
        assert 0 <= depth <= self.capacity

    @invariant()
    def speech_dropped_only_by_a_full_ring(self) -> None:
        assert round(self.buf.stats().speech_dropped_ms * PER_MS) == self.lost_speech

    @invariant()
    def counters_never_decrease(self) -> None:
        now = self.buf.stats()
        for name in COUNTERS:
            assert getattr(now, name) >= getattr(self.stats, name), name
        self.stats = dataclasses.replace(now)


PlayoutMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60,
                                            deadline=None)
TestPlayoutMachine = PlayoutMachine.TestCase
