"""stdout whose reader went away (`vapi-bridge ctl status | head -1`): nothing more to
say, no error, exit 0, as `ctl events` and `listen` take it. stdout that cannot be
written (`> /dev/full`, a full disk, an I/O error) is the user's to fix: `StdoutError`,
one line and exit 2 (`bridge.cli.main`)."""

from __future__ import annotations

import errno
import os
import select
import sys
from collections.abc import Callable
from typing import Any, TextIO

from bridge.errors import ExitCode

FULL_FIX = "free space, or send the output elsewhere"


class StdoutError(OSError):
    """A write to stdout failed for a cause other than its reader going away."""

    def line(self) -> str:
        return f"cannot write the output: {self.strerror or self} — {FULL_FIX}"


class CheckedStdout:
    """sys.stdout, whose failed writes (but a broken pipe) raise `StdoutError`: they are
    told from an error of some other file or socket."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror) from None

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, …
        return getattr(self.stream, name)


class ClosedStdout:
    """Where Python has no stdout (started with it closed, `>&-`): every write fails as
    a full one does."""

    def write(self, text: str) -> int:
        raise StdoutError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def check_stdout() -> None:
    """Puts `CheckedStdout` in front of sys.stdout (once)."""
    if sys.stdout is None:
        sys.stdout = ClosedStdout()  # type: ignore[assignment]
    elif not isinstance(sys.stdout, CheckedStdout | ClosedStdout):
        sys.stdout = CheckedStdout(sys.stdout)  # type: ignore[assignment]


def checked_stdout(command: Callable[[], int], prefix: Callable[[], str]) -> int:
    """Run `command` with stdout checked and flushed at its end (what is still buffered
    fails here, not at the exit): a stdout that cannot be written is one line, exit 2."""
    check_stdout()
    try:
        code = command()
        sys.stdout.flush()
        return code
    except StdoutError as exc:
        quiet_stdout()
        print(f"{prefix()}vapi-bridge: {exc.line()}", file=sys.stderr)
        return ExitCode.PROFILE
    except BrokenPipeError as exc:  # (argparse's --help, the simulator: outside their
        if reader_left(exc):  # commands' own handling) `| head`: stdout's reader went away
            return ExitCode.OK
        print(f"{prefix()}vapi-bridge: internal error: {exc!r} — please report it",
              file=sys.stderr)
        return ExitCode.FAILURE


def quiet_stdout() -> None:
    """Later writes, and the flush at exit, land in /dev/null instead of failing."""
    if isinstance(sys.stdout, ClosedStdout):
        return  # (no stdout to quiet)
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
