"""Binary frames read off the call socket in one go reach the downlink joined
(`bridge.vapi.socket`), but the playout target still sizes itself by the longest frame
Vapi sent, not by what one read joined: a reply whose first 300 ms came back to back (a
network hiccup's catch-up, Vapi's "occasional back-to-back bursts") was held back to the
playout cap (200 ms) instead of ~120 ms, for the jitter window's 8 s.

A real websocket server on loopback sends six 50 ms frames before the client reads any
(so one read brings them all); the real `CallSocket` hands them to the real `Downlink`."""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import ServerConnection, serve

from bridge.audio.codec import PcmS16leCodec
from bridge.audio.files import ClockedSink
from bridge.call.downlink import FIRST_FLOOR_MS, Downlink
from bridge.vapi.socket import CallSocket

RATE = 16000
FRAME = b"\x01\x00" * (RATE // 20)  # 50 ms of pcm_s16le, Vapi's usual chunk [seen]


def test_frames_joined_by_one_read_do_not_raise_the_playout_target() -> None:
    async def main() -> tuple[float, int]:
        sent = asyncio.Event()

        async def vapi(ws: ServerConnection) -> None:
            for _ in range(6):
                await ws.send(FRAME)
            sent.set()
            await ws.wait_closed()

        chunks: list[int] = []
        async with serve(vapi, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            sock = await CallSocket.open(f"ws://127.0.0.1:{port}/call", "test")
            down = Downlink(PcmS16leCodec(), RATE, ClockedSink(RATE))

            def on_audio(*args: bytes | int) -> None:
                chunks.append(len(args[0]))  # type: ignore[arg-type]
                down.on_audio(*args)  # type: ignore[arg-type]

            await asyncio.wait_for(sent.wait(), 5)
            await asyncio.sleep(0.2)  # all six in the client's buffer: one read
            receiving = asyncio.create_task(sock.receive(on_audio, lambda _: None))
            await asyncio.sleep(0.2)
            await sock.close()
            await asyncio.wait_for(receiving, 5)
        return down.target_ms, len(chunks)

    target, handed = asyncio.run(main())
    assert handed == 1, "the six frames were read in one go and handed over joined"
    # the lateness kept covered before the window fills, one 50 ms frame, one 20 ms block
    assert target <= FIRST_FLOOR_MS + 50 + 20 + 5, f"playout target {target:.0f} ms"
