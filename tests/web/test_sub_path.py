"""The kiosk screen behind a reverse proxy's sub-path (nginx `location /kiosk1/ {
proxy_pass http://127.0.0.1:8080/; }`), in a real browser: the page, its event stream, its
state and its buttons all reached through `/kiosk1/`. Before, the page asked for `/state`,
`/events`, `/call` and `/end` at the host's root and `?token=` redirected to `/`, all of
them outside the proxy's path: the screen never left "Connecting" (operator helper). And
the token's cookie is Secure when the browser came by https (as a TLS proxy says), scoped
to the directory it was set from. About 6 s."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from playwright.sync_api import expect

from tests.web.conftest import ProfileBuilder, free_port, wait_for, web_profile

TOKEN = "sub-path-token-0123456789"
PREFIX = "/kiosk1/"
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
       "upgrade"}


class SubPathProxy:
    """`PREFIX` → the daemon's `/`, as nginx does (the Host kept, `X-Forwarded-Proto` set,
    answers streamed); anything else is a 404, as another site on the proxy's host."""

    def __init__(self, target: int, proto: str = "http") -> None:
        self.target, self.proto = target, proto
        self.port = free_port()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped: asyncio.Event | None = None
        ready = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(ready),),
                                       daemon=True)
        self.thread.start()
        assert ready.wait(10), "the proxy did not start"

    async def _main(self, ready: threading.Event) -> None:
        self.loop, self.stopped = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        ready.set()
        await self.stopped.wait()
        await runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if not request.path.startswith(PREFIX):
            return web.Response(status=404, text="not this proxy's path")
        url = f"http://127.0.0.1:{self.target}/{request.raw_path[len(PREFIX):]}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        headers["X-Forwarded-Proto"] = self.proto
        async with aiohttp.ClientSession(auto_decompress=False) as session, session.request(
                request.method, url, headers=headers, data=await request.read(),
                allow_redirects=False, timeout=aiohttp.ClientTimeout(total=None)) as up:
            answer = web.StreamResponse(status=up.status, headers={
                k: v for k, v in up.headers.items() if k.lower() not in HOP})
            await answer.prepare(request)
            async for chunk in up.content.iter_any():
                await answer.write(chunk)
            return answer

    def close(self) -> None:
        assert self.loop is not None and self.stopped is not None
        self.loop.call_soon_threadsafe(self.stopped.set)
        self.thread.join(15)


@pytest.fixture
def proxies() -> Iterator[list[SubPathProxy]]:
    made: list[SubPathProxy] = []
    yield made
    for proxy in made:
        proxy.close()


def test_the_screen_works_under_a_proxy_sub_path_and_its_cookie_is_secure_over_https(
        start_sim, profiles: ProfileBuilder, start_web, browser,
        proxies: list[SubPathProxy]) -> None:
    sim = start_sim(assistant="echo")
    port = free_port()
    daemon = start_web(web_profile(profiles, sim, port, http={"token_env": "KIOSK_TOKEN"}),
                       port, headers={"Authorization": f"Bearer {TOKEN}"}, KIOSK_TOKEN=TOKEN)

    def cookie(**headers: str) -> str:
        opened = httpx.get(f"{daemon.base}/?token={TOKEN}", headers=headers)
        assert opened.status_code == 303 and opened.headers["location"] == "./", opened
        return opened.headers["set-cookie"].lower()

    plain = cookie()
    assert "httponly" in plain and "samesite=strict" in plain and "path=" not in plain, plain
    assert "secure" not in plain, "over plain http a browser would drop a Secure cookie"
    assert "secure" in cookie(**{"X-Forwarded-Proto": "https"})
    assert "secure" in cookie(Forwarded="for=192.0.2.7;proto=https")
    assert httpx.get(f"{daemon.base}/metrics?token={TOKEN}").headers["location"] == "metrics"

    proxy = SubPathProxy(port)
    proxies.append(proxy)
    problems: list[str] = []
    page: Any = browser.new_page()
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto(f"http://127.0.0.1:{proxy.port}{PREFIX}?token={TOKEN}")
    assert page.url == f"http://127.0.0.1:{proxy.port}{PREFIX}", "the token left the address"
    expect(page.locator("#state")).to_have_text("Ready")
    page.locator("#button").click()
    expect(page.locator("#state")).to_have_text("In call", timeout=20000)
    assert len(sim.calls()) == 1
    page.wait_for_timeout(800)  # a second tap within 0.7 s is the same press, not End
    page.locator("#button").click()  # End
    expect(page.locator("#state")).to_have_text("Call ended", timeout=20000)
    wait_for(lambda: sim.only_call()["endedReason"], 10, "the simulator's end")
    assert problems == [], problems
    page.close()
