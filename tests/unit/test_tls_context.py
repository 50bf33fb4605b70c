"""The TLS trust context is read once per trust environment, not per connection: loading
the system's store holds the event loop 60-90 ms here (more on a Raspberry Pi), and a
controlUrl command or a call's socket is opened while that loop feeds the speaker."""

from __future__ import annotations

import asyncio
import contextlib
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


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
    writer.close()


def test_a_client_for_plain_http_reads_the_trust_store_only_if_it_meets_tls(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`run` with the demo's profile (http:// to the simulator on loopback) read the system's
    trust store at start all the same: 30-40 ms of CPU here for a context never used. A
    client for https:// still reads it at once (not mid-call); one for http:// at its first
    handshake, should it ever make one, and verifies as any. Seen from outside: a CA named
    (SSL_CERT_FILE) after both clients are made is trusted by the http:// client only — the
    other's store was read before it was named."""
    for name in (*PROXY_VARIABLES, "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    ours, theirs = trustme.CA(), trustme.CA()
    ours.cert_pem.write_to_path(str(tmp_path / "ca.pem"))

    async def scenario() -> None:
        urls = []
        servers = []
        for ca in (ours, theirs):
            server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(server_side)
            servers.append(await asyncio.start_server(_answer, "127.0.0.1", 0,
                                                      ssl=server_side))
            urls.append(f"https://127.0.0.1:{servers[-1].sockets[0].getsockname()[1]}/")
        trusted, untrusted = urls
        plain = http_client(base_url="http://127.0.0.1:8099")
        secure = http_client(base_url="https://api.vapi.ai")
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # named after them
        try:
            assert (await plain.get(trusted)).status_code == 204  # its store read now
            for client, url in ((plain, untrusted), (secure, trusted)):
                with pytest.raises(httpx.TransportError) as refused:
                    await client.get(url)
                assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value), url
        finally:
            for client in (plain, secure):
                await client.aclose()
            for server in servers:
                server.close()

    asyncio.run(scenario())
