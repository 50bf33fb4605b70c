"""Who holds the kiosk screen's port, when `http.listen` finds it taken: another vapi-bridge
kiosk on the same box (a profile copied with its port) answers `/state` with its profile,
or a 401 in its own realm when it asks for a token. Two kiosks given one port take turns
on it: whichever restarts last finds it taken, and a browser opened for one shows the
other's screen, whose Call button calls from the other's microphone and speaker."""

from __future__ import annotations

import aiohttp

from bridge.inert import printable

ASK_TIMEOUT_S = 2.0


async def holder(address: str, port: int) -> str | None:
    """'the kiosk screen of profile X' (or of another vapi-bridge, when it wants a token) at
    `address:port`, None when something else holds it or nothing answers in time."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(address, address)
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=ASK_TIMEOUT_S)) as session, \
                session.get(f"http://{where}/state", allow_redirects=False) as answer:
            if answer.status == 401 and 'realm="vapi-bridge"' in answer.headers.get(
                    "WWW-Authenticate", ""):
                return "the kiosk screen of another vapi-bridge"
            state = await answer.json(content_type=None) if answer.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError, UnicodeDecodeError):
        return None
    name = state.get("profile") if isinstance(state, dict) else None
    if not isinstance(name, str) or not name:
        return None
    return f"the kiosk screen of profile {printable(name)[:64]!r}"
