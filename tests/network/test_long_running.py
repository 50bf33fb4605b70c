"""Long-running daemons: a SIGHUP reload that changes `api.base_url` and the key sends the
next call to the new server with the new key; ending a call leaves no waiter behind."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.call.lifecycle import Call
from bridge.call.wiring import close_audio, make_api, start_audio
from bridge.profile import load_profile
from tests.faults.harness import KEY, Daemon, Sim, assert_clean, case_dir, write_profile

pytestmark = pytest.mark.timeout(120)


def wait(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def ended(sim: Sim, count: int) -> bool:
    calls = sim.calls()
    return len(calls) >= count and all(c["status"] == "ended" for c in calls)


def test_reload_to_another_server_and_key_moves_the_next_call() -> None:
    with Sim() as first, Sim(api_key="second-server-key") as second, case_dir() as d:
        profile = write_profile(d, first.base_url, service={"mode": "standby"})
        daemon = Daemon(profile, d, SECOND_KEY="second-server-key")
        try:
            daemon.notify.wait_for("READY=1")
            daemon.send(signal.SIGUSR1)
            wait(lambda: ended(first, 1), "the first call, on the first server")
            write_profile(d, second.base_url, service={"mode": "standby"},
                          api={"key_env": "SECOND_KEY", "timeout_seconds": 7})
            daemon.send(signal.SIGHUP)
            daemon.wait_err("profile reloaded")
            daemon.notify.wait_for("READY=1", count=2)
            daemon.send(signal.SIGUSR1)
            wait(lambda: ended(second, 1), "the next call, on the second server")
            result = daemon.stop()
        finally:
            daemon.close()
        assert len(first.calls()) == 1, "nothing more went to the old server"
        assert len(second.calls()) == 1
    assert_clean(result)
    assert result.code == 0, result.err
    # (not "401" alone: a short call id, 8 hex digits, may hold it: "call 2b747401 created")
    assert "(401)" not in result.err and "rejected the API key" not in result.err, \
        "the second server's key was used"


def test_reload_with_a_missing_key_keeps_the_old_client() -> None:
    with Sim() as first, case_dir() as d:
        profile = write_profile(d, first.base_url, service={"mode": "standby"})
        daemon = Daemon(profile, d)
        try:
            daemon.notify.wait_for("READY=1")
            write_profile(d, first.base_url, service={"mode": "standby"},
                          api={"key_env": "NO_SUCH_KEY_VARIABLE"})
            daemon.send(signal.SIGHUP)
            daemon.wait_err("reload failed, keeping the old profile: no Vapi API key")
            daemon.send(signal.SIGUSR1)
            wait(lambda: ended(first, 1), "a call with the old profile and key")
            result = daemon.stop()
        finally:
            daemon.close()
    assert_clean(result)
    assert result.code == 0, result.err


@pytest.mark.parametrize("fault", [None, "ws-drop=0.3@30"])  # answered; never answered
def test_ending_a_call_leaves_no_waiter_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                fault: str | None) -> None:
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    with Sim() as sim:
        path = write_profile(tmp_path, sim.base_url, call={"end_timeout_seconds": 1},
                             assistant={"overrides": {"maxDurationSeconds": 30}})
        profile = load_profile(str(path), [])

        async def go() -> tuple[set[str], list[str]]:
            asyncio.get_running_loop().set_debug(True)
            api = make_api(profile)
            source, sink = start_audio(profile)
            devices = asyncio.all_tasks()  # the audio backends' own, outliving calls
            try:
                call = Call(profile, api, source, sink, fault=fault)
                await call.start()
                await asyncio.sleep(0.5)
                await call.end()
                mine = {*devices, *call._tasks}
                after_end = {repr(t.get_coro()) for t in asyncio.all_tasks()
                             if t not in mine and not t.done()}
                await call.close()
                after_close = [repr(t.get_coro()) for t in asyncio.all_tasks()
                               if t not in devices and not t.done()]
                assert call.summary is not None
                return after_end, after_close
            finally:
                close_audio(source, sink)
                await api.aclose()

        after_end, after_close = asyncio.run(go())
    assert after_end == set(), f"end() left these pending: {after_end}"
    assert after_close == [], f"close() left these pending: {after_close}"


@pytest.mark.parametrize("fault", [None, "tiny-frames"])
def test_an_ended_call_is_freed_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        fault: str | None) -> None:
    """A call, its uplink and its recording, once closed and let go, are freed then, not at
    Python's next full garbage collection: its parts held it (and each other) in cycles,
    so a daemon kept up to 18 ended calls' buffers at once, megabytes after a flood of tiny
    frames, and its memory grew 67 → 105 MB over 200 calls with faults (soak helper)."""
    import gc
    import weakref

    from bridge.call.wiring import make_recorder

    monkeypatch.setenv("VAPI_API_KEY", KEY)
    with Sim() as sim:
        path = write_profile(tmp_path, sim.base_url)
        profile = load_profile(str(path), [])

        async def go() -> list[weakref.ref[object]]:
            api = make_api(profile)
            source, sink = start_audio(profile)
            try:
                call = Call(profile, api, source, sink, recorder=make_recorder(profile),
                            fault=fault)
                await call.start()
                await asyncio.sleep(1.0)
                await call.close()
                assert call.summary is not None
                refs = [weakref.ref(part) for part in (call, call.uplink, call.downlink,
                                                       call.recorder, call.commands)]
                del call
                return refs
            finally:
                close_audio(source, sink)
                await api.aclose()

        gc.disable()
        try:
            refs = asyncio.run(go())
            alive = [r() for r in refs if r() is not None]
            assert not alive, f"held until a garbage collection: {alive}"
        finally:
            gc.enable()
