"""Ctrl-C (SIGINT) ends `vapi-bridge` with exit 130 and no traceback, at any moment: also
while its modules load (a fraction of a second at each start, before a command could catch
KeyboardInterrupt). `bridge.cli.main` imports this first of its own modules: SIGINT exits
130 while the rest loads, and is KeyboardInterrupt again once they are loaded (`loaded`);
`run` turns a KeyboardInterrupt anywhere in a command into exit 130."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable  # (these two are loaded with Python itself: no delay)
from types import FrameType

SIGINT_EXIT = 130  # bridge.errors.ExitCode.SIGINT, whose module (enum) is not loaded yet


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(SIGINT_EXIT)  # through the imports under way: no traceback


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
    """`command`'s exit code; 130 when Ctrl-C stopped it."""
    loaded()
    try:
        return command()
    except KeyboardInterrupt:
        return SIGINT_EXIT


loading()
