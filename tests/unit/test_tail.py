"""What a call left queued, played out before the speaker closes (`bridge.call.tail`): the
real playout buffer of a `null` output clocked in real time, as a run's speaker would be;
what it played is what its played ring (the recorder's tap) received."""

from __future__ import annotations

import asyncio

import numpy as np

from bridge.audio.files import ClockedSink
from bridge.call.tail import play_out
from tests.e2e.replies import speech_blocks

RATE = 16000


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (9000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


def run(queued_s: float, *, stop: bool = False, start: bool = True) -> tuple[float, float]:
    """Queue `queued_s` of a call's last audio, end its stream, play it out: the seconds
    of it played, and the depth left queued."""
    async def main() -> tuple[float, float]:
        sink = ClockedSink(RATE)
        played = sink.add_played_ring(10.0)
        if start:
            sink.start()
        stopping = asyncio.Event()
        if stop:
            stopping.set()
        try:
            sink.begin_stream(60)
            sink.capture_frame(tone(queued_s))
            sink.end_stream()  # the call is over: what is queued plays out
            await play_out(sink, stopping.is_set)
            return speech_blocks(played.take(), RATE).sum() / 100, sink.playout_stats().depth_ms
        finally:
            sink.close()

    return asyncio.run(main())


def test_a_goodbye_queued_whole_plays_to_its_end() -> None:
    heard, depth = run(0.7)
    assert depth == 0
    assert heard >= 0.68, f"closed after {heard:.2f} s of a 0.7 s goodbye"


def test_a_stop_fades_out_instead_of_playing_on() -> None:
    heard, depth = run(5.0, stop=True)
    assert depth == 0
    assert heard <= 0.1, f"played {heard:.2f} s of 5 s after the stop"


def test_a_speaker_that_does_not_play_is_not_waited_on_forever() -> None:
    heard, depth = run(0.2, start=False)
    assert heard == 0 and depth > 0  # returned, with the queue as it was
