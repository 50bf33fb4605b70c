"""A TLS handshake answered in plain text is named, and not retried, however OpenSSL words
it: WRONG_VERSION_NUMBER up to 3.1 (this machine), "record layer failure" from 3.2 (Debian
13, newer Raspberry Pi OS) — which Python reports as "[SSL: RECORD_LAYER_FAILURE] record
layer failure" (3.13+) or, with tables that predate the code, "[SSL] record layer failure"
and no reason (3.11, 3.12). Only the first was known: on a newer OpenSSL, https:// to a
plain-http server got five attempts of backoff and "TLS handshake … failed (None)"."""

from __future__ import annotations

import ssl

import httpcore
import httpx
import pytest

from bridge.vapi.connect_errors import answered_in_plain_text, describe

HOST = "127.0.0.1:8099"


def ssl_error(text: str, reason: str | None) -> ssl.SSLError:
    """An ssl.SSLError as the ssl module raises it: its text, `library`, `reason`."""
    error = ssl.SSLError(1, text)
    error.library, error.reason = "SSL", reason
    return error


SHAPES = {  # what Python's ssl raises for an HTTP server's answer to a ClientHello
    "OpenSSL 3.0": (ssl_error("[SSL: WRONG_VERSION_NUMBER] wrong version number "
                              "(_ssl.c:992)", "WRONG_VERSION_NUMBER"), "WRONG_VERSION_NUMBER"),
    "OpenSSL 3.2+, Python 3.13+": (ssl_error("[SSL: RECORD_LAYER_FAILURE] record layer "
                                             "failure (_ssl.c:1018)", "RECORD_LAYER_FAILURE"),
                                   "RECORD_LAYER_FAILURE"),
    "OpenSSL 3.2+, Python 3.11/3.12": (ssl_error("[SSL] record layer failure (_ssl.c:1000)",
                                                 None), "RECORD_LAYER_FAILURE"),
}


def as_httpx_raises(error: ssl.SSLError) -> httpx.ConnectError:
    """`error` chained as httpx raises it: httpx's ConnectError from httpcore's, from it."""
    try:
        try:
            try:
                raise error
            except ssl.SSLError as exc:
                raise httpcore.ConnectError(str(exc)) from exc
        except httpcore.ConnectError as exc:
            raise httpx.ConnectError(str(exc)) from exc
    except httpx.ConnectError as exc:
        return exc


@pytest.mark.parametrize("shape", SHAPES)
def test_a_plain_text_answer_is_named_in_every_wording(shape: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    error, code = SHAPES[shape]
    line = (f"TLS handshake with {HOST} failed: it answered in plain text, not TLS ({code}) "
            f"— a server without TLS takes http:// (ws:// for a socket) in api.base_url")
    for raised in (as_httpx_raises(error), error):  # the REST client's; websockets' own
        assert answered_in_plain_text(raised), shape  # so: not retried (vapi/api.py)
        assert describe(raised, HOST) == line
    # a proxy written https:// that has no TLS: the proxy is named, not the API host
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.example:3128")
    assert describe(as_httpx_raises(error), "api.vapi.ai:443",
                    ("HTTPS_PROXY", "proxy.example:3128")) == (
        f"TLS handshake with the proxy proxy.example:3128 (HTTPS_PROXY) failed: it answered "
        f"in plain text, not TLS ({code}) — a proxy without TLS takes http://, not https://, "
        f"in HTTPS_PROXY")


def test_other_handshake_failures_are_not_plain_text() -> None:
    error = ssl_error("[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version "
                      "(_ssl.c:1000)", "TLSV1_ALERT_PROTOCOL_VERSION")
    assert not answered_in_plain_text(as_httpx_raises(error))
    assert describe(as_httpx_raises(error), HOST) == (
        f"TLS handshake with {HOST} failed (TLSV1_ALERT_PROTOCOL_VERSION)")
