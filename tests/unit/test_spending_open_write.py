"""The spending totals written as a call's audio starts (its id put on the open list) are
crash-safe: a temporary file on the disk before it is renamed over the old one, and the
rename on the disk after. Before, that write skipped the fsync (it ran on the event loop)
and the file was synced only after the rename: a power cut in between could leave an
empty `spending-PROFILE.json`, and under a daily limit the kiosk then refused every call
("spending limit unknown … not JSON") until an operator came. The fsyncs run in a worker
thread: here one held as an SD card may hold it, and the call's start does not wait for it.
In-process, on real files, the system calls watched as they pass (about 0.3 s)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import pytest

from tests.e2e.conftest import KEY, ProfileBuilder

CALL = "0193a7c2-1234-4abc-9def-0123456789ab"


def test_the_write_as_a_call_opens_is_crash_safe_and_off_the_event_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.events import EventBus
    from bridge.profile.loader import load_profile
    from bridge.service.spending import SpendingGuard
    from bridge.vapi.callinfo import CallInfo

    monkeypatch.setenv("VAPI_API_KEY", KEY)
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    profile = load_profile(str(ProfileBuilder(tmp_path).write(
        "http://127.0.0.1:9", call={"max_daily_cost": 5})))
    seen: list[tuple[str, str]] = []  # ("fsync", what) / ("replace", what), in order
    held, release = threading.Event(), threading.Event()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        if name.endswith(".tmp") and not held.is_set():  # the first: an SD card's slow one
            held.set()
            release.wait(5)
        real_fsync(fd)
        seen.append(("fsync", Path(name).name))

    def replace(src: str | Path, dst: str | Path) -> None:
        real_replace(src, dst)
        seen.append(("replace", Path(src).name))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    bus = EventBus()
    guard = SpendingGuard(lambda: profile, bus)
    totals = guard.path

    async def call() -> None:
        guard.opened(CallInfo(CALL, "ws://x", None, None, {}))
        # returned at once, the fsync still held (on the event loop, it returned only after
        # `release.wait` gave up, the file written): what is being written is read meanwhile
        assert held.wait(2) and seen == [], f"the call's start waited for the disk: {seen}"
        assert guard.snapshot()["uncounted"] == 1, "the call up is on the open list"
        await asyncio.sleep(0.05)
        threading.Timer(0.1, release.set).start()
        bus.publish("ended", seconds=2.0, cost=0.01)  # its end waits for the write
        await guard.aclose()

    asyncio.run(call())
    assert held.is_set(), "the temporary file was never put on the disk before its rename"
    opened = seen[:3]
    assert opened == [("fsync", "spending-kiosk.json.tmp"), ("replace",
                      "spending-kiosk.json.tmp"), ("fsync", "state")], seen
    saved = json.loads(totals.read_text())
    assert (saved["calls"], saved["cost"], saved["open"]) == (1, 0.01, []), saved
