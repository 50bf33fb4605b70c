"""A recording's two files, written on a thread of their own, off the event loop.

The recorder hands over stereo blocks (`audio`) and transcript lines (`line`) without ever
waiting: on a kiosk's SD card one write can block for half a second, and on the event loop
that would hold up the uplink's 20 ms tick. The writer thread takes them in order, writes
all the blocks waiting at once in one WAV write, which patches the header (`WavWriter`):
the WAV is valid after every write, and a crash loses only what was still queued (one tick,
normally). Each transcript line is flushed as it is written.

The queue is bounded by the audio it holds (`backlog_s`); a disk that falls that far behind
cannot keep up, and `audio()` refuses, for the recorder to stop the recording. When a write
fails, the thread writes nothing more (`WavWriter` has cut the WAV back to its last whole
write, with a header that agrees), closes both files, and `error` names the file and why,
for the recorder to report from the event loop (this thread never logs). So does a file
deleted during the call (its directory removed): the writes went into a file no name holds,
and the recording was said "finished" under a name that named nothing (or, when a write
then failed, a full disk, "what was recorded so far is kept" of a file no longer there). A
call that ends before it connected leaves no file: `remove_if_empty`, once the thread is
done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import stat
import threading
from pathlib import Path

import numpy as np

from bridge.audio.files import WavWriter
from bridge.call.destination import open_private

log = logging.getLogger("bridge.record")
MAX_BATCH = 500  # items taken from the queue for one round of writes (10 s of ticks)


def cause(exc: OSError) -> str:
    return exc.strerror or str(exc) or exc.__class__.__name__


def append(path: Path, line: str) -> str | None:
    """`line` added to the file at `path` (the JSONL's last, once the thread closed it);
    why it could not be, or None."""
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(line)
    except OSError as exc:
        return cause(exc)
    return None


GONE = "deleted during the call"  # the file, or its directory: what it held is lost
KEPT = "; the call goes on, what was recorded so far is kept"  # said of any other failure
DELETED = f"{GONE}, with all it held: the file or its directory was removed"


def _identity(path: Path) -> tuple[int, int] | None:
    """The file a path names now (device, inode), or None when it names none."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _holds_nothing(path: Path) -> bool:
    """A regular file (no link, no FIFO or device of the owner's) with no sample or line."""
    info = path.lstat()
    return stat.S_ISREG(info.st_mode) and info.st_size <= 44  # an empty WAV's header


class RecordingWriter:
    """Opens both files now, as `destination.new_stem` made them (empty, 0600), writes the
    WAV's header and starts the writer thread. If that fails (a disk already full), both
    files are removed if they are regular files with nothing in them, and the `OSError`
    raised."""

    def __init__(self, wav_path: Path, transcript_path: Path, rate: int, *,
                 backlog_s: float = 30.0) -> None:
        self.wav_path = wav_path
        self.transcript_path = transcript_path
        self.rate = rate
        self.backlog_s = backlog_s
        try:
            self._wav = WavWriter(wav_path, rate, channels=2, on_error=self._failed)
            try:
                self._jsonl = os.fdopen(open_private(transcript_path, os.O_WRONLY |
                                                     os.O_APPEND), "a", encoding="utf-8")
            except BaseException:
                self._wav.close()
                raise
        except BaseException:
            for path in (wav_path, transcript_path):
                with contextlib.suppress(OSError):
                    if _holds_nothing(path):
                        path.unlink()
            raise
        # the files written: a path that names another, or none, at the end lost them
        self._identities = {path: _identity(path) for path in (wav_path, transcript_path)}
        self._queue: queue.SimpleQueue[np.ndarray | str | None] = queue.SimpleQueue()
        self._queued = 0  # samples handed over: written by the event loop only
        self._done = 0  # samples written (or dropped after an error): by the thread only
        self._ended = False
        self.error: tuple[Path, str] | None = None  # set once, by the thread
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
        self._thread.start()

    @property
    def behind_s(self) -> float:
        """Seconds of audio handed over and not written yet."""
        return (self._queued - self._done) / self.rate

    # ---- the event loop's side: never waits ---------------------------------------------
    def audio(self, stereo: np.ndarray) -> bool:
        """Queue (n, 2) int16 samples; False, and nothing queued, when the disk has fallen
        `backlog_s` behind."""
        if self._queued - self._done + len(stereo) > self.backlog_s * self.rate:
            return False
        self._queued += len(stereo)
        self._queue.put(stereo)
        return True

    def line(self, text: str) -> None:
        """Queue one transcript line (with its newline)."""
        self._queue.put(text)

    def end(self) -> None:
        """Nothing more comes: the thread writes what is queued, closes both files, stops."""
        if not self._ended:
            self._ended = True
            self._queue.put(None)

    def freeze(self, timeout: float) -> bool:
        """Before the process exits at once: let a WAV write under way finish (at most
        `timeout` s) and start no other, so the file on disk stays whole."""
        return self._wav.freeze(timeout)

    def remove_if_empty(self) -> bool:
        """After `join`, for a call that ended before it connected: both files removed, and
        that said, when neither holds a sample or a line; else False, both kept as they are
        (nothing recorded is ever removed)."""
        try:
            if not (_holds_nothing(self.wav_path) and self.transcript_path.lstat().st_size == 0
                    and _holds_nothing(self.transcript_path)):
                return False
            for path in (self.wav_path, self.transcript_path):
                path.unlink()
        except OSError:
            return False
        log.info("no recording was made: the call ended before it connected, so there was "
                 "nothing to record (the empty %s and %s are removed)", self.wav_path,
                 self.transcript_path.name)
        return True

    def join(self, timeout: float) -> bool:
        """`end()`, then wait up to `timeout` s for the thread; False if it is still writing."""
        self.end()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---- the writer thread --------------------------------------------------------------
    def _run(self) -> None:
        try:
            while self._write_batch():
                pass
        except Exception as exc:  # a bug here must not leave the recorder waiting for ever
            self._failed(OSError(f"{exc.__class__.__name__}: {exc}"), self.wav_path)

    def _write_batch(self) -> bool:
        """Write what is queued (waiting for something first); False once ended."""
        items = [self._queue.get()]
        with contextlib.suppress(queue.Empty):
            while len(items) < MAX_BATCH:
                items.append(self._queue.get_nowait())
        blocks: list[np.ndarray] = []
        for item in items:
            if isinstance(item, np.ndarray):
                blocks.append(item)
                continue
            self._write_audio(blocks)
            blocks = []
            if item is None:
                self._close()
                return False
            self._write_line(item)
        self._write_audio(blocks)
        return True

    def _write_audio(self, blocks: list[np.ndarray]) -> None:
        if not blocks:
            return
        if self.error is None:
            self._wav.write(blocks[0] if len(blocks) == 1 else np.concatenate(blocks))
        self._done += sum(len(b) for b in blocks)

    def _write_line(self, text: str) -> None:
        if self.error is not None:
            return
        try:
            self._jsonl.write(text)
            self._jsonl.flush()
        except OSError as exc:
            self._failed(exc, self.transcript_path)

    def _gone(self) -> Path | None:
        """The first of the files written into one no name holds now (`rm -r` of the
        directory, a cleaner): what it held is lost, whatever else failed."""
        identities = getattr(self, "_identities", {})  # (none yet: the header's write)
        return next((path for path, identity in identities.items()
                     if _identity(path) != identity), None)

    def _close(self) -> None:
        gone = self._gone() if self.error is None else None
        if gone is not None:  # not "finished"
            self.error = (gone, DELETED)
        self._wav.close()  # a failure goes to _failed
        try:
            self._jsonl.close()
        except OSError as exc:
            self._failed(exc, self.transcript_path)

    def _failed(self, exc: OSError, path: Path) -> None:
        """A write failed: write nothing more, keep what was written, close both files."""
        if self.error is None:  # a file deleted first: the failure is no "kept" of it
            gone = self._gone()
            self.error = (path, cause(exc)) if gone is None else (
                gone, f"{DELETED}; then writing failed: {cause(exc)}")
        self._wav.close()  # after a failed write: only lets go of the file
        with contextlib.suppress(OSError):
            self._jsonl.close()
