"""The recording's files are written off the event loop: a disk that blocks never blocks the
uplink's tick, a disk that falls too far behind stops the recording (once, nothing queued
lost), and what was queued is on disk once `aclose()` returns.

The blocked disk is real: the transcript is a FIFO nobody reads until the test says so, so
the writer thread sits in a `write()` the kernel will not finish (a card stuck erasing)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.call.recording import BACKLOG_S, Recorder

pytestmark = pytest.mark.timeout(60)  # writes on the loop would hang here, on the FIFO
RATE = 16000
FRAME = 320


def drain(fd: int, into: bytearray) -> threading.Thread:
    """Read the FIFO until its writer closes it (the disk recovers)."""
    os.set_blocking(fd, True)

    def run() -> None:
        while chunk := os.read(fd, 65536):
            into.extend(chunk)
        os.close(fd)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    return reader


def test_a_blocked_disk_never_holds_up_the_tick_and_loses_nothing_queued(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    os.mkfifo(tmp_path / "rec.jsonl")
    fd = os.open(tmp_path / "rec.jsonl", os.O_RDONLY | os.O_NONBLOCK)  # so opening it works
    recorder = Recorder(str(tmp_path / "rec"), "kiosk", RATE)
    recorder.open("call-1")
    assert recorder.wav_path is not None
    recorder.on_transcript("user", "x" * 200_000)  # over a pipe's 64 kB: the writer blocks
    frame = np.full(FRAME, 1200, dtype=np.int16)
    ticks = int(BACKLOG_S * 50) + 100
    for _ in range(ticks):  # each returns at once: the thread, not the loop, is stuck
        recorder.on_uplink(frame)
    assert recorder.failure == f"{recorder.wav_path}: the disk fell {BACKLOG_S:.0f} s behind"
    with wave.open(str(recorder.wav_path), "rb") as w:
        assert w.getnframes() == 0, "nothing could be written past the stuck transcript"
    got = bytearray()
    reader = drain(fd, got)
    asyncio.run(recorder.aclose())
    reader.join(10)
    with wave.open(str(recorder.wav_path), "rb") as w:
        kept, data = w.getnframes(), w.readframes(w.getnframes())
    assert recorder.wav_path.stat().st_size == 44 + kept * 4, "the header agrees with the data"
    assert BACKLOG_S - 0.6 <= kept / RATE <= BACKLOG_S, "all that was queued reached the disk"
    assert (np.frombuffer(data, dtype="<i2")[0::2] == 1200).all()
    assert got.count(b"x" * 200_000) == 1 and got.endswith(b"\n"), "the line, whole"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"recording stopped: cannot write {recorder.wav_path} (the disk fell "
                        f"{BACKLOG_S:.0f} s behind); the call goes on, what was recorded so far "
                        "is kept"]


def test_a_disk_stuck_at_the_end_of_a_call_never_holds_up_the_loop(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The wait for the last writes runs on a thread: while it waits its `CLOSE_WAIT_S`,
    the loop keeps turning (the kiosk page, a control request, the next call)."""
    os.mkfifo(tmp_path / "rec.jsonl")
    fd = os.open(tmp_path / "rec.jsonl", os.O_RDONLY | os.O_NONBLOCK)
    recorder = Recorder(str(tmp_path / "rec"), "kiosk", RATE)
    recorder.open("call-1")
    recorder.on_transcript("user", "x" * 200_000)  # the writer blocks on the full pipe
    for _ in range(100):
        recorder.on_uplink(np.full(FRAME, 1200, dtype=np.int16))

    async def close_while_ticking() -> int:
        turns = 0

        async def tick() -> None:
            nonlocal turns
            while True:
                await asyncio.sleep(0.01)
                turns += 1

        ticker = asyncio.create_task(tick())
        await recorder.aclose()
        ticker.cancel()
        return turns

    turns = asyncio.run(close_while_ticking())
    # a blocked loop would turn at most once; a free one ~CLOSE_WAIT_S / 10 ms times
    assert turns >= 20, f"the loop turned {turns} times while close waited for the disk"
    assert recorder.failure is not None and "the disk is slow" in recorder.failure
    got = bytearray()
    drain(fd, got).join(10)
    assert got.count(b"x" * 200_000) == 1, "the stuck line still reached the disk"


@pytest.mark.parametrize("held", ["nothing", "audio", "a line"])
def test_only_files_that_hold_nothing_are_removed(tmp_path: Path, held: str) -> None:
    """A call that never connected leaves no empty files; anything written is kept."""
    from bridge.call.recording_writer import RecordingWriter

    wav, jsonl = tmp_path / "rec.wav", tmp_path / "rec.jsonl"
    wav.touch(mode=0o600)
    jsonl.touch(mode=0o600)
    files = RecordingWriter(wav, jsonl, RATE)
    if held == "audio":
        files.audio(np.zeros((1, 2), dtype=np.int16))
    elif held == "a line":
        files.line('{"t": 0}\n')
    assert files.join(5)
    assert files.remove_if_empty() == (held == "nothing")
    assert wav.exists() == jsonl.exists() == (held != "nothing")
    if held == "audio":
        with wave.open(str(wav), "rb") as w:
            assert w.getnframes() == 1, "the one frame written is kept"
