"""`proxy_for` (what `check` reports) makes the HTTP client's own choice between a proxy and
going direct, for every way the environment names proxies and exceptions to them, and the
call socket and `listen` take the same proxy (websockets' own lookup skips ALL_PROXY)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bridge.vapi.net import http_client, proxy_for, ws_options

VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
PROXY = "http://user:pw@proxy.example:3128"


def environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Exactly `env`'s proxy variables set, in either case."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("env", "url", "expected"), [
    ({"HTTPS_PROXY": PROXY}, "https://api.vapi.ai", ("proxy.example:3128", "HTTPS_PROXY")),
    ({"HTTPS_PROXY": PROXY}, "http://127.0.0.1:8099", None),
    ({"HTTPS_PROXY": PROXY}, "https://127.0.0.1:8443", ("proxy.example:3128", "HTTPS_PROXY")),
    ({"HTTP_PROXY": "proxy.example:8080"}, "http://10.0.0.5:8099",
     ("proxy.example:8080", "HTTP_PROXY")),
    ({"ALL_PROXY": PROXY}, "https://api.vapi.ai", ("proxy.example:3128", "ALL_PROXY")),
    ({"https_proxy": PROXY}, "https://api.vapi.ai", ("proxy.example:3128", "https_proxy")),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "api.vapi.ai"}, "https://api.vapi.ai", None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "vapi.ai"}, "https://api.vapi.ai", None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": ".vapi.ai"}, "https://vapi.ai", ("proxy.example:3128",
                                                                         "HTTPS_PROXY")),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, "https://api.vapi.ai", None),
    ({"HTTPS_PROXY": PROXY, "no_proxy": "localhost,127.0.0.1"}, "https://127.0.0.1:8443",
     None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "other.example"}, "https://api.vapi.ai",
     ("proxy.example:3128", "HTTPS_PROXY")),
    ({"ALL_PROXY": PROXY, "HTTPS_PROXY": "http://near.example:8080"}, "https://api.vapi.ai",
     ("near.example:8080", "HTTPS_PROXY")),
    ({}, "https://api.vapi.ai", None),
])
def test_the_proxy_is_the_clients_own_choice(env: dict[str, str], url: str,
                                             expected: tuple[str, str] | None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    environment(monkeypatch, env)
    assert proxy_for(url) == expected
    client = http_client()
    try:  # the transport httpx itself picks for the URL: its pool, or a proxy's
        direct = client._transport_for_url(httpx.URL(url)) is client._transport
    finally:
        asyncio.run(client.aclose())
    assert direct == (expected is None)


@pytest.mark.parametrize(("env", "url", "expected"), [
    ({"ALL_PROXY": PROXY}, "wss://api.vapi.ai/call/x", PROXY),
    ({"HTTPS_PROXY": PROXY}, "wss://api.vapi.ai/call/x", PROXY),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "vapi.ai"}, "wss://api.vapi.ai/call/x", None),
    ({"HTTP_PROXY": PROXY}, "ws://10.0.0.5:8099/call/x", PROXY),
    ({"HTTP_PROXY": PROXY, "NO_PROXY": "127.0.0.1"}, "ws://127.0.0.1:8099/call/x", None),
    ({"HTTPS_PROXY": PROXY}, "ws://10.0.0.5:8099/call/x", None),
    ({}, "wss://api.vapi.ai/call/x", None),
])
def test_the_sockets_take_the_same_proxy(env: dict[str, str], url: str, expected: str | None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    environment(monkeypatch, env)
    assert ws_options(url)["proxy"] == expected
