"""Steering a running daemon: its control socket, both ends.

- `paths`: where the socket lives (profile, `$RUNTIME_DIRECTORY`, `$XDG_RUNTIME_DIR`, /tmp).
- `server`: the Unix socket the daemon owns (0600, peer uid checked, one JSON per line).
- `commands`: one request → one action on the daemon or its call.
- `client`: the `vapi-bridge ctl` side of the socket.
"""
