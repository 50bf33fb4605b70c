"""Which proxy a connection takes, as the HTTP client itself decides it — for `check`, the
errors that name the proxy, and the sockets (which must take the client's proxy, not their
own library's).

httpx (`trust_env`) builds a table of URL patterns from the environment — HTTPS_PROXY,
HTTP_PROXY and ALL_PROXY (`https://`, `http://`, `all://`), each NO_PROXY entry a pattern
that goes direct (`*`: none at all; an IPv6 address written as httpx reads it, `::1`) — and
the most specific pattern matching a URL decides. This builds that table with httpx's own
functions and asks it the same question (tests/unit/test_proxy_choice.py holds it to the
client's choice), rather than a second reading of the variables that could disagree.
"""

from __future__ import annotations

import os
import urllib.request
from types import EllipsisType
from urllib.parse import urlsplit

import httpx

PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
_VARIABLE_OF = {"https://": "https", "http://": "http", "all://": "all"}
UNREADABLE = "(a proxy URL with no host one can read)"


def environment_proxy(url: str) -> tuple[str, str] | EllipsisType | None:
    """The proxy the environment names for `url` (ws:// and wss:// as http:// and
    https://), as (the variable, the proxy's URL as written, login and all), or None to go
    direct; `...` when httpx's table cannot be read (the libraries then choose on their
    own)."""
    try:  # httpx's own table, not a public API
        from httpx._utils import URLPattern, get_environment_proxies
    except ImportError:
        return ...
    scheme = urlsplit(url).scheme
    try:
        target = httpx.URL(url).copy_with(scheme={"ws": "http", "wss": "https"}.get(
            scheme, scheme))
        table = {URLPattern(key): proxy for key, proxy in get_environment_proxies().items()}
    except (ValueError, httpx.InvalidURL):
        return ...  # the client itself refuses it, with its own line (`net.http_client`)
    for pattern in sorted(table):  # httpx's order: the most specific first
        if pattern.matches(target):
            proxy = table[pattern]
            key = _VARIABLE_OF.get(pattern.pattern)  # as spelled in the environment
            return None if proxy is None else (
                variable_of(key) if key else "NO_PROXY", proxy)
    return None


def unreadable_no_proxy() -> list[str]:
    """NO_PROXY entries the HTTP client cannot read (it refuses to start with one): an IPv6
    address in brackets (`[::1]`: httpx reads `::1`), an IPv6 range (`fd00::/8`)."""
    try:
        from httpx._utils import URLPattern, get_environment_proxies
    except ImportError:
        return []
    bad = []
    for key, proxy in get_environment_proxies().items():
        if proxy is None:
            try:
                URLPattern(key)
            except (ValueError, httpx.InvalidURL):
                entry = key.removeprefix("all://").removeprefix("*")
                bad.append(entry.strip("[]") if "/" in entry else entry)
    return bad


def no_proxy_entry(host: str) -> str:
    """How NO_PROXY names `host` (host:port, an IPv6 address in brackets) for httpx: the
    host alone, an IPv6 address without its brackets."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.strip("[]") if name.startswith("[") else name


def proxy_for(url: str) -> tuple[str, str] | None:
    """The proxy a connection to `url` goes through, as (the variable naming it, its
    host:port — an IPv6 address in brackets, never a login); None when it goes direct (or
    when httpx's table cannot be read)."""
    chosen = environment_proxy(url)
    return (chosen[0], shown(chosen[1])) if isinstance(chosen, tuple) else None


def shown(proxy_url: str) -> str:
    """The proxy's host:port (the scheme's port when none is written), never its user or
    password; `UNREADABLE` for a URL that does not parse into a host (a password with an @
    in it, not %-encoded, would otherwise be shown as the host)."""
    try:
        parts = urlsplit(proxy_url if "://" in proxy_url else "http://" + proxy_url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return UNREADABLE
    if not host or ("@" in proxy_url and "@" not in parts.netloc):  # an @ past the host:
        return UNREADABLE  # the "host" read is part of a password
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 1080 if scheme.startswith("socks") else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def variable_of(key: str) -> str:
    """The environment variable that names the proxy in effect for `key` (https, http,
    all), as spelled there: the uppercase one when it holds that proxy, else the one that
    does (a lowercase one set apart is the one read: curl, urllib and httpx read it first)."""
    upper = f"{key.upper()}_PROXY"
    value = urllib.request.getproxies_environment().get(key)
    if not value or os.environ.get(upper) == value:
        return upper
    spelled = [f"{key}_proxy", *sorted(os.environ)]  # the lowercase one first
    return next((name for name in spelled if name.lower() == upper.lower()
                 and os.environ.get(name) == value), upper)
