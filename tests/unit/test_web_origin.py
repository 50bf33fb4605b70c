"""The buttons' Origin check (`bridge.web.access._same_host`): host and port, a port left
out being the scheme's default on either side; the scheme itself not compared (behind a
TLS proxy the page is https:// and this server sees http://)."""

from __future__ import annotations

import pytest

from bridge.web.access import _same_host


@pytest.mark.parametrize(("origin", "host"), [
    ("http://127.0.0.1:8080", "127.0.0.1:8080"),
    ("https://kiosk.example", "kiosk.example"),
    ("https://kiosk.example", "kiosk.example:443"),  # nginx: Host $host:$server_port
    ("https://kiosk.example:443", "kiosk.example"),
    ("http://kiosk.example", "kiosk.example:80"),
    ("https://Kiosk.Example", "kiosk.example"),
    ("http://[::1]:8080", "[::1]:8080"),
])
def test_the_same_host_and_port(origin: str, host: str) -> None:
    assert _same_host(origin, host)


@pytest.mark.parametrize(("origin", "host"), [
    ("http://evil.example", "kiosk.example"),
    ("https://kiosk.example", "kiosk.example:8443"),
    ("http://kiosk.example", "kiosk.example:443"),
    ("http://127.0.0.1:8081", "127.0.0.1:8080"),
    ("null", "127.0.0.1:8080"),
    ("file:///x", "127.0.0.1:8080"),
    ("http://[::1", "[::1]:8080"),
    ("http://kiosk.example:99999", "kiosk.example"),
    ("http://kiosk.example.evil:8080", "kiosk.example:8080"),
])
def test_another_host_or_port(origin: str, host: str) -> None:
    assert not _same_host(origin, host)
