"""Ctrl-C (SIGINT) ends `vapi-bridge` with exit 130 and no traceback, at any moment: also
while its modules load (a fraction of a second at each start, before a command could catch
KeyboardInterrupt). `bridge.cli.main` imports this first of its own modules: SIGINT exits
130 at once while the rest loads and the command line is parsed, and is KeyboardInterrupt
again from there (`loaded`); `run` turns a KeyboardInterrupt anywhere in a command into
exit 130. `vapi-bridge run` is the exception: a first Ctrl-C before its daemon takes the
signal (its first second or two: the modules, the profile) says what the daemon says then,
`SIGINT: stopping — no call was placed`, and exits 0 as the daemon does (README, "Exit
codes"); before, it exited 130 saying nothing, and a user could not tell whether a call had
gone out."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable  # (these two are loaded with Python itself: no delay)
from types import FrameType

SIGINT_EXIT = 130  # bridge.errors.ExitCode.SIGINT, whose module (enum) is not loaded yet
#: what a command's first Ctrl-C says before the command takes the signal, and its code
EARLY = {"run": ("SIGINT: stopping — no call was placed", 0)}


def early_stop(command: str | None) -> int:
    """The exit code of a Ctrl-C before `command` takes it, its line (if any) said on
    stderr, as the daemon's log line reads in a terminal."""
    said, code = EARLY.get(command or "", ("", SIGINT_EXIT))
    if said:
        try:  # Python's stderr: fd 2 is a pipe while `run` catches C libraries' lines
            fd = sys.stderr.fileno()
        except (AttributeError, ValueError, OSError):
            fd = 2
        with contextlib.suppress(OSError):  # written at once: nothing buffered is flushed
            os.write(fd, f"{time.strftime('%H:%M:%S')} INFO    {said}\n".encode())
    return code


def _command() -> str | None:
    """The command on the command line: the first word that is no option (those before it,
    -v, -q, --version, --help, take no value)."""
    return next((word for word in sys.argv[1:] if not word.startswith("-")), None)


def _exit(signum: int, frame: FrameType | None) -> None:
    # at once: an exception raised through the imports under way can leave one of
    # importlib's module locks held, and the process hung (one run in a CI rehearsal); as
    # they load, nothing is written yet that an exit would have to flush
    os._exit(early_stop(_command()))


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
