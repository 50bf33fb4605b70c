"""A transfer to a destination that does not take the call (the simulator's
`transfer-fails` fault: `transfer-update`, then Vapi ends the call with its reason, as its
default fallbackPlan does). `ctl transfer` is answered before the transfer is tried
("requested": Vapi takes a transfer without a word back); what became of it is said once
the call is over, by the call's summary (the daemon's as `open_call`'s, here: the same
`Call`), in the log.

The simulator over loopback, the call in this process (a daemon and its `ctl`s cost 2.8 s
of CPU for the same lines)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge.client import open_call
from bridge.errors import ExitCode
from tests.e2e.conftest import KEY, ProfileBuilder


@pytest.mark.parametrize(("fault", "destination", "reason", "said"), [
    ("transfer-fails", "+1 (555) 123-4567", "call.in-progress.error-transfer-failed",
     "the transfer to number +15551234567 failed (call.in-progress.error-transfer-failed): "
     "Vapi could not transfer the call: check that the destination is right and reachable"),
    ("transfer-fails=call.forwarding.operator-busy", "sip:desk@pbx.example.com",
     "call.forwarding.operator-busy", "the transfer to sip:desk@pbx.example.com failed "
     "(call.forwarding.operator-busy): the destination was busy"),
    ("transfer-fails=call.forwarding.no-answer", "+1 (555) 123-4567",
     "call.forwarding.no-answer", "the transfer to number +15551234567 failed "
     "(call.forwarding.no-answer): the destination did not answer"),
    ("transfer-fails=call.in-progress.error-sip-outbound-call-failed-to-connect",
     "sip:desk@pbx.example.com", "call.in-progress.error-sip-outbound-call-failed-to-connect",
     "the transfer to sip:desk@pbx.example.com failed (call.in-progress.error-sip-outbound-"
     "call-failed-to-connect): Vapi could not connect the SIP call to the destination"),
    ("transfer-fails=call.in-progress.error-providerfault-outbound-sip-480-temporarily-"
     "unavailable", "sip:desk@pbx.example.com",
     "call.in-progress.error-providerfault-outbound-sip-480-temporarily-unavailable",
     "the transfer to sip:desk@pbx.example.com failed (call.in-progress.error-providerfault-"
     "outbound-sip-480-temporarily-unavailable): the SIP destination answered 480 "
     "temporarily unavailable: check the SIP trunk and the destination"),
])
def test_a_transfer_that_fails_is_named_as_one(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, fault: str, destination: str, reason: str,
        said: str) -> None:
    """`call.in-progress.error-transfer-failed` starts like a provider's failure, and was
    said as one: "the call failed on Vapi's side …: a provider's key, quota or outage, the
    assistant's configuration", sending the operator to the assistant's settings rather
    than the number they gave (a SIP destination's refusal too); a busy destination was
    not said at all. Now the warning
    names the transfer, where it went, Vapi's reason, and what Vapi's docs say of it."""
    sim = start_sim(assistant="echo", faults=(fault,))
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url, call={"max_duration_seconds": 20})

    async def scenario() -> tuple[str, ExitCode]:
        async with open_call(str(profile)) as call:
            assert await call.transfer(destination) == "socket"
            async for _ in call.events():  # until Vapi ends the call
                pass
        assert call.summary is not None
        return call.summary.ended_reason, call.summary.exit_code

    with caplog.at_level(logging.INFO, logger="bridge"):
        ended, code = asyncio.run(scenario())
    assert ended == reason
    # no failure of Vapi or the link (exit 5, `loop` backing off) but a SIP refusal's, whose
    # reason says a transfer only when one is under way, which the outcome does not know
    assert code == (ExitCode.NETWORK if "outbound-sip-" in reason or "sip-outbound-" in reason
                    else ExitCode.OK), code
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(said in line for line in warnings), warnings
    assert not any("provider's key" in line for line in warnings), warnings

