"""Regressions for bugs the fault tests found: the notify socket closed at exit, short
call ids that differ between calls, no bogus summary when stopped before a call exists."""

from __future__ import annotations

import re
import signal
import socket
import time

import pytest

from tests.faults.harness import Daemon, Sim, case_dir, run_once, write_profile

pytestmark = pytest.mark.timeout(120)


def test_the_notify_socket_is_closed_at_exit() -> None:
    with Sim() as sim, case_dir() as d:
        profile = write_profile(d, sim.base_url)
        notify = d / "notify.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(notify))
        try:
            result = run_once(profile, "--fault", "http-400", NOTIFY_SOCKET=str(notify))
        finally:
            listener.close()
    assert result.code == 2
    assert result.unclean() == [], result.err


def test_consecutive_calls_have_different_short_ids_in_the_log() -> None:
    with Sim() as sim, case_dir() as d:
        profile = write_profile(d, sim.base_url, service={"mode": "loop"},
                                assistant={"overrides": {"maxDurationSeconds": 1}})
        daemon = Daemon(profile, d)
        try:
            daemon.notify.wait_for("STATUS=kiosk: calling", count=3, timeout=40)
            result = daemon.stop(signal.SIGTERM)
        finally:
            daemon.close()
        full_ids = [c["id"] for c in sim.get("/_sim/calls")["calls"]]
    shown = re.findall(r"call (\S+) created", result.err)
    assert len(set(full_ids)) >= 2
    assert len(set(shown)) == len(shown) >= 2, f"{shown} for {full_ids}"


def test_a_stop_before_the_call_exists_prints_no_call_summary() -> None:
    with Sim() as sim, case_dir() as d:
        profile = write_profile(d, sim.base_url, api={"timeout_seconds": 60,
                                                      "retry_attempts": 1})
        daemon = Daemon(profile, d, "--fault", "http-hang")
        try:
            daemon.notify.wait_for("STATUS=kiosk: calling")
            time.sleep(0.5)
            result = daemon.stop(signal.SIGTERM)
        finally:
            daemon.close()
    assert result.code == 0
    assert " ended: " not in result.out, result.out
