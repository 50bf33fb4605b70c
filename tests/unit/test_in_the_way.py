"""A captive portal's or proxy's redirect, over loopback HTTP: its Location is server text."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bridge.errors import InTheWay
from bridge.vapi.api import VapiApi


async def _check_key_behind(location: str, page: bool = False, call_id: str = ""
                            ) -> BaseException:
    async def portal(_: web.Request) -> web.Response:
        if page:
            return web.Response(status=200, text="<html>log in</html>")
        return web.Response(status=302, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", portal)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        api = VapiApi(f"http://127.0.0.1:{port}", "k" * 36, allow_plaintext=True)
        await (api.get_call(call_id, attempts=1) if call_id else api.check_key())
    except BaseException as exc:  # what escapes is the point
        return exc
    finally:
        await runner.cleanup()
    raise AssertionError("a redirect was taken for Vapi's answer")


@pytest.mark.parametrize("location", ["http://[login.example/portal", "http://[portal"])
def test_a_redirect_to_a_location_urlsplit_cannot_take_is_still_the_portal_line(
        location: str) -> None:
    """An unbalanced '[' made urlsplit raise ValueError out of the request: 'internal
    error', exit 1, not the Wi-Fi login line, exit 5."""
    found = asyncio.run(_check_key_behind(location))
    assert isinstance(found, InTheWay), repr(found)
    assert "redirected (HTTP 302)" in str(found) and "captive portal" in str(found)


@pytest.mark.parametrize("page", [False, True])
def test_a_portal_met_looking_up_a_call_does_not_name_its_id(page: bool) -> None:
    """A live call's id is a bearer secret: a portal met by `GET /call/{id}` (the look after
    a lost socket, a create's lookup) said it whole in the error, which reaches the error
    event and `lastError` after the call's secrets are no longer masked."""
    call_id = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
    found = asyncio.run(_check_key_behind("http://login.example/", page, call_id))
    assert isinstance(found, InTheWay), repr(found)
    assert str(found).startswith("GET /call/{id}: ") and call_id[:8] not in str(found), found
