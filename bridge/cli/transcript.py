"""What the terminal shows of a call: its transcript lines on stdout and, on a live
terminal, the status line (`statusline`). Handed to the daemon as a `CallView`."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

from bridge.call.lifecycle import Call
from bridge.cli import statusline
from bridge.inert import printable
from bridge.profile import Profile
from bridge.service.logsetup import under_journal
from bridge.service.placing import CallWatcher, EventHook
from bridge.vapi import messages
from bridge.words import speaker

log = logging.getLogger("bridge")


def transcript_mode(mode: str) -> str:
    """`auto`: final lines in a terminal; none when stdout or stderr is the journal (under
    systemd what visitors say must not land in the system log; `record.path` keeps it,
    in a file of its own)."""
    if mode != "auto":
        return mode
    return "off" if under_journal(1) or under_journal() else "finals"


def transcript_printer(mode: str) -> EventHook:
    """Prints transcript lines (and client-side tool calls and transfers) to stdout, one
    line each: the text is inert (already so from the parser; made `printable` again here,
    as this is where it meets the terminal or the journal), and a role we do not know is
    shown in brackets, so no server text starts a line."""
    mode = transcript_mode(mode)

    def show(event: messages.Event) -> None:
        if mode == "off":
            return
        for line in _lines(event, partials=mode == "all"):
            print(f"{statusline.clear_prefix(sys.stdout)}{line}", flush=True)

    return show


def _lines(event: messages.Event, *, partials: bool) -> list[str]:
    """What the terminal shows of one event."""
    if isinstance(event, messages.ToolCalls):  # a client-side tool's: the kiosk's to act on
        return [f"tool call: {printable(c.name)} {printable(c.arguments)}"
                for c in event.calls]
    if isinstance(event, messages.TransferUpdate):
        return [f"transfer: {printable(event.destination or '?')} "
                f"{printable(event.to)}".rstrip()]
    if isinstance(event, messages.Transcript) and event.text and (event.final or partials):
        return [f"{speaker(printable(event.role, 20))}: {printable(event.text)}"
                f"{'' if event.final else ' …'}"]
    return []


class ReaderGoneStdout:
    """sys.stdout while a call prints to it: once its reader has gone (`run … | head -1`),
    or it cannot be written (`>/dev/full`, a full disk, an I/O error), what follows goes
    to /dev/null, said once in the log, and the call goes on to end with its own exit code;
    the summary line, which the daemon prints, cannot fail either."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            self._gone(exc)
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            self._gone(exc)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, …
        return getattr(self.stream, name)

    def _gone(self, exc: OSError) -> None:
        """Later writes, and the flush at exit, land in /dev/null instead of failing."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)
        if isinstance(exc, BrokenPipeError):
            log.info("stdout's reader went away: transcript and summary lines are no longer "
                     "printed (the call is not affected)")
        else:
            log.warning("cannot write to stdout (%s): transcript and summary lines are no "
                        "longer printed (the call is not affected)", exc.strerror or exc)


def guard_stdout() -> None:
    """Puts `ReaderGoneStdout` in front of sys.stdout (once)."""
    if not isinstance(sys.stdout, ReaderGoneStdout):
        sys.stdout = ReaderGoneStdout(sys.stdout)  # type: ignore[assignment]


class TerminalView:
    """The daemon's `CallView` for a terminal (or the journal): transcript lines as the
    profile asks, and the status line when stderr is a live terminal. It takes charge of
    stdout: a reader that goes away stops the printing, not the call (`guard_stdout`)."""

    def __init__(self) -> None:
        guard_stdout()

    def hooks(self, profile: Profile) -> list[EventHook]:
        return [transcript_printer(profile.transcript.print)]

    def watchers(self, call: Call) -> list[CallWatcher]:
        return [statusline.show] if statusline.wanted() else []
