"""The call socket, watched while the call lasts: for a link that carries nothing, and for
a socket Vapi leaves open after ending the call.

Vapi streams audio all call long, near-silence between utterances [seen], so a socket that
brings nothing for `PROBE_AFTER_S` is pinged at once: no pong within `PONG_TIMEOUT_S`, and
nothing else either, and the link is dead, the call lost 8 s after the last audio (the
offline line follows about a second later; before, the quiet watch and a lookup took 13 s).
A link that stalls and comes back sooner keeps its call, and is watched afresh: each quiet
spell is pinged again, every 2 s while it lasts.

A link that answers but brings nothing for `SILENCE_TIMEOUT_S` is suspect. Nothing
documented promises a stream, though: a server may send a greeting whole and then nothing,
or say `hang` (a slow tool) and go quiet. So Vapi is asked (`GET /call/{id}`): while it
says the call goes on, so does the call, and the watch starts again; past `MAX_SILENCE_S`
of nothing at all (longer than Vapi's own default silence timeout, 30 s, would leave a live
call), or when Vapi ends, cannot be asked or says anything else, the connection is lost.

After Vapi's `status-update` ended, the socket is Vapi's to close; one still open
`end_timeout_seconds` later is closed from here, as after our own `end-call` — unless the
assistant's speech still arrives: nothing orders `ended` after the goodbye's audio, and a
goodbye streamed in real time behind it lost all but its first ~2 s to the close. The socket
stays open while speech (above -50 dBFS, not the near-silence Vapi streams all call long)
arrived within `GOODBYE_PAUSE_S`, for at most `GOODBYE_MAX_S` more."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from bridge.call.summary import OUTCOME_TIMEOUT_S
from bridge.inert import inert
from bridge.vapi.api import VapiApi
from bridge.vapi.socket import SILENCE_TIMEOUT_S, CallSocket

log = logging.getLogger("bridge.call")

MAX_SILENCE_S = 60.0
PROBE_AFTER_S = 2.0  # 100 of Vapi's 20 ms chunks missing: no jitter is that long
PONG_TIMEOUT_S = 6.0  # a pong goes out as soon as the ping is read; a link that stalls
# (a Wi-Fi roam, a congested uplink) and comes back within 2 + 6 s keeps its call
LOST_AFTER_S = PROBE_AFTER_S + PONG_TIMEOUT_S  # of nothing at all, ping unanswered: lost
LIVE = ("queued", "ringing", "in-progress", "forwarding")
GOODBYE_PAUSE_S = 1.0  # longer than a pause between a goodbye's sentences
GOODBYE_MAX_S = 6.0  # beyond end_timeout_seconds: a server that talks on (background sound
# streamed after `ended`) is not waited on longer; a goodbye is a sentence or two


DOWN_MIN_S = 2.0  # a controlUrl answers in 0.2-0.3 s, a lookup about as fast
DOWN_PAST_S = 1.0  # past the watch's verdict (its ping's timeout): the call lost by then


def down_wait(stalled: float | None, timeout: float) -> float | None:
    """How long a command by the controlUrl may take while the call's link carries nothing
    (`stalled` s; None: it carries, and requests take their own timeouts and retries): the
    time left before the call is found lost (`LOST_AFTER_S` after its last message, and
    `DOWN_PAST_S`), for then the link is lost or kept and the answer can say which,
    `DOWN_MIN_S` at least; never longer than one request's own `timeout`
    (`api.timeout_seconds`). Before, a `say` on a dead link waited for the controlUrl's
    lookup, retried: ~21 s."""
    if stalled is None:
        return None
    return min(timeout, max(DOWN_MIN_S, LOST_AFTER_S + DOWN_PAST_S - stalled))


class Speech(Protocol):
    """When the assistant's speech last arrived after the call's end (`Downlink`)."""

    speech_at: float


async def watch(socket: CallSocket, api: VapiApi, call_id: str, ended: asyncio.Event,
                end_timeout_s: float, label: str, speech: Speech) -> str | None:
    """Returns why the connection is lost, or None once Vapi has ended the call and left
    the socket open `end_timeout_s` (the caller closes it either way). No task of its own:
    it sleeps in the caller's until something could be due."""
    since = asked = 0.0  # asked: when Vapi last said the call goes on
    while True:
        await socket.quiet(PROBE_AFTER_S, since, until=ended)
        if ended.is_set():
            await asyncio.sleep(end_timeout_s)
            await _goodbye(speech, label, end_timeout_s)
            return None
        mark = socket.last_message
        if not await socket.answers(PONG_TIMEOUT_S):
            return f"nothing received for {time.monotonic() - mark:.0f} s, and no answer " \
                   f"to a ping within {PONG_TIMEOUT_S:.0f} s"
        since = time.monotonic()
        if socket.last_message != mark:
            continue  # the link carries again: watched afresh
        quiet = since - mark  # alive, and still quiet: pinged again every 2 s, and
        if since - max(mark, asked) < SILENCE_TIMEOUT_S:  # Vapi asked after 8 s of it
            continue
        if quiet > MAX_SILENCE_S:
            return f"nothing received for {quiet:.0f} s"
        try:
            async with asyncio.timeout(OUTCOME_TIMEOUT_S):
                status = (await api.get_call(call_id, attempts=1)).raw.get("status")
        except Exception as exc:
            return f"nothing received for {quiet:.0f} s, and Vapi could not be asked " \
                   f"({exc.__class__.__name__})"
        if status not in LIVE:
            return f"nothing received for {quiet:.0f} s, and Vapi says the call is " \
                   f"{inert(str(status), 40)}"
        log.info("call %s: nothing received for %.0f s, but Vapi says the call is %s: "
                 "going on", label, quiet, status)
        since = asked = time.monotonic()


async def _goodbye(speech: Speech, label: str, waited_s: float) -> None:
    """While the assistant's speech still arrives after Vapi's `ended` (module docstring),
    `waited_s` after it."""
    start = time.monotonic()
    while (left := speech.speech_at + GOODBYE_PAUSE_S - time.monotonic()) > 0:
        if time.monotonic() - start >= GOODBYE_MAX_S:
            log.info("call %s: the assistant still talks %.0f s after the call ended: "
                     "closing", label, waited_s + GOODBYE_MAX_S)
            return
        await asyncio.sleep(min(left, start + GOODBYE_MAX_S - time.monotonic()))
    if time.monotonic() - start > 0.1:
        log.info("call %s: the assistant's speech went on %.1f s after the call ended; "
                 "played before closing", label, waited_s + time.monotonic() - start)
