"""Words for the errors a new user meets, through the real `vapi-bridge` process: each
names what is actually wrong and the fix, in one line, with its documented exit code."""

from __future__ import annotations

import socket

import pytest

from tests.e2e.conftest import run_bridge

SECRET_PATH = "/0c5e1b0a-secret-call-path/listen"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("url", "words"), [
    ("wss://nosuch.invalid", "cannot open the listen socket: DNS: cannot resolve "
                             "nosuch.invalid"),
    ("ws://127.0.0.1:{port}", "cannot open the listen socket: connection refused by "
                              "127.0.0.1:{port} (nothing listens there)"),
])
def test_listen_names_why_it_cannot_connect_and_only_the_host(url: str, words: str) -> None:
    port = _closed_port()
    result = run_bridge("listen", "--url", url.format(port=port) + SECRET_PATH, "--out", "-",
                        timeout=60)
    assert result.returncode == 5, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vapi-bridge: " + words.format(port=port)), last
    assert "secret-call-path" not in result.stderr + result.stdout
    assert "gaierror" not in last and "Error" not in last


def test_listen_names_a_tls_failure(start_sim) -> None:
    sim = start_sim(assistant="echo")  # plain HTTP: a TLS handshake with it fails
    host = sim.base_url.split("://", 1)[1]
    result = run_bridge("listen", "--url", f"wss://{host}{SECRET_PATH}", "--out", "-",
                        timeout=60)
    assert result.returncode == 5, result.stderr
    assert f"cannot open the listen socket: TLS handshake with {host} failed" in \
        result.stderr, result.stderr
    assert "secret-call-path" not in result.stderr


def test_a_listen_timeout_is_named_with_the_host_only() -> None:
    from bridge.vapi.listen import _connect_error

    error = _connect_error(TimeoutError(), f"wss://user:pw@listen.example:8443{SECRET_PATH}")
    assert str(error) == ("cannot open the listen socket: connecting to listen.example:8443 "
                          "timed out")


@pytest.mark.parametrize(("destination", "words"), [
    ("not-a-number", "'not-a-number' is not a phone number or SIP URI — give a phone number "
                     "in E.164 form (e.g. +15551234567) or a sip: URI"),
    ("5551234567", "'5551234567' is not an E.164 number — write it with + and the country "
                   "code"),
])
def test_ctl_transfer_refuses_a_destination_before_asking_the_daemon(
        destination: str, words: str) -> None:
    result = run_bridge("ctl", "--socket", "/nonexistent/ctl.sock", "transfer", destination)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith(f"vapi-bridge: transfer: {words}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

