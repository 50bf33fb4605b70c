"""A visitor pressing the button while Vapi answers 429 or 5xx waits for the call's create at
most `api.create_within_seconds` (then the kiosk says the service is not available), not
for every retry the profile allows: with the defaults a 429 was retried after 10-20 s, then
20-30 s, and a visitor stood before "calling" for 25-110 s. A create that may have
landed (a 5xx after Vapi made the call) is still looked for, so the bound bills nothing
twice. Through `vapi-bridge run` against the simulator over loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import ProfileBuilder, run_bridge

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
    assert re.search(r"kept failing \(the call\): .* after \d attempts in \d+ s "
                     r"\(api\.create_within_seconds\) — the fault is on Vapi's side", last), last


def test_a_create_that_landed_is_still_found_when_the_bound_cuts_the_retries(
        start_sim, profiles: ProfileBuilder) -> None:
    """Every POST creates the call and answers 500: the one attempt the bound leaves is
    looked for, found and used — one call, connected, not a second one nor none."""
    sim = start_sim(assistant="echo", faults=("created-500",))
    result = run_bridge("run", "--profile", str(profile(profiles, sim.base_url, 1)))
    assert result.returncode == 0, result.stderr
    assert "but Vapi had created the call: using it" in result.stderr
    calls = sim.calls()
    assert len(calls) == 1 and calls[0]["uplink"]["frames"] > 0, calls
