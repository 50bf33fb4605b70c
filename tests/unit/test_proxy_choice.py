"""`proxy_for` (what `check` reports, and the proxy a failed connection's line names) makes
the HTTP client's own choice between a proxy and going direct, for every way the
environment names proxies and exceptions to them (an IPv6 proxy shown in brackets), and the
call socket and `listen` take the same proxy (websockets' own lookup skips ALL_PROXY)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bridge.errors import ProfileError
from bridge.vapi.connect_errors import describe
from bridge.vapi.net import http_client, ws_options
from bridge.vapi.proxies import proxy_for

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
    ({"HTTPS_PROXY": PROXY}, "https://api.vapi.ai", ("HTTPS_PROXY", "proxy.example:3128")),
    ({"HTTPS_PROXY": PROXY}, "http://127.0.0.1:8099", None),
    ({"HTTPS_PROXY": PROXY}, "https://127.0.0.1:8443", ("HTTPS_PROXY", "proxy.example:3128")),
    ({"HTTP_PROXY": "proxy.example:8080"}, "http://10.0.0.5:8099",
     ("HTTP_PROXY", "proxy.example:8080")),
    ({"ALL_PROXY": PROXY}, "https://api.vapi.ai", ("ALL_PROXY", "proxy.example:3128")),
    ({"https_proxy": PROXY}, "https://api.vapi.ai", ("https_proxy", "proxy.example:3128")),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "api.vapi.ai"}, "https://api.vapi.ai", None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "vapi.ai"}, "https://api.vapi.ai", None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": ".vapi.ai"}, "https://vapi.ai",
     ("HTTPS_PROXY", "proxy.example:3128")),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, "https://api.vapi.ai", None),
    ({"HTTPS_PROXY": PROXY, "no_proxy": "localhost,127.0.0.1"}, "https://127.0.0.1:8443",
     None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "other.example"}, "https://api.vapi.ai",
     ("HTTPS_PROXY", "proxy.example:3128")),
    ({"ALL_PROXY": PROXY, "HTTPS_PROXY": "http://near.example:8080"}, "https://api.vapi.ai",
     ("HTTPS_PROXY", "near.example:8080")),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "http://api.vapi.ai"}, "https://api.vapi.ai",
     ("HTTPS_PROXY", "proxy.example:3128")),  # an entry's scheme is the URL's, not any
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "::1"}, "https://[::1]:8443", None),
    ({"HTTPS_PROXY": "http://[fd00::1]:3128"}, "https://api.vapi.ai",
     ("HTTPS_PROXY", "[fd00::1]:3128")),  # an IPv6 proxy in brackets, as a URL writes it
    ({"HTTPS_PROXY": "http://proxy.example"}, "https://api.vapi.ai",
     ("HTTPS_PROXY", "proxy.example:80")),
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


def test_an_ipv6_host_is_named_for_no_proxy_as_the_client_reads_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The hint "add HOST to NO_PROXY" for `https://[::1]:8443` said `[::1]`, with which the
    HTTP client refuses to start at all (a pattern it cannot parse, "Invalid port"), and
    that refusal named no entry: "a proxy variable … does not parse as a URL". httpx reads
    an IPv6 address without brackets."""
    environment(monkeypatch, {"HTTPS_PROXY": PROXY})
    refused = ConnectionRefusedError(111, "Connection refused")
    said = describe(refused, "[::1]:8443", proxy_for("https://[::1]:8443"))
    assert said.endswith("or add ::1 to NO_PROXY to connect directly"), said
    monkeypatch.setenv("NO_PROXY", "::1")
    assert proxy_for("https://[::1]:8443") is None
    monkeypatch.setenv("NO_PROXY", "localhost,[::1]")
    with pytest.raises(ProfileError) as unread:
        http_client("https://[::1]:8443")
    assert str(unread.value) == (
        "NO_PROXY: the entry [::1] is one the HTTP client cannot read — write an IPv6 "
        "address without brackets (::1); a range is not read at all: list the hosts to "
        "reach directly")
