"""A `file:` output has one writer. Two daemons whose profiles name the same audio.output
(a copied profile) both wrote it: the second's start emptied the first's file, then each
wrote over the other's audio and header, leaving no valid WAV of either call. So a writer
holds an advisory lock (flock) on the file from its open to its close; a second one is
refused as it starts (`Busy`: exit 2, naming the file), and `check` says so first. Not a
warning: going on would only destroy the first's file. `listen --out` takes the same lock
(`bridge.cli.listen_out`); a recording needs none: its files are made new, never opened
if there (`bridge.call.destination.new_stem`)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path


class Busy(OSError):
    """Another process writes the file."""


def claim(path: Path) -> int:
    """A descriptor holding `path`'s lock (created if missing, not emptied: that is the
    writer's, once the lock is held); `Busy` when another holds it. Close it to let go."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # /dev/null, a FIFO, /dev/stdout: the
            return fd  # owner's plumbing, no WAV to spoil (two daemons on /dev/null: refused)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Busy(errno.EBUSY, "another process is writing it", str(path)) from None
    except OSError:
        os.close(fd)
        raise
    return fd


def release(fd: int | None) -> None:
    """Let go of a `claim` (None: none held); the writer then sets its descriptor to None."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def held(path: Path) -> bool:
    """Another process writes `path` now (looked at without writing, nor waiting); never for
    what is no regular file (`claim` locks none: a FIFO is not opened, which would be one
    more reader of it)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    return False
