"""How the bridge reaches the network: the same TLS trust and proxies for every connection
(REST, the call socket, `listen`, controlUrl POSTs).

- Proxies come from the environment, as curl and pip take them: `HTTPS_PROXY` for https://
  and wss://, `HTTP_PROXY` for http:// and ws://, `ALL_PROXY`, and `NO_PROXY` for the hosts
  to reach directly (httpx for HTTP, websockets' own CONNECT support for sockets).
- Answers are read bounded (`read_answer`): the decoded body up to a cap, the whole
  exchange within a deadline, so a server sending without end, or a byte at a time just
  inside httpx's per-read timeout, can hold neither memory nor the request for long.
- Trust is the system's store (OpenSSL's default paths, e.g. Debian's ca-certificates),
  which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`; certifi's bundle is used only where the
  system has none at all. One stdlib context serves both libraries, so a private CA added
  to the system (or named by `SSL_CERT_FILE`) works for every connection alike. A client
  for plain http:// (the simulator on loopback) reads the store only at a first handshake.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from bridge import redact
from bridge.errors import NetworkError, ProfileError
from bridge.extras import pip_install
from bridge.inert import inert
from bridge.vapi.body_decode import ACCEPT_ENCODING, BodyDecoder, Undecodable
from bridge.vapi.proxies import PROXY_VARIABLES, environment_proxy, unreadable_no_proxy

ERROR_CAP = 64 * 2**10  # an error answer is read for its message, 300 characters of it
# A whole exchange (connect, send, every read) ends within this many times the configured
# timeout: httpx's timeout bounds each read, not the answer, which a server trickling a
# byte just within it could otherwise stretch forever.
DEADLINE_FACTOR = 3
# ... plus a second for every this many bytes received: a long answer (a page of calls) on a
# slow link still comes whole, a trickle gains nothing
SLOW_LINK_BYTES_S = 32 * 2**10


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read bounded: its status and at most a cap of its decoded body."""

    request: httpx.Request
    status: int
    reason: str
    body: bytes
    cut: str = ""  # why `body` is not the whole body ("larger than 16 MiB"); "" when it is
    location: str = ""  # a redirect's Location header, as sent (server text)


async def read_answer(client: httpx.AsyncClient, method: str, url: str, *, cap: int,
                      deadline: float, **kwargs: Any) -> Answer:
    """`method url` on `client`, streamed: a 2xx body is read up to `cap` decoded bytes (0:
    not read), any other up to `ERROR_CAP`, and the connection is closed there rather than
    drained. Past `deadline` seconds in all (and a second more for every
    `SLOW_LINK_BYTES_S` received), `TimeoutError`; httpx's errors as they come. The cap
    counts decoded bytes, a compressed body's included (`body_decode`)."""
    ends = asyncio.get_running_loop().time() + deadline
    async with asyncio.timeout_at(ends) as timer, \
            client.stream(method, url, **kwargs) as response:
        def received() -> None:
            timer.reschedule(ends + response.num_bytes_downloaded / SLOW_LINK_BYTES_S)

        body, cut = await _body(response, cap if response.status_code < 300 else ERROR_CAP,
                                received)
        return Answer(response.request, response.status_code, response.reason_phrase,
                      body, cut, response.headers.get("Location", ""))


async def _body(response: httpx.Response, limit: int, received: Callable[[], None]
                ) -> tuple[bytes, str]:
    """At most `limit` bytes of the decoded body, and why it is cut ("" when whole)."""
    if not limit:
        return b"", ""
    body = bytearray()
    try:
        decoder = BodyDecoder(response.headers.get("Content-Encoding", ""))
        async for chunk in response.aiter_raw():
            received()
            body += decoder.feed(chunk, limit + 1 - len(body))
            if len(body) > limit:
                del body[limit:]
                return bytes(body), f"larger than {_size(limit)}"
    except Undecodable:
        return bytes(body), "not decodable as its Content-Encoding says"
    return bytes(body), ""


def _size(count: int) -> str:
    return f"{count // 2**20} MiB" if count >= 2**20 else f"{count // 2**10} KiB"


def tls_context() -> ssl.SSLContext:
    """A verifying client context with the system's trust store (see the module doc).

    Made once per trust environment (`SSL_CERT_FILE`, `SSL_CERT_DIR`) and then shared:
    loading the store holds the event loop 60-90 ms here (a Raspberry Pi's core is several
    times slower), which a context per connection paid at every call's socket and every
    controlUrl command, mid-call, with the speaker fed from that loop. The libraries only
    set ALPN on it (http/1.1, what both speak). A store changed on disk is read at the
    next start, as curl's users get it from a new process."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _CONTEXTS.get(key)
    if context is None:
        context = _CONTEXTS[key] = _new_tls_context()
    return context


_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def _new_tls_context() -> ssl.SSLContext:
    return _with_certifi_if_no_system_store(ssl.create_default_context())


def _with_certifi_if_no_system_store(context: ssl.SSLContext) -> ssl.SSLContext:
    paths = ssl.get_default_verify_paths()
    has_system = any(p and os.path.exists(p) for p in (paths.cafile, paths.capath))
    if not has_system:
        import certifi  # httpx's own dependency: a last resort for a system without a store

        context.load_verify_locations(certifi.where())
    return context


class _TrustAtFirstHandshake(ssl.SSLContext):
    """A verifying client context that reads the trust store at its first TLS handshake,
    for a client meant to reach plain http:// only (the simulator, a local mock on
    loopback): reading the store was 30-40 ms of CPU at every `run`'s start here for
    nothing. Should such a client reach https:// after all, it verifies all the same."""

    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            self.load_default_certs()
            _with_certifi_if_no_system_store(self)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load()
        return super().wrap_bio(*args, **kwargs)


