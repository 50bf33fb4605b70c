"""Why a connection failed, in words: DNS, refused, unreachable, TLS — not `ConnectError`.

httpx wraps the socket's own exception (through httpcore); the cause chain still holds it.
"""

from __future__ import annotations

import errno
import socket
import ssl

_UNREACHABLE = {errno.ENETUNREACH: "the network is unreachable",
                errno.EHOSTUNREACH: "no route to the host"}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 10:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def describe(exc: BaseException, host: str) -> str:
    """One phrase for why connecting to `host` failed, with what to check."""
    for e in _chain(exc):
        if isinstance(e, socket.gaierror):
            return (f"DNS: cannot resolve {host.rsplit(':', 1)[0]} "
                    f"({e.strerror or e}) — check the name in api.base_url and DNS")
        if isinstance(e, ConnectionRefusedError):
            return f"connection refused by {host} (nothing listens there)"
        if isinstance(e, ssl.SSLCertVerificationError):
            return (f"TLS: {host}'s certificate does not verify ({e.verify_message}) — check "
                    f"the clock, a proxy, or ca-certificates")
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake with {host} failed ({e.reason or e})"
        if isinstance(e, OSError) and e.errno in _UNREACHABLE:
            return f"{_UNREACHABLE[e.errno]} ({host})"
        if isinstance(e, TimeoutError):
            return f"connecting to {host} timed out"
    text = str(exc).strip()
    # TLS errors raised by httpcore keep only the text of the ssl error
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (f"TLS: {host}'s certificate does not verify — check the clock, a proxy, or "
                f"ca-certificates")
    if "SSL" in text or "TLS" in text:
        return f"TLS handshake with {host} failed ({text[:120]})"
    return f"cannot connect to {host} ({exc.__class__.__name__}{': ' + text[:120] if text else ''})"
