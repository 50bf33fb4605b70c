"""`listen --out FILE`: the WAV a supervisor keeps, checked before joining the call and
written from its first audio — with one writer, as a `file:` audio.output has
(`bridge.audio.claim`): two listens given one --out (or a listen given a daemon's output
file) each emptied the file and wrote over the other's audio and header, leaving no valid
WAV of either. The second is refused, before joining the call when it can be seen then,
else at its first audio (exit 2), and the first's file is left whole.

A recording (`record.path`) needs no lock: each call's files are made new (O_EXCL), a name
another writer holds gets `-2`, `-3`… (`bridge.call.destination.new_stem`)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from bridge.audio.claim import Busy, claim, held, release
from bridge.audio.files import WavWriter
from bridge.call.destination import open_private, unwritable
from bridge.call.recording_writer import cause
from bridge.errors import AudioFileError, UsageError


def busy(out: Path) -> str:
    return (f"--out {out}: another process is writing it (another listen, or a daemon's "
            f"audio.output) — give each its own file: two writers leave neither a valid WAV")


def check_out(out: Path) -> None:
    """An --out that could not be written, or that another process writes, is a usage
    error before joining the call, not a failure once its audio comes."""
    problem = f"{out} is a directory" if out.is_dir() else \
        f"there is no directory {out.parent}" if not out.parent.is_dir() else \
        unwritable(out.parent)  # (not made for it, as curl -o and arecord make none)
    if problem:
        raise UsageError(f"--out {out}: {problem} — give a file in a writable directory, "
                         f"or --out - to write none")
    if held(out):
        raise UsageError(busy(out))


class OutFile:
    """The --out WAV, 0600 as a recording, its lock held from before it is emptied until it
    is closed; a disk that fills (now, or as it is written) ends listen with one line, exit
    2, what was written kept as a valid WAV."""

    def __init__(self, out: Path, rate: int, channels: int) -> None:
        def failed(exc: OSError, path: Path) -> None:
            raise AudioFileError(f"--out {path}: cannot write it ({cause(exc)}); what was "
                                 f"written is kept, a valid WAV") from None
        self._lock: int | None = None
        try:
            # made 0600 if missing; neither emptied nor made private while not ours: a
            # daemon's output another user reads was left 0600 by a listen refused on it
            os.close(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
            self._lock = claim(out)
            os.close(open_private(out, os.O_WRONLY))  # ours now: 0600, as a recording
            self._wav = WavWriter(out, rate, channels=channels, on_error=failed)
        except Busy:
            raise AudioFileError(busy(out)) from None
        except OSError as exc:
            with contextlib.suppress(OSError):  # not even a header: no file, not a broken one
                if self._lock is not None and out.is_file() and not out.stat().st_size:
                    out.unlink()
            self._let_go()
            raise AudioFileError(f"--out {out}: cannot write it ({cause(exc)})") from None

    def write(self, samples: np.ndarray) -> None:
        self._wav.write(samples)

    def close(self) -> None:
        try:
            self._wav.close()
        finally:  # the lock goes with the file, whatever its close says
            self._let_go()

    def _let_go(self) -> None:
        release(self._lock)
        self._lock = None
