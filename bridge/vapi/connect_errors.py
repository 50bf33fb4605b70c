"""Why a connection failed, in words: DNS, refused, unreachable, TLS — not `ConnectError`.

httpx wraps the socket's own exception (through httpcore); the cause chain still holds it.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import urllib.request
from urllib.parse import urlsplit

_UNREACHABLE = {errno.ENETUNREACH: "the network is unreachable",
                errno.EHOSTUNREACH: "no route to the host"}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 10:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def proxy_for(url: str) -> tuple[str, str] | None:
    """The proxy the environment names for `url`, as (variable, its host:port), as curl and
    httpx read them (HTTPS_PROXY / HTTP_PROXY by scheme, then ALL_PROXY; not for a NO_PROXY
    host); None when the connection is direct."""
    named = _proxy_url(url)
    return None if named is None else (named[0], _shown(named[1]))


def _proxy_url(url: str) -> tuple[str, str] | None:
    """(variable, the proxy URL as written, login and all) for `url`, as `proxy_for`."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    # httpx's NO_PROXY: a `*` anywhere bypasses all; an entry may carry a scheme
    bypass = [entry.strip().split("://")[-1] for entry in proxies.get("no", "").split(",")]
    if "*" in bypass or urllib.request.proxy_bypass_environment(
            parts.hostname or "", {**proxies, "no": ",".join(bypass)}):
        return None
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    for key in (scheme, "all"):
        if proxies.get(key):
            return variable_of(key), proxies[key]
    return None


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


def proxy_login_refused(exc: BaseException) -> bool:
    """The proxy answered 407 Proxy Authentication Required: to CONNECT (httpx's
    `ProxyError` "407 …", websockets' `InvalidProxyStatus`) or to a request it forwards."""
    for e in _chain(exc):
        if getattr(getattr(e, "response", None), "status_code", None) == 407:
            return True
        if "proxy" in e.__class__.__name__.lower() and str(e).lstrip().startswith("407"):
            return True
    return False


def proxy_login(url: str) -> str:
    """One line for a proxy's 407 on the way to `url`: it wants a login (none given) or
    refused the one in its variable — the proxy named by host:port, never its password. A
    login fails the same way at every attempt: this is said at once, not retried."""
    named = _proxy_url(url)
    variable, proxy = (named[0], _shown(named[1])) if named else ("HTTPS_PROXY", "")
    given = named is not None and "@" in named[1]
    where = f"the proxy {proxy} ({variable})" if proxy else "the proxy"
    fix = (f"put the proxy's user and password in {variable}, "
           f"http://USER:PASSWORD@{proxy or 'HOST:PORT'} (characters such as @ : / in them "
           f"percent-encoded)")
    if given:
        return (f"{where} refused its login (407 Proxy Authentication Required): the user or "
                f"password in {variable} is wrong — {fix}")
    return (f"{where} requires a login (407 Proxy Authentication Required) and {variable} "
            f"has none — {fix}")


UNREADABLE = "(a proxy URL with no host one can read)"


def _shown(proxy_url: str) -> str:
    """The proxy's host:port, never its user or password (a URL that does not parse into a
    host is shown as such, not as it is)."""
    try:
        parts = urlsplit(proxy_url if "://" in proxy_url else "//" + proxy_url)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or ("@" in proxy_url and "@" not in parts.netloc):  # an @ past the host:
        # the "host" read is part of a password
        return UNREADABLE
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def answered_in_plain_text(exc: BaseException) -> bool:
    """The TLS handshake was answered in plain text (OpenSSL's WRONG_VERSION_NUMBER): a
    plain-http server under https://, the same at every attempt (no retry can help, unlike
    a name not resolved yet or a refusal while a kiosk's network comes up at boot)."""
    return any((isinstance(e, ssl.SSLError) and e.reason == "WRONG_VERSION_NUMBER")
               or "WRONG_VERSION_NUMBER" in str(e) for e in _chain(exc))


