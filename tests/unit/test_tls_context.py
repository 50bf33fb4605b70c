"""The TLS trust context is read once per trust environment, not per connection: loading
the system's store holds the event loop 60-90 ms here (more on a Raspberry Pi), and a
controlUrl command or a call's socket is opened while that loop feeds the speaker."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from bridge.vapi.net import tls_context, ws_options


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
