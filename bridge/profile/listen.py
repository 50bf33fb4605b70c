"""`http.listen`: HOST:PORT, checked when the profile is read, and written back
(`host_port`)."""

from __future__ import annotations

import os
import socket
from typing import Any

from bridge.profile.fields import Invalid, Str


def split_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`, `0.0.0.0:8080` → (host, port)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise Invalid(f"expected HOST:PORT, e.g. 127.0.0.1:8080 (got {text!r})")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise Invalid(f"write an IPv6 address in brackets, e.g. [::1]:8080 (got {text!r})")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise Invalid(f"the port must be 1..65535 (got {port!r})")
    return host, int(port)


def host_port(host: str, port: int) -> str:
    """`host:port` as `http.listen` is written: an IPv6 address in brackets (`[::1]:8080`)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Listen(Str):
    def check(self, value: Any) -> str:
        text = super().check(value)
        split_listen(text)
        return text


def bind_cause(exc: OSError) -> str:
    """Why an address could not be listened on, once (asyncio's message repeats the address
    before the cause): "Address already in use"."""
    if isinstance(exc, socket.gaierror) or not exc.errno or exc.errno < 0:
        return exc.strerror or str(exc)  # (a resolver's error: its own errno numbering)
    return os.strerror(exc.errno)
