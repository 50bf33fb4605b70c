"""A call's last words: the speaker plays out what a call left queued before it closes, or
before the next call of a loop.

Vapi ends a call once the assistant's goodbye is spoken as far as Vapi can tell: sent. A
goodbye sent whole, or ahead of real time, is then still queued here, seconds of it, and
closing the speaker at once would leave the visitor with its first words. A call we ended
ourselves was cut at its end (`Downlink.end(cut=True)`): nothing of it is left but a fade.

`play_out` waits until the playout buffer is empty and the device's own latency (and
`AIR_MARGIN_S`) has passed, for at most what was queued and `SLACK_S` (a stalled device is
not waited on). Once `stop()` is true (a signal stopping the daemon, a new call asked for)
it fades out what is left and waits only for the fade. `tick`, if given, is called as it
plays (every `POLL_S`, and once it is heard): the recorder's way to keep recording it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bridge.audio.base import AudioSink

SLACK_S = 1.0  # beyond what was queued: a device's start, a loaded machine
AIR_MARGIN_S = 0.1  # beyond the device's reported latency, before it is closed
POLL_S = 0.02

log = logging.getLogger("bridge.call")


async def play_out(sink: AudioSink, stop: Callable[[], bool] | None = None,
                   tick: Callable[[], None] | None = None) -> None:
    """Wait for `sink` to play what is queued (see the module)."""
    queued = sink.playout_stats().depth_ms / 1000
    if queued > 0:
        await _drain(sink, queued, stop, tick)
    # the last blocks pulled, still in the device's and the sound server's buffers, reach
    # the air (PortAudio's latency leaves out the server's: an abort then cut the last
    # 13-33 ms of a goodbye on the PulseAudio rig, with a click)
    await asyncio.sleep(sink.latency_ms / 1000 + AIR_MARGIN_S)
    if tick is not None:
        tick()


async def _drain(sink: AudioSink, queued: float, stop: Callable[[], bool] | None,
                 tick: Callable[[], None] | None) -> None:
    if queued >= 1 and not (stop is not None and stop()):  # (being faded: not said)
        log.info("the call's last %.1f s of audio playing out", queued)
    deadline = time.monotonic() + queued + SLACK_S
    faded = False
    while sink.playout_stats().depth_ms > 0:
        now = time.monotonic()
        if stop is not None and not faded and stop():
            sink.clear_buffer()  # on the device's next pull, faded
            faded, deadline = True, min(deadline, now + SLACK_S)
        if now >= deadline:
            log.debug("the speaker did not play out what was queued: closing it anyway")
            return
        await asyncio.sleep(POLL_S)
        if tick is not None:
            tick()
