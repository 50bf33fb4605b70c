"""`vapi-bridge ctl events`: the daemon's kiosk events, one JSON object per line on stdout
(`docs/events.md`), as they happen, until the daemon stops.

On a terminal (unless --json) each event is shown as a short line for people instead:
`12:03:04  in-call  call=1a2b3c4d`.

Exit codes: 0 the daemon stopped (the stream ended), or stdout was closed (`| head -n 3`);
1 refused (the socket belongs to another user); 2 usage, or stdout cannot be written
(a full disk); 5 no daemon answers, or the connection broke; 130 Ctrl-C.
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from bridge.cli.stdout import quiet_stdout
from bridge.errors import ExitCode
from bridge.inert import printable

EXITS = """exit codes:
  0    the daemon stopped (the stream ended), or stdout was closed (| head)
  1    refused: the socket belongs to another user
  2    usage: bad arguments; stdout cannot be written (a full disk)
  5    no daemon answers, or the connection broke
  130  Ctrl-C"""
HIDDEN_FIELDS = ("event", "seq", "at")


def human(event: dict[str, Any]) -> str:
    """One event as a line for people (every value printable: the daemon made it inert)."""
    at = event.get("at")
    when = time.strftime("%H:%M:%S", time.localtime(at)) if isinstance(at, int | float) \
        else "--:--:--"
    fields = " ".join(f"{printable(str(k), 40)}={_shown(v)}"
                      for k, v in event.items() if k not in HIDDEN_FIELDS)
    return f"{when}  {printable(str(event.get('event')), 40):<18} {fields}".rstrip()


def _shown(value: Any) -> str:
    """Text in quotes as the daemon escaped it (JSON's escaping over that doubled each
    backslash), anything else as JSON."""
    if isinstance(value, str):
        return f'"{printable(value, 200)}"'
    return printable(json.dumps(value, ensure_ascii=False), 200)


def _line(raw: bytes, readable: bool) -> str | None:
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if readable:
        return human(event)
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def follow(lines: Iterator[bytes], *, as_json: bool, out: TextIO | None = None) -> int:
    """Print the stream's events until it ends."""
    out = out or sys.stdout
    readable = out.isatty() and not as_json
    gone = _watch_reader(out)
    try:
        for raw in lines:
            text = _line(raw, readable)
            if text is not None:
                out.write(text + "\n")
                out.flush()
    except BrokenPipeError:
        quiet_stdout()
    except KeyboardInterrupt:
        if not gone.is_set():
            raise
        quiet_stdout()
    return ExitCode.OK


def _watch_reader(out: TextIO) -> threading.Event:
    """Set once the pipe's reader has gone (`| head -n 1` done): the main thread, waiting
    for the next event, is interrupted then, not at its next write (an idle kiosk may
    publish none for hours)."""
    gone = threading.Event()
    try:
        fd = out.fileno()
    except (OSError, ValueError, AttributeError):
        return gone
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        return gone

    main = threading.main_thread().ident or 0

    def watch() -> None:
        poll = select.poll()
        poll.register(fd, 0)  # POLLERR: the reading end is closed
        while not poll.poll(None):
            pass
        gone.set()  # SIGINT to the main thread itself: its blocking read returns (EINTR)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=watch, name="stdout-reader", daemon=True).start()
    return gone
