"""Who holds the kiosk screen's port, when `http.listen` finds it taken: another vapi-bridge
kiosk on the same box (a profile copied with its port) answers `/state` with its profile,
or a 401 in its own realm when it asks for a token. Two kiosks given one port take turns
on it: whichever restarts last finds it taken, and a browser opened for one shows the
other's screen, whose Call button calls from the other's microphone and speaker.

Whatever answers is any process at all: its answer is read bounded (`MAX_STATE_BYTES`: a
kiosk's `/state` is a few hundred bytes) and parsed as the network's JSON is (an endless
body held 1.1 GB at start-up; 200,000 `[` raised RecursionError and the daemon exited)."""

from __future__ import annotations

import aiohttp

from bridge.inert import printable
from bridge.profile.listen import host_port
from bridge.vapi import safejson

ASK_TIMEOUT_S = 2.0
MAX_STATE_BYTES = 16384


async def _body(answer: aiohttp.ClientResponse) -> bytes | None:
    """The answer's body, None when it is longer than `MAX_STATE_BYTES`."""
    body = b""
    while chunk := await answer.content.read(MAX_STATE_BYTES + 1 - len(body)):
        body += chunk
        if len(body) > MAX_STATE_BYTES:
            return None
    return body


ANOTHER = ""  # a vapi-bridge whose screen wants a token: its profile not told


async def holder(address: str, port: int) -> str | None:
    """'the kiosk screen of profile X' (or of another vapi-bridge, when it wants a token) at
    `address:port`, None when something else holds it or nothing answers in time."""
    name = await holding_profile(address, port)
    return None if name is None else described(name)


def described(name: str) -> str:
    """What `holding_profile`'s answer is, for a message."""
    return "the kiosk screen of another vapi-bridge" if name == ANOTHER else \
        f"the kiosk screen of profile '{printable(name, 64)}'"


async def holding_profile(address: str, port: int, token: str | None = None) -> str | None:
    """The profile of the vapi-bridge kiosk screen at `address:port` (asked with `token`,
    if any, as its Bearer), `ANOTHER` when one answers that wants a token it was not given,
    None when something else holds the port or nothing answers in time."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(address, address)
    where = host_port(host, port)
    try:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=ASK_TIMEOUT_S)) as session, \
                session.get(f"http://{where}/state", allow_redirects=False,
                            headers=headers) as answer:
            if answer.status == 401 and 'realm="vapi-bridge"' in answer.headers.get(
                    "WWW-Authenticate", ""):
                return ANOTHER
            body = await _body(answer) if answer.status == 200 else None
            state = None if body is None else safejson.loads(body, max_bytes=MAX_STATE_BYTES)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    name = state.get("profile") if isinstance(state, dict) else None
    return name if isinstance(name, str) and name else None
