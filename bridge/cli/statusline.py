"""A one-line live status in a terminal: call state, time, microphone meter, playout.

Only on a TTY and never under systemd; it redraws in place every 250 ms, and log and
transcript lines clear it before they print (see `clear_prefix`).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bridge.audio.base import SILENCE_DBFS
from bridge.call.lifecycle import Call
from bridge.service.logsetup import live_terminal

CLEAR = "\r\033[K"


def wanted(stream: TextIO | None = None) -> bool:
    """`stream` defaults to the current sys.stderr (looked up when called: it may have been
    replaced since import, see `bridge.audio.native_stderr`)."""
    return live_terminal(sys.stderr if stream is None else stream)


def clear_prefix(stream: TextIO) -> str:
    """What a line printed to `stream` should start with so it erases the status line."""
    return CLEAR if wanted(stream) else ""


def meter(db: float, width: int = 10) -> str:
    filled = max(0, min(width, round((db + 60) / 60 * width)))
    return "█" * filled + "·" * (width - filled)


def _db(db: float) -> str:
    """Four characters: ` -23`, or `-inf` for digital silence."""
    return "-inf" if db <= SILENCE_DBFS else f"{db:4.0f}"


def render(call: Call) -> str:
    elapsed = int(call.elapsed_s)
    mic = call.source.level_db
    stats = call.downlink.playout_stats()
    muted = " (muted)" if call.uplink.muted else ""
    return (f"● {call.status:<11} {elapsed // 60:02d}:{elapsed % 60:02d}  mic {meter(mic)} "
            f"{_db(mic)} dB{muted}  playout {stats.depth_ms:3.0f} ms  "
            f"underruns {stats.underruns}")


async def show(call: Call, stream: TextIO | None = None) -> None:
    stream = sys.stderr if stream is None else stream
    try:
        while not call.done:
            stream.write(CLEAR + render(call))
            stream.flush()
            await asyncio.sleep(0.25)
    finally:
        stream.write(CLEAR)
        stream.flush()
