"""Whether a URL may be reached in plain text: only a loopback host, unless the profile's
`api.allow_plaintext` says so. The standard library alone (no httpx): the profile's loader
checks `api.base_url` with it, and `ctl` loads the profile."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bridge.errors import ProfileError


def is_loopback(url: str) -> bool:
    """`url`'s host is this machine: 127.0.0.0/8, ::1 or localhost."""
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """Only this machine can reach it: 127.0.0.0/8, ::1, localhost (an address, without
    brackets, or a name)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: whatever it resolves to, not assumed private


def check_plaintext(url: str, allow_plaintext: bool, what: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme in ("http", "ws") and not allow_plaintext and not is_loopback(url):
        raise ProfileError(f"{what} uses unencrypted {scheme}:// to a non-loopback host; use "
                           f"https/wss, or set api.allow_plaintext: true if you really mean it")
