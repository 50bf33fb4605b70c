"""Loop mode at the spending limit, as a screen, `ctl events`, /metrics and the control
socket's commands see it: the daemon in this process, the simulator in a thread, the limit
reached before the first call (`max_daily_minutes: 0`), so no call is placed and nothing
waits on a clock (about 1 s)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge import events
from bridge.control.commands import handle
from bridge.profile import load_profile
from bridge.service.daemon import Daemon
from bridge.web.metrics import KioskMetrics
from tests.e2e.conftest import KEY, ProfileBuilder


@pytest.mark.timeout(30)
def test_loop_mode_held_back_by_the_limit_is_paused_not_triggered(
        start_sim, profiles: ProfileBuilder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The kiosk's state stayed `triggered` (a call on its way) until the limit lifted,
    at midnight: `ctl events` began with it, `vapi_bridge_state` read it, and a screen
    opened later was given it with the refusal's words for the operator. It is `paused`
    now, the cause with it, as standby's state line names the limit. And an operator's
    command for a call (`ctl say`, `ctl call`) is told why none comes, where it was told
    "no call in progress" and "the daemon is in loop mode, not standby", no more."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    sim = start_sim(assistant="echo")
    path = profiles.write(sim.base_url, call={"max_daily_minutes": 0},
                          service={"mode": "loop", "loop_delay_seconds": 0.2})

    async def paused() -> tuple[list[str], list[events.KioskEvent | None], dict[str, float],
                                str, list[object]]:
        daemon = Daemon(load_profile(str(path)))
        metrics = KioskMetrics(daemon)
        daemon.events.listen(metrics.on_event)
        kinds: list[str] = []
        daemon.events.listen(lambda e: kinds.append(e.kind))
        task = asyncio.create_task(daemon.run())
        async with asyncio.timeout(15):  # (its state line, then its event: at once)
            while not daemon.state.startswith("spending limit"):
                await asyncio.sleep(0.01)
        replays = []
        for lines in (False, True):  # `ctl events`; the kiosk screen's stream
            with daemon.events.subscribe(lines=lines) as sub:
                replays.append(sub.get_nowait())
                assert sub.get_nowait() is None, "the refusal's words are the operator's"
        text = metrics.exposition()[0].decode()
        state = {s.labels["vapi_bridge_state"]: s.value
                 for family in text_string_to_metric_families(text)
                 for s in family.samples if s.name == "vapi_bridge_state"}
        seen, line = list(kinds), daemon.snapshot()["state"]
        refusals = [(await handle(daemon, {"cmd": "say", "text": "Hello?"})).get("error"),
                    daemon.request_call("ctl")]
        daemon.stopping.set()
        assert await task == 0
        return seen, replays, state, line, refusals

    kinds, replays, state, line, refusals = asyncio.run(paused())
    assert kinds[-3:] == ["triggered", "error", "paused"], kinds
    for event in replays:
        assert event is not None and event.kind == "paused", event
        assert event.fields == {"cause": "spending-limit"}
    assert state["paused"] == 1 and state["triggered"] == 0, state
    assert line == "spending limit reached: waiting for tomorrow or a higher limit"
    assert refusals == [
        "no call in progress — none can start now: spending limit reached: today's calls "
        "have lasted 0.00 min, at or over call.max_daily_minutes (0)",
        "the daemon is in loop mode, not standby: it places its calls on its own; for calls "
        "on request set service.mode: standby in its profile and reload the daemon"]
    assert sim.calls() == []
