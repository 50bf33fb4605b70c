"""Vapi's `ended` with its socket still open (`end_stream(maybe=True)`): a goodbye may
stream behind it (simulator fault `ended-first`), so the queue keeps its target until
nothing has come for the target's time, and only then plays out what is left.

Before, `ended` was the stream's end: playback began on whatever was queued (the goodbye's
first 47 ms), and the goodbye ran dry at its first chunk 54 ms apart: a 52 ms gap 0.06 s
into the line (1 run in 5 of tests/e2e/test_goodbye_ended_first.py under three CPU hogs,
gaps of 42-77 ms at 0.12-0.16 s seen before)."""

from __future__ import annotations

import numpy as np

from bridge.audio.playout import PlayoutBuffer, PlayoutSettings

RATE = 16000
BLOCK = 320  # 20 ms
# what the bridge received in that run (ms from `ended`, samples); the first is the
# goodbye's soft start, the rest its speech (the first of it resumes the stream)
ARRIVALS = [(-1.3, 759), (49.0, 886), (97.4, 725), (151.5, 895), (198.1, 748),
            (246.5, 819), (297.1, 775), (351.9, 875), (399.0, 787), (451.5, 820)]


def run(buf: PlayoutBuffer, arrivals: list[tuple[float, int]], until_ms: float,
        ended_ms: float | None = 0.0) -> np.ndarray:
    """Pulls a block every 20 ms (at 11 ms past each 20), writing each arrival when due:
    speech (4000) after `ended` resumes the stream, as the downlink does."""
    out, played, pending = np.empty(BLOCK, dtype=np.int16), [], list(arrivals)
    t = -9.0
    while t < until_ms:
        if ended_ms is not None and t >= ended_ms:
            buf.end_stream(maybe=True)
            ended_ms, resumed = None, False
        while pending and pending[0][0] <= t:
            at, n = pending.pop(0)
            if at > 0 and not resumed:
                buf.end_stream(False)
                resumed = True
            buf.write(np.full(n, 500 if at < 0 else 4000, dtype=np.int16))
        buf.read_into(out)
        played.append(out.copy())
        t += 20.0
    return np.concatenate(played)


def fresh(target_ms: float = 117.0) -> PlayoutBuffer:
    buf = PlayoutBuffer(RATE, PlayoutSettings(start_ms=60, fade_ms=0))
    buf.begin_stream(60)
    buf.set_target_ms(target_ms, 50)  # what the jitter estimate asked at the first chunk
    return buf


def test_a_goodbye_behind_ended_starts_on_the_target_and_plays_without_a_gap() -> None:
    buf = fresh()
    played = run(buf, ARRIVALS, 600.0)
    sent = sum(n for _, n in ARRIVALS)
    start = int(np.flatnonzero(played)[0])
    assert (played[start:start + sent] != 0).all(), \
        f"a gap of {int((played[start:start + sent] == 0).sum()) * 1000 // RATE} ms"
    assert buf.stats().audible_underruns == 0


def test_what_is_left_plays_out_once_nothing_came_for_the_targets_time() -> None:
    """A goodbye sent whole before `ended`, its last chunk below the target after the
    queue ran dry: played once nothing more came (not held until the socket closed)."""
    buf = fresh(100.0)
    buf.write(np.full(3200, 4000, dtype=np.int16))  # 200 ms
    run(buf, [], 240.0, ended_ms=None)
    buf.end_stream(maybe=True)
    buf.write(np.full(640, 4000, dtype=np.int16))  # the last 40 ms, below the target
    played = run(buf, [], 140.0, ended_ms=None)
    assert (played == 4000).sum() == 640, "played within the target's time and a block"
    assert buf.depth_ms == 0
