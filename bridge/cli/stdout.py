"""stdout whose reader went away (`vapi-bridge ctl status | head -1`): nothing more to
say, no error, exit 0, as `ctl events` and `listen` take it."""

from __future__ import annotations

import os
import select
import sys


def quiet_stdout() -> None:
    """Later writes, and the flush at exit, land in /dev/null instead of failing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def reader_left(exc: BaseException) -> bool:
    """Whether `exc` is stdout's reader gone (a broken pipe there, not on some socket);
    if so stdout is quieted."""
    if not isinstance(exc, BrokenPipeError):
        return False
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        gone = any(events & select.POLLERR for _, events in poll.poll(0))
    except (OSError, ValueError):
        return False
    if gone:
        quiet_stdout()
    return gone
