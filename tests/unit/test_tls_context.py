"""The TLS trust context is read once per trust environment, not per connection: loading
the system's store holds the event loop 60-90 ms here (more on a Raspberry Pi), and a
controlUrl command or a call's socket is opened while that loop feeds the speaker."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest
import trustme

from bridge.vapi.net import PROXY_VARIABLES, http_client, tls_context, ws_options


def test_every_connection_shares_one_context_for_one_trust_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first = tls_context()
    assert ws_options("wss://api.vapi.ai/call")["ssl"] is first  # a call's socket
    assert tls_context() is first  # the next controlUrl command: no store read again


def test_a_ca_named_in_ssl_cert_file_gets_a_context_that_trusts_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    system = tls_context()
    ca = trustme.CA(organization_name="kiosk private CA")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    private = tls_context()
    assert private is not system
    issuers = [dict(part[0] for part in c["subject"]) for c in private.get_ca_certs()]
    assert {"organizationName": "kiosk private CA"} in [
        {k: v for k, v in i.items() if k == "organizationName"} for i in issuers]
    assert tls_context() is private


def _context(client: httpx.AsyncClient) -> ssl.SSLContext:
    """The context an httpx client verifies with (its pool's: httpx keeps it nowhere else)."""
    return client._transport._pool._ssl_context  # type: ignore[attr-defined,no-any-return]


def test_a_client_for_plain_http_reads_the_trust_store_only_if_it_meets_tls(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`run` with the demo's profile (http:// to the simulator on loopback) read the system's
    trust store at start all the same: 30-40 ms of CPU here for a context never used. A
    client for https://, or one through a proxy, still reads it at once (not mid-call); one
    for http:// at its first handshake, should it ever make one, and verifies as any."""
    for name in (*PROXY_VARIABLES, "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    plain = _context(http_client(base_url="http://127.0.0.1:8099"))
    assert plain.cert_store_stats()["x509_ca"] == 0
    assert _context(http_client(base_url="https://api.vapi.ai")).cert_store_stats()["x509_ca"]
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.example:3128")
    assert _context(http_client(base_url="http://sim.example:8099")).cert_store_stats()[
        "x509_ca"]
    monkeypatch.delenv("HTTP_PROXY")

    ours, theirs = trustme.CA(), trustme.CA()
    ours.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))

    async def handshake(ca: trustme.CA) -> None:
        server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_side)
        server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0,
                                            ssl=server_side)
        try:
            port = server.sockets[0].getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=plain,
                                                      server_hostname="127.0.0.1")
            writer.close()
        finally:
            server.close()

    asyncio.run(handshake(ours))  # its store read now, SSL_CERT_FILE's CA in it
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(handshake(theirs))