def describe(exc: BaseException, host: str, proxy: tuple[str, str] | None = None, *,
             setting: str = "api.base_url") -> str:
    """One phrase for why connecting to `host` failed, with what to check; through `proxy`
    (`proxy_for`), a failure to reach the proxy names the proxy, not `host`. `setting` is
    where the host came from (a name that does not resolve: check the name there)."""
    plain = answered_in_plain_text(exc)
    for e in _chain(exc):
        failure = _socket_failure(e)
        if failure is not None and proxy is not None:
            return (f"the proxy {proxy[1]} ({proxy[0]}): {_via_proxy(*failure, proxy[1])} — "
                    f"check {proxy[0]}, or add {host.rsplit(':', 1)[0]} to NO_PROXY to "
                    f"connect directly")
        if failure is not None:
            return _direct(*failure, host, setting)
        if isinstance(e, ssl.SSLCertVerificationError):
            return (f"TLS: {host}'s certificate does not verify ({e.verify_message}) — check "
                    f"the clock, a proxy, or ca-certificates")
        if isinstance(e, ssl.SSLError):
            return _handshake(host, str(e.reason or e), proxy, setting, plain)
    text = str(exc).strip()
    if proxy is not None and "proxy" in exc.__class__.__name__.lower():  # it answered: no
        return (f"the proxy {proxy[1]} ({proxy[0]}) would not connect to {host} "
                f"({text[:120] or exc.__class__.__name__}) — check {proxy[0]}")
    # TLS errors raised by httpcore keep only the text of the ssl error
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (f"TLS: {host}'s certificate does not verify — check the clock, a proxy, or "
                f"ca-certificates")
    if "SSL" in text or "TLS" in text:
        return _handshake(host, text[:120], proxy, setting, plain)
    return f"cannot connect to {host} ({exc.__class__.__name__}{': ' + text[:120] if text else ''})"


def _handshake(host: str, reason: str, proxy: tuple[str, str] | None, setting: str,
               plain: bool) -> str:
    """A failed TLS handshake; one answered in plain text (`plain`: OpenSSL's
    WRONG_VERSION_NUMBER, the `reason` of the ssl.SSLError that httpx and websockets chain
    to their own) is a plain-http server where https:// was written (the simulator, a
    local mock), or, through a proxy written https://, the proxy itself: a plain one, as
    most are (it was said as `host`'s handshake, and the fix for `host` looked for)."""
    if plain and proxy is not None and os.environ.get(proxy[0], "").strip().lower(
            ).startswith("https://"):
        return (f"TLS handshake with the proxy {proxy[1]} ({proxy[0]}) failed: it answered in "
                f"plain text, not TLS (WRONG_VERSION_NUMBER) — a proxy without TLS takes "
                f"http://, not https://, in {proxy[0]}")
    if plain and proxy is None:
        return (f"TLS handshake with {host} failed: it answered in plain text, not TLS "
                f"(WRONG_VERSION_NUMBER) — a server without TLS takes http:// (ws:// for a "
                f"socket) in {setting}")
    return f"TLS handshake with {host} failed ({reason})"


def _socket_failure(e: BaseException) -> tuple[str, str] | None:
    """(kind, detail) when `e` is the socket itself failing: `dns` (the resolver's words),
    `refused`, `unreachable` (which), `timeout`; else None."""
    if isinstance(e, socket.gaierror):
        return "dns", str(e.strerror or e)
    if isinstance(e, ConnectionRefusedError):
        return "refused", ""
    if isinstance(e, OSError) and e.errno in _UNREACHABLE:
        return "unreachable", _UNREACHABLE[e.errno]
    if isinstance(e, TimeoutError):
        return "timeout", ""
    return None


def _direct(kind: str, detail: str, host: str, setting: str) -> str:
    if kind == "dns":
        return (f"DNS: cannot resolve {host.rsplit(':', 1)[0]} ({detail}) — check the name "
                f"in {setting} and DNS")
    return {"refused": f"connection refused by {host} (nothing listens there)",
            "unreachable": f"{detail} ({host})",
            "timeout": f"connecting to {host} timed out"}[kind]


def _via_proxy(kind: str, detail: str, proxy: str) -> str:
    name = "its host" if proxy == UNREADABLE else proxy.rsplit(":", 1)[0]
    return {"dns": f"cannot resolve {name} ({detail})",
            "refused": "connection refused (nothing listens there)",
            "unreachable": detail, "timeout": "connecting timed out"}[kind]
