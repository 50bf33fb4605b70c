"""Steering a running daemon: its control socket, both ends.

- `paths`: where the socket lives (profile, `$RUNTIME_DIRECTORY`, `$XDG_RUNTIME_DIR`, /tmp).
- `server`: the Unix socket the daemon owns (0600, peer uid checked, one JSON per line),
  answering each request with the function it is given.
- `peers`: another daemon's socket (is one live, its `status`, the `ctl` it answers).
- `request`: the protocol's shapes (a request's arguments, the error answer).
- `commands`: one request → one action on the daemon or its call; the daemon is seen only
  as a `Host` (its call, request a call, a snapshot) — nothing here imports the service
  layer.
- `status`: the `status` answer in lines for people (rendered by `ctl`).
- `client`: the `vapi-bridge ctl` side of the socket.
"""
