"""Steering a running daemon: its control socket, both ends.

- `host`: what the socket needs of the daemon (`Host`: its call, request a call, a
  snapshot) — the daemon implements it; nothing here imports the service layer.
- `paths`: where the socket lives (profile, `$RUNTIME_DIRECTORY`, `$XDG_RUNTIME_DIR`, /tmp).
- `server`: the Unix socket the daemon owns (0600, peer uid checked, one JSON per line).
- `commands`: one request → one action on the host or its call.
- `status`: the `status` answer's call part, and its lines for people (`ctl` renders them).
- `sender`: a Vapi command over the call socket or as a POST to the call's controlUrl.
- `client`: the `vapi-bridge ctl` side of the socket.
"""
