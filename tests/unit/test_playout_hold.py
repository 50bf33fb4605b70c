"""A reply further ahead of real time than the playout ring holds (`bridge.audio.buffered`):
the real downlink and a `null` output's playout buffer clocked in real time, its ring made
small (0.8 s for the 90 s of a kiosk) so that a 2 s reply sent whole overflows it as a
100 s one does a kiosk's. What the speaker played is what its played ring received."""

from __future__ import annotations

import asyncio

import numpy as np

from bridge.audio.codec import codec_for
from bridge.audio.files import ClockedSink
from bridge.audio.playout import PlayoutSettings
from bridge.call.downlink import Downlink
from bridge.call.tail import play_out

RATE = 16000
RING = PlayoutSettings(capacity_ms=800)


def reply(seconds: float) -> np.ndarray:
    """A tone gliding 300 -> 900 Hz: every part of it unlike every other."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (9000 * np.sin(2 * np.pi * (300 * t + 150 * t * t / seconds))).astype(np.int16)


def test_a_reply_sent_further_ahead_than_the_ring_plays_whole_in_order() -> None:
    sent = reply(2.0)

    async def main() -> tuple[np.ndarray, float, int]:
        sink = ClockedSink(RATE, playout=RING)
        played = sink.add_played_ring(4.0)
        sink.start()
        down = Downlink(codec_for("pcm_s16le"), RATE, sink, adaptive=False)
        try:
            down.on_audio(sent.tobytes())  # whole, and then nothing (no write moves it in)
            await asyncio.sleep(1.5)  # the ring's 0.8 s played, the reply not yet over
            stats = down.playout_stats()
            down.end()  # Vapi ended the call: the rest plays out
            await play_out(sink)
            return played.take(), stats.speech_dropped_ms, stats.audible_underruns
        finally:
            sink.close()

    heard, dropped_ms, underruns = asyncio.run(main())
    assert dropped_ms == 0, f"{dropped_ms:.0f} ms of the reply dropped"
    assert underruns == 0, "the speaker ran dry while the rest of the reply waited"
    fade = RATE // 100  # past the start's fade-in
    at = int(np.argmax(np.correlate(heard.astype(float), sent[fade:fade + 800].astype(float))))
    got = heard[at:at + len(sent) - fade]
    assert np.array_equal(got, sent[fade:]), "the reply did not play whole and in order"


def test_a_barge_in_drops_what_waited_beyond_the_ring_too() -> None:
    sink = ClockedSink(RATE, playout=RING)  # not started: pulled by hand, no event loop
    sink.begin_stream(60)
    sink.capture_frame(reply(2.0))
    assert sink.playout_stats().depth_ms == 2000  # the ring's 800 ms, the rest waiting
    sink.clear_buffer()
    block = np.zeros(RATE // 50, np.int16)
    sink.buffer.read_into(block)  # the flush's fade (nothing had played)
    assert sink.playout_stats().depth_ms == 0
    after = []
    for _ in range(100):
        sink.buffer.read_into(block)
        after.append(block.copy())
    assert not np.any(np.concatenate(after)), "the cut reply played on after the barge-in"


def test_dropping_what_came_before_a_mark_keeps_what_came_after_it() -> None:
    """A reply Vapi said was over, still queued as its answer arrives (`BargeIn`): only the
    old reply is dropped — in the ring, and beyond it, waiting — and the answer plays whole
    from its first sample."""
    block = np.zeros(RATE // 50, np.int16)
    for old_s in (0.3, 2.0):  # with the answer, within the ring's 0.8 s; beyond it
        sink = ClockedSink(RATE, playout=RING)  # pulled by hand
        sink.begin_stream(60)
        sink.capture_frame(reply(old_s))
        mark = sink.queued_mark()
        answer = (np.arange(RATE * 3 // 10) % 97 * 100 - 4800).astype(np.int16)  # unlike it
        sink.capture_frame(answer)
        sink.clear_before(mark)
        heard = []
        for _ in range(60):
            sink.playout_stats()  # moves in what waits beyond the ring, as the loop does
            sink.buffer.read_into(block)
            heard.append(block.copy())
        got = np.concatenate(heard)
        at = int(np.flatnonzero(got)[0])  # the flush's fade: nothing had played
        assert np.array_equal(got[at:at + len(answer)], answer), \
            f"{old_s} s old reply: the answer did not play whole after the drop"
        assert sink.playout_stats().depth_ms == 0
