"""A captive portal's or proxy's redirect, over loopback HTTP: its Location is server text."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bridge.errors import InTheWay
from bridge.vapi.api import VapiApi


async def _check_key_behind(location: str) -> BaseException:
    async def portal(_: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", portal)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await VapiApi(f"http://127.0.0.1:{port}", "k" * 36, allow_plaintext=True).check_key()
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
