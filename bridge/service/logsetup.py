"""Logging: one line per event, secrets masked, nothing in a message able to forge a line.

A message is made printable (`bridge.inert.printable`) and bounded before it is printed: a
newline, an ANSI escape or a `<3>` from server text shows as `\\n`, `\\x1b`, and never
starts a line (server text comes inert already: its backslashes are not escaped again).
A traceback (`-v`) keeps its lines, each indented (and, under systemd, carrying the
record's priority), so none of them can pass for a log line either.

Under systemd (stderr is the stream JOURNAL_STREAM names) lines carry syslog priority
prefixes (`<3>`…`<7>`) and no timestamps, so `journalctl -p warning` works; in a terminal,
timestamps, and colour only on a TTY without NO_COLOR. Logs go to stderr; stdout is for the
conversation and the summary.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from bridge.inert import printable
from bridge.redact import RedactingFilter

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}
_COLOUR = {logging.DEBUG: "\033[2m", logging.WARNING: "\033[33m", logging.ERROR: "\033[31m",
           logging.CRITICAL: "\033[31;1m"}


MAX_MESSAGE = 8000  # characters: well under journald's LineMax, which would split a line


def under_journal(fd: int | None = None) -> bool:
    """stderr is the journal: JOURNAL_STREAM names its device and inode (`DEV:INODE`), as
    systemd documents; a variable merely inherited by a program whose stderr goes
    elsewhere (a terminal, a pipe) does not count. `fd`: another stream (1: stdout)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat(sys.stderr.fileno() if fd is None else fd)
    except (OSError, AttributeError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def colour_wanted(stream: TextIO) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    return _isatty(stream) and not os.environ.get("NO_COLOR") and \
        os.environ.get("TERM", "") != "dumb"


def live_terminal(stream: TextIO) -> bool:
    """A terminal a line can be redrawn on (the live status line): not the journal."""
    return _isatty(stream) and not under_journal() and os.environ.get("TERM", "") != "dumb"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced
        return False


class InertFormatter(logging.Formatter):
    """One inert line per message; traceback and stack lines indented by `continuation`."""

    def continuation(self, record: logging.LogRecord) -> str:
        return "  "

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message, MAX_MESSAGE)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_text, record.stack_info
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        lead = self.continuation(record)
        record.exc_text, record.stack_info = (
            "\n".join(lead + printable(line, MAX_MESSAGE) for line in text.splitlines()) if text
            else text for text in (record.exc_text, record.stack_info))
        try:
            return super().format(record)
        finally:
            record.exc_text, record.stack_info = saved

    def formatStack(self, stack_info: str) -> str:
        return stack_info


class JournalFormatter(InertFormatter):
    def continuation(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>  "

    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>{super().format(record)}"


class TerminalFormatter(InertFormatter):
    """`clear`: erase a live status line first (a terminal, with or without colour)."""

    def __init__(self, colour: bool, clear: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
        self.colour = colour
        self.clear = clear

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        colour = _COLOUR.get(record.levelno) if self.colour else None
        line = f"{colour}{line}\033[0m" if colour else line
        return f"\r\033[K{line}" if self.clear else line


_NOISY = ("websockets", "httpx", "httpcore", "asyncio", "aiohttp.access")
_pinned = False  # the level came from -v/-q: the profile's log.level does not move it


def setup_logging(level: str = "info", *, pinned: bool = False) -> None:
    """`pinned`: the level was given on the command line, and a reload keeps it."""
    global _pinned
    _pinned = pinned
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if under_journal():
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(TerminalFormatter(colour=colour_wanted(sys.stderr),
                                               clear=live_terminal(sys.stderr)))
    root.addHandler(handler)
    _set_level(level)


def _set_level(level: str) -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def profile_level(level: str) -> bool:
    """A reloaded profile's `log.level` taken on; False when the level was given with -v/-q
    on the command line, which it keeps until a restart."""
    if not _pinned:
        _set_level(level)
    return not _pinned
