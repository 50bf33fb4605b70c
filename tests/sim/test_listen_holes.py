"""The listen mix's record of where it left the customer silent: taken out, what a listener
got on the customer channel is the uplink, sample for sample (tests/control/test_listen.py
compares a real listen that way)."""

from __future__ import annotations

import asyncio

import numpy as np

from bridge.sim.listenmix import ListenHub
from tests.sim.listen_mix import assert_heard_to_the_end, in_holes

FRAME = 320  # 20 ms at 16 kHz


def test_holes_taken_out_leave_the_uplink_whole() -> None:
    hub = ListenHub(16000)
    ramp = (np.arange(16000 * 4) % 30000 + 1).astype(np.int16)  # never 0: names its place
    sent = 0
    q: asyncio.Queue[bytes | None] | None = None
    for tick in range(200):  # 4 s of 20 ms ticks, the downlink on time
        if tick == 25:
            q = hub.add()  # a listener joins 0.5 s in
        hub.push_downlink(np.full(FRAME, 7, dtype=np.int16))
        # the uplink: on time, then nothing for 300 ms (its sender stalled, its schedule
        # restarted: that time is never sent), then another 20 ms never sent now and then,
        # and frames 20 ms late, caught up by the next
        if 50 <= tick < 65 or (tick > 65 and tick % 20 in (0, 7)):
            continue
        frames = 2 if tick > 65 and tick % 20 == 8 else 1
        hub.push_uplink(ramp[sent:sent + frames * FRAME])
        sent += frames * FRAME
    hub.close()
    assert q is not None
    chunks = []
    while (data := q.get_nowait()) is not None:
        chunks.append(np.frombuffer(data, "<i2").reshape(-1, 2))
    customer = np.concatenate(chunks)[:, 0]
    assert len(hub.holes) > 5 and hub.joined == [24 * FRAME], hub.holes
    assert_heard_to_the_end(len(customer), {"emitted": hub.emitted, "joined": hub.joined},
                            16000)
    hole, _ = in_holes(len(customer), hub.holes, hub.joined[0])
    got = customer[~hole]
    start = int(np.argmax(ramp == got[0]))
    assert np.array_equal(got, ramp[start:start + len(got)]), "the uplink, in order, whole"
    assert not customer[hole].any(), "a hole is silence"
    assert start + len(got) == sent, "to its last sample"
