"""The kiosk's local HTTP server (issue #15): the captions page, `/events`, `/metrics`.
Beside the control socket: it sees the daemon as a `bridge.web.host.WebHost` (the control
socket's `Host`, and the last call's summary for the metrics).

Off unless `http.listen` is set; aiohttp and prometheus-client come with the [http] extra.
"""

from bridge.web.hook import require_http, serve_http

__all__ = ["require_http", "serve_http"]
