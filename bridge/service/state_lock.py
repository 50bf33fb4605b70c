"""Whether a daemon is alone on its profile's state: a lock file every daemon holds.

Two daemons with one profile name and one state directory are kept apart by their control
socket only when they share a runtime directory too. Before a daemon ends a call another
daemon left open (`cut_off.py`), it must know that no daemon using these files is alive:
each holds `spending-PROFILE.lock` shared (`flock`) for its life, the kernel letting it go
however the process ends. A daemon that can take it exclusively as it starts is alone; it
then holds it shared like the rest."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger("bridge.spending")


class StateLock:
    def __init__(self, path: Path) -> None:
        self.alone = False  # no other daemon holds it: its calls on the list are all gone
        self._fd: int | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.alone = True
            except BlockingIOError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_SH)  # (one taking it to see waits a moment)
        except OSError as exc:  # a read-only state directory: nothing is ended from here
            log.debug("cannot hold %s (%s): calls an earlier daemon left are not ended",
                      path, exc.strerror or exc)
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
