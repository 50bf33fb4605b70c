"""Vapi's abortive close (1006: the TCP connection dropped, no close frame) right after a
goodbye sent whole, on a kiosk whose loop reads lazily (busy, or a slow core): the goodbye
is heard whole, and the call's end is seen.

Real sockets on loopback: the simulator (`end-close=1006`, aborting once its writes have
left for the kernel) and the real `CallSocket`. The kiosk's reader starts only once the
simulator has hung up, after two uplink frames, as on a loaded kiosk that sends its 20 ms
frames before it reads what came. The first frame after Vapi's FIN drew a reset, the second
failed, and that error closed the transport with what the kernel held unread (and what
Vapi's kernel still held, behind a window the slow reader kept small, went with the reset):
3-5 s of an 8 s goodbye were lost in 2-8 of 30 calls under load; here 7.7-9 s of 10 s.
Takes ~1.5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.vapi import messages
from bridge.vapi.socket import CallSocket
from tests.faults.harness import Sim
from tests.faults.test_loop_hold import RATE, post_call

pytestmark = pytest.mark.timeout(60)
GOODBYE_S = 10  # 320 kB: past a slow reader's window, within the wide one (416 kB at
# the default rmem_max, 208 kB)


def _hung_up(sim: Sim) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        calls = sim.calls()
        if calls and calls[0]["closeCode"] == 1006:
            return calls[0]
        time.sleep(0.05)
    raise AssertionError("the simulator never dropped the connection")


async def _lazy_kiosk(url: str, sim: Sim) -> tuple[int, list[messages.Event], dict[str, Any]]:
    sock = await CallSocket.open(url, "test")
    record = await asyncio.to_thread(_hung_up, sim)
    await asyncio.sleep(0.05)  # Vapi's FIN reaches the kiosk
    for _ in range(2):  # the uplink's next two frames, before the reader gets its turn
        with contextlib.suppress(Exception):
            await sock.send(bytes(2 * RATE // 50))
        await asyncio.sleep(0.02)
    received: list[int] = []
    events: list[messages.Event] = []
    await sock.receive(lambda data, _: received.append(len(data)), events.append)
    return sum(received), events, record


def test_a_goodbye_sent_whole_then_an_abortive_close_is_heard_whole(tmp_path: Path) -> None:
    script = tmp_path / "goodbye.yaml"
    script.write_text(yaml.safe_dump([{"tone": 700, "ms": GOODBYE_S * 1000, "wait": False,
                                       "endCall": True}]))
    with Sim(assistant=f"script:{script}", downlink_speed=float("inf"),
             faults=("end-close=1006",)) as sim:
        url = post_call(sim.base_url, sim.key)["transport"]["websocketCallUrl"]  # type: ignore[index]
        got, events, record = asyncio.run(_lazy_kiosk(url, sim))
    sent = record["downlink"]["bytes"]
    print(f"\ngoodbye {sent / 2 / RATE:.2f} s sent whole, {got / 2 / RATE:.2f} s received")
    assert sent >= GOODBYE_S * RATE * 2 * 0.99, "the simulator sent the whole goodbye"
    assert got == sent, f"{(sent - got) / 2 / RATE:.2f} s of the {sent / 2 / RATE:.1f} s " \
        f"goodbye lost to the abortive close"
    assert any(isinstance(e, messages.StatusUpdate) and e.status == "ended" for e in events), \
        "the call's end (status-update ended) was seen"
