"""C libraries' own messages (PortAudio, ALSA, libpulse) caught and shown as one line.

Those libraries write straight to file descriptor 2: when a device goes away, dozens of
lines such as `Expression 'alsa_snd_pcm_…' failed in 'src/hostapi/alsa/…'` would land over
the status line and in the journal. `capture()` points fd 2 at a pipe and gives Python's
own `sys.stderr` a copy of the real stderr, so the program's lines are untouched. A reader
thread (never an audio callback, never the event loop) gathers each burst of library lines
and logs it as one line; `-v` shows every line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import select
import sys
import threading
from collections.abc import Iterator

log = logging.getLogger("bridge.devices")

BURST_S = 1.0  # lines closer together than this are one burst (a device lost and reopened)
MAX_LINE = 300


def _reader(fd: int) -> None:
    stream = os.fdopen(fd, "rb", buffering=0)
    burst: list[str] = []
    pending = b""
    while True:
        ready, _, _ = select.select([stream], [], [], BURST_S if burst else None)
        if not ready:
            _report(burst)
            burst = []
            continue
        chunk = stream.read(65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        burst += [line.decode("utf-8", "replace").strip()[:MAX_LINE] for line in lines
                  if line.strip()]
    if pending.strip():
        burst.append(pending.decode("utf-8", "replace").strip()[:MAX_LINE])
    _report(burst)
    stream.close()


def _report(lines: list[str]) -> None:
    if not lines:
        return
    for line in lines:
        log.debug("sound library: %r", line)
    more = f" (and {len(lines) - 1} more; -v shows them)" if len(lines) > 1 else ""
    log.warning("sound library says: %r%s", lines[0], more)


@contextlib.contextmanager
def capture() -> Iterator[None]:
    """For the duration: C-level writes to fd 2 become log lines; Python's stderr is kept."""
    try:
        real = os.dup(2)
        read_fd, write_fd = os.pipe()
    except OSError:  # no fd 2 at all: nothing to protect
        yield
        return
    old_stderr = sys.stderr
    sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(real), "wb", buffering=0),
                                  encoding=getattr(old_stderr, "encoding", None) or "utf-8",
                                  errors="backslashreplace", line_buffering=True)
    old_stderr.flush()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    reader = threading.Thread(target=_reader, args=(read_fd,), name="native-stderr",
                              daemon=True)
    reader.start()
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer is gone: the reader drains and ends
        reader.join(timeout=1.0)
        replaced, sys.stderr = sys.stderr, old_stderr
        for handler in logging.getLogger().handlers:  # made meanwhile, on the copy
            if isinstance(handler, logging.StreamHandler) and handler.stream is replaced:
                handler.setStream(old_stderr)
        with contextlib.suppress(OSError, ValueError):
            replaced.close()
        os.close(real)
