"""What the call socket asks of its TCP connection, so that an abortive close by Vapi (1006:
the connection dropped, no close frame, right after `status-update ended`) costs the kiosk
none of what Vapi sent before it: a goodbye sent whole, seconds ahead of real time.

- `receive_buffer`: the socket's receive buffer is `RECEIVE_BUFFER` (asked; the kernel
  doubles it, capped by `net.core.rmem_max`): a bound on what the kernel holds for the
  kiosk, below autotuning's own (`tcp_rmem`'s maximum, 6 MiB or more), and wide enough
  that a reply sent whole leaves Vapi's kernel at once, not as a slow reader opens the
  window. What Vapi's kernel still held at its close went with the reset that the kiosk's
  uplink frames, already on their way, drew from the closed socket.
- `PeerShut`: whether Vapi has closed its side (its FIN, or a reset), one `poll` of the
  socket, ~1 µs: a frame sent after Vapi's FIN drew a reset, the next one failed, and that
  error closed the transport with what the kernel still held unread (both cost 2-8 of 30
  calls 3-5 s of an 8 s goodbye under load). Nothing is sent then; the reader takes what
  is left, then the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket

RECEIVE_BUFFER = 2**20  # bytes asked for SO_RCVBUF
_SHUT = getattr(select, "POLLRDHUP", 0)  # Linux: the peer's FIN (0 elsewhere: not told)


def _socket(transport: asyncio.BaseTransport | None) -> socket.socket | None:
    return transport.get_extra_info("socket") if transport is not None else None


def receive_buffer(transport: asyncio.BaseTransport | None) -> None:
    sock = _socket(transport)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


class PeerShut:
    """Whether the peer has closed its side of the connection (FIN or reset; a hang-up or an
    error): always False where that cannot be told (not Linux, no socket)."""

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        sock = _socket(transport)
        self._poll = select.poll() if _SHUT and sock is not None else None
        if self._poll is not None and sock is not None:
            self._poll.register(sock.fileno(), _SHUT)  # POLLHUP, POLLERR: always reported

    def __call__(self) -> bool:
        return self._poll is not None and bool(self._poll.poll(0))
