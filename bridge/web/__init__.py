"""The kiosk's local HTTP server (issue #15): the captions page, `/events`, `/metrics`.
Beside the control socket: it sees the daemon as a `bridge.control.commands.Host`."""
