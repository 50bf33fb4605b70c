"""Steering a running daemon: its control socket, the `ctl` client, and Vapi live control.

- `paths`: where the socket lives (profile, `$RUNTIME_DIRECTORY`, `$XDG_RUNTIME_DIR`, /tmp).
- `server`: the Unix socket the daemon owns (0600, peer uid checked, one JSON per line).
- `commands`: one request → one action on the daemon or its call.
- `sender`: a Vapi command over the call socket or as a POST to the call's controlUrl.
- `client` / `ctl`: the `vapi-bridge ctl` side.
- `verify`: which listen channel is which, from what the daemon sent and received.
"""

from __future__ import annotations

from bridge.errors import BridgeError, ExitCode


class Refused(BridgeError):
    """The daemon or Vapi refused a command (no call in progress, 4xx from controlUrl)."""

    exit_code = ExitCode.FAILURE


class NoDaemon(BridgeError):
    """Nothing answers on the control socket."""

    exit_code = ExitCode.NETWORK
