"""The daemon's signals: SIGINT/SIGTERM stop it (a second one exits at once, leaving no
WAV write half done), SIGHUP reloads the profile, SIGUSR1 places a call (standby mode)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any, Protocol

from bridge.call.lifecycle import Call
from bridge.call.summary import CallSummary
from bridge.errors import ExitCode
from bridge.profile import Profile

log = logging.getLogger("bridge.daemon")


class Signalled(Protocol):
    """What the signals act on (`bridge.service.daemon.Daemon`)."""

    call: Call | None
    last_summary: CallSummary | None
    stopping: asyncio.Event
    profile: Profile

    def request_reload(self) -> None: ...

    def request_call(self, cause: str = ...) -> str | None: ...


def install_signals(daemon: Signalled) -> None:
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        if daemon.stopping.is_set():
            call = daemon.call
            if call is not None and call.recorder is not None:
                call.recorder.freeze()  # no WAV write left half done
                if call.info is not None:  # the JSONL's last line, with what is known now
                    call.recorder.note_end(call.info.id, call.ended_reason or "exited-at-once")
            code = ExitCode.SIGINT if signum == signal.SIGINT else ExitCode.SIGTERM
            # said: the journal had "call … ended" and then nothing, no summary, no reason
            log.warning("%s again while stopping: exiting at once%s (exit %d)",
                        signal.Signals(signum).name, ", without the call's summary"
                        if _unsummed(daemon) else "", code)
            os._exit(code)
        # `once` and `loop` place a call as they start: before the first, the one stopping
        # learns that none was (standby waits for a visitor: nothing to say)
        unplaced = daemon.call is None and daemon.profile.service.mode != "standby"
        log.info("%s: stopping%s", signal.Signals(signum).name,
                 " — no call was placed" if unplaced else "")
        daemon.stopping.set()

    def call() -> None:
        refused = daemon.request_call("signal")
        if refused:
            log.info("SIGUSR1 ignored: %s", refused)  # (a button mashed: not a warning each)

    handlers: dict[int, Any] = {
        signal.SIGINT: (stop, signal.SIGINT), signal.SIGTERM: (stop, signal.SIGTERM),
        signal.SIGHUP: (daemon.request_reload,), signal.SIGUSR1: (call,),
    }
    for signum, (fn, *args) in handlers.items():
        loop.add_signal_handler(signum, fn, *args)


def _unsummed(daemon: Signalled) -> bool:
    """A call was placed whose summary is not printed yet (before, a second signal said
    "without the call's summary" when no call had been placed, or its summary had been
    printed long before)."""
    call, last = daemon.call, daemon.last_summary
    if call is None:
        return False
    return call.info is not None and (last is None or last.call_id != call.info.id)
