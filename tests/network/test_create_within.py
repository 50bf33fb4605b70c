"""A visitor pressing the button while Vapi answers 429 or 5xx waits for the call's create at
most `api.create_within_seconds` (then the kiosk says the service is not available), not
for every retry the profile allows: with the defaults a 429 was retried after 10-20 s, then
20-30 s, and a visitor stood before "calling" for 25-110 s. A create that may have
landed (a 5xx after Vapi made the call) is still looked for, so the bound bills nothing
twice. Through `vapi-bridge run`, and the API client, against the simulator over
loopback."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from bridge.retry import RetryPolicy
from bridge.sim import SimConfig, run_in_thread
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo
from tests.e2e.conftest import KEY, ProfileBuilder, run_bridge

RETRIES = 5


def profile(profiles: ProfileBuilder, base_url: str, within: float) -> Path:
    # a 429 or 5xx would be retried after 1-2 s each: 5 attempts over 5-8 s
    return profiles.write(base_url, api={"retry_attempts": RETRIES,
                                         "retry_max_delay_seconds": 2,
                                         "create_within_seconds": within},
                          call={"max_duration_seconds": 10})


@pytest.mark.parametrize("fault", ["http-429", "http-500"])
def test_a_failing_vapi_is_given_up_on_within_the_bound(
        start_sim, profiles: ProfileBuilder, fault: str) -> None:
    sim = start_sim(assistant="echo", faults=(fault,))
    result = run_bridge("run", "--profile", str(profile(profiles, sim.base_url, 2.5)))
    assert result.returncode == 5, result.stderr
    retried = re.findall(r"POST /call: .*retrying", result.stderr)
    assert 1 <= len(retried) < RETRIES - 1, result.stderr  # cut short: not all 5 attempts
    last = result.stderr.strip().splitlines()[-1]
    assert re.search(r"kept failing to create the call: .* after \d attempts in \d+ s "
                     r"\(api\.create_within_seconds\) — the fault is on Vapi's side", last), last


def test_a_create_that_landed_is_still_found_when_the_bound_cuts_the_retries() -> None:
    """Every POST creates the call and answers 500: the one attempt the bound leaves is
    looked for, found and used — one call, not a second one nor none. The bridge's own
    API client against a simulator in a thread."""
    body = {"assistantId": "echo", "name": "front-desk",
            "transport": {"provider": "vapi.websocket",
                          "audioFormat": {"format": "pcm_s16le", "container": "raw",
                                          "sampleRate": 16000}}}

    async def create(base_url: str) -> CallInfo:
        async with VapiApi(base_url, KEY, retry=RetryPolicy(attempts=RETRIES, base_delay=2,
                                                            max_delay=2, jitter=False),
                           create_within=1.0) as api:
            return await api.create_call(body, fault="created-500")

    with run_in_thread(SimConfig(port=0, api_key=KEY)) as sim:
        info = asyncio.run(create(sim.base_url))
        listed = httpx.get(f"{sim.base_url}/call", params={"limit": 100},
                           headers={"Authorization": f"Bearer {KEY}"}).json()
    assert [c["id"] for c in listed] == [info.id], "one call, and the one used"
