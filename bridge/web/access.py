"""Who may use the HTTP server, and how a button press proves it came from the page.

- Bound to loopback without a token: only requests naming a loopback host (`Host:
  127.0.0.1:8080`, `localhost:8080`, `[::1]:8080`) are served, so a web page elsewhere that
  points its own name at 127.0.0.1 (DNS rebinding) is refused.
- With a token (`http.token_env`; required off loopback): every request carries it, as
  `Authorization: Bearer TOKEN` or the cookie set when a browser opens `/?token=TOKEN`
  once (HttpOnly, SameSite=Strict, Secure when reached by https, its path the directory
  the browser asked for; the answer redirects, by a relative URL, to the same page without
  the token in its address). A refusal for want of it is a 401 with `WWW-Authenticate: Bearer
  realm="vapi-bridge"`.
- A POST (the Call and End buttons) must be JSON (`Content-Type: application/json`) and
  carry the header `X-Vapi-Bridge: 1`, which a cross-site page cannot send without a CORS
  preflight this server never grants; an `Origin` naming another host or port (its scheme
  aside: behind a TLS proxy the page is https://), or a `Sec-Fetch-Site` other than
  same-origin, is refused.
- Refusals are logged throttled (`guard`), with the client's address.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlencode, urlsplit

from aiohttp import web

from bridge.inert import inert
from bridge.vapi.plaintext import is_loopback_host
from bridge.web.guard import Guard, Throttle

log = logging.getLogger("bridge.web")

COOKIE = "vapi_bridge_token"
CSRF_HEADER = "X-Vapi-Bridge"
COOKIE_MAX_AGE = 400 * 86400  # browsers cap a cookie's life at 400 days
PAGES = ("/", "/state", "/events", "/metrics")  # where `?token=` may redirect
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_name(header: str) -> str:
    """The name in a Host header (`127.0.0.1:8080`, `[::1]:8080`, `localhost`), read by
    hand: aiohttp 3.9's `request.url` fails on a Host with a port under newer yarl."""
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else ""
    return header.rpartition(":")[0] if ":" in header else header


def back_to(path: str) -> str:
    """Where `?token=` on `path` redirects: that page, or else the screen, as a URL relative
    to it (behind a proxy's sub-path, `/kiosk1/` → this server's `/`, the browser's path is
    not this server's), never another site's (`//evil.example/` stays here)."""
    if path in PAGES and path != "/":
        return path[1:]
    return "../" * (path.count("/") - 1) or "./"


def https(request: web.Request) -> bool:
    """The browser reached this server by https: directly, or through a proxy that says so
    (`X-Forwarded-Proto: https`, `Forwarded: proto=https`: its first hop, the browser's)."""
    if request.secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    with contextlib.suppress(ValueError, IndexError):
        proto = proto or str(request.forwarded[0].get("proto", "")).lower()
    return proto == "https"


REALM = 'Bearer realm="vapi-bridge"'  # a 401's WWW-Authenticate (RFC 9110 §15.5.2)


def _refuse(status: int, why: str) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:  # says how to authenticate: the token as a Bearer one
        headers["WWW-Authenticate"] = REALM
    return web.json_response({"ok": False, "error": why}, status=status, headers=headers)


def cookie_name(port: int) -> str:
    """The token's cookie for the server on `port`: a browser keeps one cookie jar per host
    name, whatever the port, so two kiosks on one box with one name each overwrote the
    other's (the page then said "wrong token" to the visitor)."""
    return f"{COOKIE}_{port}"


class Access:
    def __init__(self, token: str | None, guard: Guard | None = None,
                 cookie: str = COOKIE) -> None:
        self.token = token
        self.cookie = cookie
        self.guard = guard
        self.throttle = guard.throttle if guard is not None else Throttle()

    def _matches(self, given: str | None) -> bool:
        # a header's bytes that are no UTF-8 come as surrogates: compared, never a 500
        return bool(given) and self.token is not None and hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"),  # type: ignore[union-attr]
            self.token.encode())

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._matches(given.strip()):
            return True
        return self._matches(request.cookies.get(self.cookie)) or self._matches(
            request.cookies.get(COOKIE))  # (the one name of before: a screen still has it)

    def refusal(self, request: web.Request) -> web.StreamResponse | None:
        """None when the request may be served, else the answer refusing it (or the redirect
        that turns `?token=` into a cookie)."""
        if self.token is None:
            if not is_loopback_host(host_name(request.host)):
                return _refuse(403, "this server answers only to a loopback host name "
                                    "(127.0.0.1, localhost, [::1])")
        elif "token" in request.query:
            if not self._matches(_query_token(request)):
                return _refuse(401, "wrong token")
            query = {k: v for k, v in request.query.items() if k != "token"}
            redirect = web.Response(status=303, headers={
                "Location": back_to(request.path) + (f"?{urlencode(query)}" if query else ""),
                "Cache-Control": "no-store"})
            # no Path: the browser scopes it to the directory it asked for, so kiosks behind
            # one proxy host (`/kiosk1/`, `/kiosk2/`) keep theirs apart; Secure when the
            # browser came by https (a TLS proxy says so), which keeps it off plain http
            redirect.set_cookie(self.cookie, self.token, max_age=COOKIE_MAX_AGE, httponly=True,
                                samesite="Strict", path="", secure=https(request) or None)
            return redirect
        elif not self._authorized(request):
            offered = request.headers.get("Authorization") or request.cookies.get(self.cookie)
            return _refuse(401, ("wrong token: " if offered else "a token is required: ")
                           + "Authorization: Bearer TOKEN, or open /?token=TOKEN once")
        if request.method == "POST":
            return self._post_refusal(request)
        return None

    @staticmethod
    def _post_refusal(request: web.Request) -> web.Response | None:
        if request.content_type != "application/json":
            return _refuse(415, "a POST must be application/json")
        if request.headers.get(CSRF_HEADER) != "1":
            return _refuse(403, f"a POST must carry the header {CSRF_HEADER}: 1")
        origin = request.headers.get("Origin")
        if origin is not None and not _same_host(origin, request.host):
            return _refuse(403, "cross-origin requests are refused")
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return _refuse(403, "cross-site requests are refused")
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.guard is not None:
            self.guard.served(request)
        refusal = self.refusal(request)
        if refusal is not None:
            if refusal.status >= 400:
                self.throttle.log(logging.INFO, "refused", "http: refused %s %s (%d) from %s",
                                  inert(request.method, 10), inert(request.path, 200),
                                  refusal.status, inert(request.remote or "?", 60))
            return refusal
        return await handler(request)


def _query_token(request: web.Request) -> str:
    """`?token=` as typed: percent-decoded, a `+` kept (a base64 token has them; form
    decoding, as `request.query` does, would read each as a space)."""
    for part in request.rel_url.raw_query_string.split("&"):
        name, _, value = part.partition("=")
        if name == "token":
            return unquote(value)
    return ""


def _same_host(origin: str, host: str) -> bool:
    """An `Origin` naming this server's host and port, a port left out being the origin
    scheme's default (a TLS proxy may send `Host: name:443` for `https://name`). The scheme
    itself is not compared: behind a TLS proxy the page is https:// while this server sees
    http://."""
    try:
        page, here = urlsplit(origin), urlsplit(f"//{host}")
        default = 443 if page.scheme == "https" else 80
        return (page.scheme in ("http", "https") and page.hostname is not None
                and page.hostname == here.hostname
                and (page.port or default) == (here.port or default))
    except ValueError:  # `http://[::1`, a port out of range: no origin at all
        return False
