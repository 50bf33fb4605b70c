"""A key Vapi refuses whose refusal comes while the daemon is considering a call (loop mode:
the spending guard asking Vapi about a call still open) ends the daemon then, with exit 3:
before, the refusal was kept for "after the call", and the daemon went on to its spending
pause ("waiting for tomorrow or a higher limit") and stayed there until midnight."""

from __future__ import annotations

import asyncio
import datetime
import json
from pathlib import Path

import pytest

from bridge.call import wiring
from bridge.errors import AuthError
from bridge.profile import load_profile
from bridge.service import key_check
from bridge.service.daemon import Daemon
from bridge.vapi.api import VapiApi
from tests.faults.harness import Sim, write_profile

OPEN_CALL = "0b9c3f0e-1111-4222-8333-444455556666"  # a call the last run left uncounted


@pytest.mark.timeout(60)
def test_a_refusal_that_comes_while_a_call_is_considered_exits_3_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state" / "vapi-bridge"
    state.mkdir(parents=True)
    (state / "spending-kiosk.json").write_text(json.dumps({
        "day": datetime.date.today().isoformat(), "minutes": 5, "cost": 0, "calls": 1,
        "open": [{"id": OPEN_CALL}]}))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("VAPI_API_KEY", "sk-not-the-key")
    daemons: list[Daemon] = []
    learn = wiring.learn_assistant

    async def answered_while_calling(api: VapiApi, profile: object) -> AuthError | None:
        while not daemons[0].modes.calling:  # Vapi's answer is slower than the daemon's start
            await asyncio.sleep(0.001)
        return await learn(api, profile)  # type: ignore[arg-type]

    monkeypatch.setattr(key_check.wiring, "learn_assistant", answered_while_calling)
    with Sim() as sim:
        profile = write_profile(tmp_path, sim.base_url, call={"max_daily_minutes": 1},
                                service={"mode": "loop",
                                         "control_socket": str(tmp_path / "c.sock")})

        async def main() -> str:
            daemons.append(Daemon(load_profile(str(profile))))
            try:
                await asyncio.wait_for(daemons[0].run(), 10)
            except AuthError as exc:
                return str(exc)
            except TimeoutError:
                return f"still up 10 s on: {daemons[0].state}"
            return "exit 0"

        outcome = asyncio.run(main())
    assert outcome.startswith("Vapi rejected the API key (401)"), outcome
