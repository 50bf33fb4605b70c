"""Why a connection failed, in words: DNS, refused, unreachable, TLS — not `ConnectError`.

httpx wraps the socket's own exception (through httpcore); the cause chain still holds it.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl

from bridge.vapi.proxies import UNREADABLE, environment_proxy, no_proxy_entry, shown

_UNREACHABLE = {errno.ENETUNREACH: "the network is unreachable",
                errno.EHOSTUNREACH: "no route to the host"}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 10:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


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
    named = environment_proxy(url)
    named = named if isinstance(named, tuple) else None
    variable, proxy = (named[0], shown(named[1])) if named else ("HTTPS_PROXY", "")
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


# The words OpenSSL has for a TLS handshake answered in plain text (an "HTTP/1.1 400 …"
# read as a record header): up to 3.1 WRONG_VERSION_NUMBER; from 3.2 (Debian 13, newer
# Raspberry Pi OS) the record layer's own error (often PACKET_LENGTH_TOO_LONG) is followed
# by RECORD_LAYER_FAILURE, the last one, which is what Python reports — "[SSL:
# RECORD_LAYER_FAILURE] record layer failure" where its tables know the code (3.13+),
# "[SSL] record layer failure" where they do not (3.11, 3.12). urllib3 reads both the same
# way (urllib3 #3271). It is a failure of the connection's first record here (a failed
# connect): a TLS server's records read as TLS.
_PLAIN_TEXT = {"WRONG_VERSION_NUMBER": "WRONG_VERSION_NUMBER",
               "wrong version number": "WRONG_VERSION_NUMBER",
               "RECORD_LAYER_FAILURE": "RECORD_LAYER_FAILURE",
               "record layer failure": "RECORD_LAYER_FAILURE"}


def plain_text_code(exc: BaseException) -> str | None:
    """OpenSSL's code for a TLS handshake answered in plain text (WRONG_VERSION_NUMBER, or
    from OpenSSL 3.2 RECORD_LAYER_FAILURE), from `exc` or what it chains; else None."""
    for e in _chain(exc):
        said = f"{getattr(e, 'reason', None) or ''} {e}"
        code = next((code for words, code in _PLAIN_TEXT.items() if words in said), None)
        if code is not None:
            return code
    return None


def answered_in_plain_text(exc: BaseException) -> bool:
    """The TLS handshake was answered in plain text (`plain_text_code`): a plain-http
    server under https://, the same at every attempt (no retry can help, unlike a name not
    resolved yet or a refusal while a kiosk's network comes up at boot)."""
    return plain_text_code(exc) is not None


def describe(exc: BaseException, host: str, proxy: tuple[str, str] | None = None, *,
             setting: str = "api.base_url") -> str:
    """One phrase for why connecting to `host` failed, with what to check; through `proxy`
    (`proxy_for`), a failure to reach the proxy names the proxy, not `host`. `setting` is
    where the host came from (a name that does not resolve: check the name there)."""
    plain = plain_text_code(exc)
    for e in _chain(exc):
        failure = _socket_failure(e)
        if failure is not None and proxy is not None:
            return (f"the proxy {proxy[1]} ({proxy[0]}): {_via_proxy(*failure, proxy[1])} — "
                    f"check {proxy[0]}, or add {no_proxy_entry(host)} to NO_PROXY to "
                    f"connect directly")
        if failure is not None:
            return _direct(*failure, host, setting)
        if isinstance(e, ssl.SSLCertVerificationError):
            return (f"TLS: {host}'s certificate does not verify ({e.verify_message}) — check "
                    f"the clock, a proxy, or ca-certificates")
        if isinstance(e, ssl.SSLError):
            return _handshake(host, str(getattr(e, "reason", None) or e), proxy, setting,
                              plain)
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
               plain: str | None) -> str:
    """A failed TLS handshake; one answered in plain text (`plain`: OpenSSL's code for it,
    `plain_text_code`, from the ssl.SSLError that httpx and websockets chain to their
    own) is a plain-http server where https:// was written (the simulator, a
    local mock), or, through a proxy written https://, the proxy itself: a plain one, as
    most are (it was said as `host`'s handshake, and the fix for `host` looked for)."""
    if plain and proxy is not None and os.environ.get(proxy[0], "").strip().lower(
            ).startswith("https://"):
        return (f"TLS handshake with the proxy {proxy[1]} ({proxy[0]}) failed: it answered in "
                f"plain text, not TLS ({plain}) — a proxy without TLS takes "
                f"http://, not https://, in {proxy[0]}")
    if plain and proxy is None:
        return (f"TLS handshake with {host} failed: it answered in plain text, not TLS "
                f"({plain}) — a server without TLS takes http:// (ws:// for a "
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
