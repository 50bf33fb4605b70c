"""The summary's look at a call whose end Vapi never had (`ctl end` on a dead socket: the
end-call went nowhere) while Vapi still runs it, and whose controlUrl does not take the end
either. The cost Vapi gives then is the call's cost so far: taken as its cost, the ended
event carried it, the day's totals counted the call as settled and took it off their open
list, and the spending settler (which `ctl end` said would ask again and end it) never
looked at it again; Vapi billed it until maxDurationSeconds. Now no cost is taken from a
call that goes on: the totals keep it open for the settler, which reads the real one.
The bridge's own API client against a simulator in a thread, the call's socket connected
(in progress at Vapi); ~1 s."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect

from bridge.call.state import DAEMON_FOLLOW_UP
from bridge.call.summary import read_outcome
from bridge.sim import SimConfig, SimHandle, run_in_thread
from bridge.vapi.api import VapiApi
from tests.network.test_create_once import BODY, KEY, QUICK


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    with run_in_thread(SimConfig(port=0, api_key=KEY)) as handle:
        yield handle


def test_a_call_vapi_still_runs_is_not_counted_at_its_cost_so_far(sim: SimHandle) -> None:
    async def go() -> tuple[tuple[str, float | None, bool], list[str]]:
        async with VapiApi(sim.base_url, KEY, timeout=2, retry=QUICK) as api:
            info = await api.create_call(dict(BODY))
            asked: list[str] = []

            async def end_lost() -> bool:  # the controlUrl did not take the end
                asked.append("end")
                return False

            async with connect(info.websocket_url):  # the call in progress at Vapi
                return await read_outcome(api, info, "ended", "t", DAEMON_FOLLOW_UP,
                                          end_lost), asked

    (reason, cost, left), asked = asyncio.run(go())
    assert asked == ["end"] and left, "Vapi said it goes on: asked to end, and left open"
    assert cost is None, f"a call going on was counted at its cost so far: ${cost}"
    assert reason == "ended"
