"""`serve_http`: the daemon's hook (as the control socket's) running the HTTP server for
the daemon's life when `http.listen` is set. The token is read here, once, at start."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bridge.errors import ProfileError, UsageError
from bridge.extras import missing_extra
from bridge.profile import Profile
from bridge.profile.kiosk import HttpSettings
from bridge.web.host import WebHost

if TYPE_CHECKING:  # aiohttp: the [http] extra
    from bridge.web.server import WebServer

MIN_TOKEN = 16


def read_token(settings: HttpSettings) -> str | None:
    """The access token from the environment variable `http.token_env` names, or None."""
    if not settings.token_env:
        return None
    token = os.environ.get(settings.token_env, "").strip()
    if len(token) < MIN_TOKEN:
        what = "is not set" if not token else f"holds fewer than {MIN_TOKEN} characters"
        raise ProfileError(f"http.token_env: the environment variable {settings.token_env} "
                           f"{what} — set it to a long random token (openssl rand -hex 32)")
    return token


def _server() -> type[WebServer]:
    try:
        from bridge.web.server import WebServer
    except ImportError as exc:
        raise UsageError(missing_extra("http", "http.listen (the kiosk screen and metrics)",
                                       exc.name)) from None
    return WebServer


def require_http(profile: Profile) -> None:
    """What `serve_http` would refuse (the [http] extra missing, the token), said by `run`
    before the daemon opens, binds or logs anything: before, the control socket was bound
    and logged, the devices opened, and then the daemon exited 2."""
    if profile.http.listen:
        read_token(profile.http)
        _server()


@contextlib.asynccontextmanager
async def serve_http(host: WebHost, profile: Profile) -> AsyncIterator[object]:
    """Serve the kiosk screen, /events and /metrics for the duration of the block (nothing
    when `http.listen` is null)."""
    settings = profile.http
    if not settings.listen:
        yield None
        return
    token = read_token(settings)
    server = _server()(host, settings.listen, token)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