def _needs_tls(url: str | None) -> bool:
    """Whether a client reaching `url` may make a TLS handshake at once: an https:// or
    wss:// URL, one reached through a proxy (whose own URL may be https://), or a URL not
    known (None)."""
    if url is None or urlsplit(url).scheme not in ("http", "ws"):
        return True
    return environment_proxy(url) is not None


# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED: "trust the CA"
# is the wrong fix for them (a Raspberry Pi has no clock of its own until NTP has run)
OUT_OF_DATES = {9: "is not valid yet", 10: "has expired"}


def untrusted(exc: BaseException, what: str) -> NetworkError | None:
    """The one-line error for a connection refused because the server's certificate is
    not trusted (retrying cannot help), or None when `exc` is something else."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = redact.scrub_urls(str(cause.verify_message or cause.reason or "failed"))
            if cause.verify_code in OUT_OF_DATES:  # a kiosk's clock, more often than a CA
                now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
                dates = OUT_OF_DATES[cause.verify_code]
                return NetworkError(f"the TLS certificate of {what} {dates} by this "
                                    f"machine's clock ({now}) — set the clock (timedatectl; "
                                    f"an NTP service such as systemd-timesyncd, which a "
                                    f"firewall may block); if the clock is right, the "
                                    f"certificate is wrong: a proxy's, or the server's")
            return NetworkError(f"the TLS certificate of {what} is not trusted ({reason}) — "
                                f"add its CA to the system's trust store, or name a CA file "
                                f"in SSL_CERT_FILE")
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def http_client(reaching: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client that honours the environment's proxies and the system's trust, and
    asks for the encodings `read_answer` decodes. `reaching`: the URL it is for (its
    `base_url` when given); the trust store is read now only when that needs TLS."""
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **kwargs.pop("headers", {})}
    url = reaching or kwargs.get("base_url")
    verify = tls_context() if _needs_tls(url) else _TrustAtFirstHandshake(ssl.PROTOCOL_TLS_CLIENT)
    try:
        return httpx.AsyncClient(verify=verify, trust_env=True, headers=headers, **kwargs)
    except ImportError:  # a socks:// proxy in the environment, without httpx's extra
        raise ProfileError(f"{socks_variables()} names a SOCKS proxy, which needs "
                           f"httpx[socks] and python-socks — run: "
                           f"{pip_install('httpx[socks]', 'python-socks')}, or use an HTTP "
                           f"proxy (http://host:port)") from None
    except (ValueError, httpx.InvalidURL) as exc:  # a proxy URL it cannot read (its text
        # may hold a password: the variables are named, never their values)
        if unread := unreadable_no_proxy():  # (NO_PROXY holds no password: shown)
            raise ProfileError(f"NO_PROXY: the entry {inert(unread[0], 60)} is one the HTTP "
                               f"client cannot read — write an IPv6 address without "
                               f"brackets (::1); a range is not read at all: list the hosts "
                               f"to reach directly") from None
        raise ProfileError(f"a proxy variable ({'/'.join(PROXY_VARIABLES)} or NO_PROXY) does "
                           f"not parse as a URL ({exc.__class__.__name__}) — check its host "
                           f"and port, and %-encode special characters in a user or "
                           f"password") from None


def socks_variables() -> str:
    """The proxy variables (as spelled in the environment) that name a socks:// proxy."""
    named = [name for name, value in sorted(os.environ.items())
             if name.upper() in PROXY_VARIABLES and value.strip().lower().startswith("socks")]
    return "/".join(named) or "the environment (" + "/".join(PROXY_VARIABLES) + ")"


def ws_options(url: str) -> dict[str, Any]:
    """Keyword arguments for `websockets.asyncio.client.connect` to `url`: TLS trust for
    wss://, and the proxy the REST client would take (websockets' own lookup skips
    ALL_PROXY and reads NO_PROXY otherwise)."""
    options: dict[str, Any] = {"ssl": tls_context()} if urlsplit(url).scheme == "wss" else {}
    chosen = environment_proxy(url)
    if chosen is not ...:
        options["proxy"] = chosen[1] if chosen else None
    return options
