"""A command by the controlUrl (`ctl say`, a mute, `transfer`, `handoff`) is answered
before `ctl` stops waiting, however slow the controlUrl: the daemon's answer comes within
`ANSWER_WITHIN_S`, and says Vapi may or may not have taken it. Before, a POST could take 3
times `api.timeout_seconds` (plus the controlUrl's lookup, retried): with `timeout_seconds:
40` and a controlUrl answering 35 s late, `ctl say` said after 30 s "the daemon did not
answer" (exit 5) and the say was spoken 5 s later."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from bridge.client import open_call
from bridge.control.client import DEFAULT_TIMEOUT_S
from bridge.errors import NetworkError
from bridge.profile.sections import ApiSettings
from bridge.vapi import commands
from bridge.vapi.net import DEADLINE_FACTOR
from tests.e2e.conftest import KEY, ProfileBuilder

BOUND_S = 1.0  # the daemon's bound, short here; the controlUrl answers later than it
SLOW_MS = 4000


def test_the_daemons_answer_comes_before_ctl_stops_waiting() -> None:
    spec = next(f for f in dataclasses.fields(ApiSettings)
                if f.name == "timeout_seconds").metadata["spec"]
    assert DEADLINE_FACTOR * spec.hi > DEFAULT_TIMEOUT_S  # a POST alone could outlast ctl
    # the bound, its last half second (`post_control`) and a loaded machine's slack
    assert commands.ANSWER_WITHIN_S + 0.5 + 3 <= DEFAULT_TIMEOUT_S


def test_a_slow_control_url_is_answered_within_the_bound(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = start_sim(assistant="echo", faults=(f"control-slow={SLOW_MS}",))
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    monkeypatch.setattr(commands, "ANSWER_WITHIN_S", BOUND_S, raising=False)
    profile = profiles.write(sim.base_url, api={"timeout_seconds": 10},
                             call={"commands_via": "control-url", "max_duration_seconds": 30})

    async def scenario() -> tuple[float, str]:
        async with open_call(str(profile)) as call:
            start = time.monotonic()
            try:
                await call.say("One moment, please.")
            except NetworkError as exc:
                return time.monotonic() - start, str(exc)
            return time.monotonic() - start, "accepted"

    took, said = asyncio.run(scenario())
    print(f"\nanswered after {took:.2f} s: {said}")
    assert "may or may not have taken it" in said, said
    # (the words alone tell the bound cut it: a say the controlUrl took is "accepted"; the
    # time only that the answer came before the controlUrl's, with a busy machine's slack)
    assert took < SLOW_MS / 1000, took
