"""Ctrl-C (SIGINT) ends `vapi-bridge` with exit 130 and no traceback, at any moment: also
while its modules load (a fraction of a second at each start, before a command could catch
KeyboardInterrupt). `bridge.cli.main` imports this first of its own modules: SIGINT exits
130 at once while the rest loads and the command line is parsed, and is KeyboardInterrupt
again from there (`loaded`); `run` turns a KeyboardInterrupt anywhere in a command into
exit 130."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable  # (these two are loaded with Python itself: no delay)
from types import FrameType

SIGINT_EXIT = 130  # bridge.errors.ExitCode.SIGINT, whose module (enum) is not loaded yet


def _exit(signum: int, frame: FrameType | None) -> None:
    # at once: an exception raised through the imports under way can leave one of
    # importlib's module locks held, and the process hung (one run in a CI rehearsal); as
    # they load, nothing is written yet that an exit would have to flush
    os._exit(SIGINT_EXIT)


def loading() -> None:
    """SIGINT exits 130 (unless it is ignored or handled already, or off the main thread)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        with contextlib.suppress(ValueError):  # not the main thread: its importer's business
            signal.signal(signal.SIGINT, _exit)


def loaded() -> None:
    """SIGINT is KeyboardInterrupt again (the commands' own handling, then `run`'s)."""
    if signal.getsignal(signal.SIGINT) is _exit:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run(command: Callable[[], int]) -> int:
    """`command`'s exit code; 130 when Ctrl-C stopped it: at once until the command calls
    `loaded` (its parser has loaded what it imports lazily), then by KeyboardInterrupt."""
    loading()
    try:
        return command()
    except KeyboardInterrupt:
        return SIGINT_EXIT
    finally:
        loaded()


loading()
