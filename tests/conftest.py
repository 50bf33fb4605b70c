"""Fixtures every test directory shares: the simulator in a thread, profile files and
espeak-ng's voice; and the two lanes of `make test`'s serial phase."""

from __future__ import annotations

from typing import Any

import pytest

from tests.devices.conftest import require_espeak
from tests.e2e.conftest import profiles, start_sim

__all__ = ["profiles", "start_sim"]


@pytest.fixture(scope="session")
def espeak_ng() -> None:
    """espeak-ng speaks the visitor's words: skipped without it, except in CI, which
    installs it (`make deps`), so a skip there would hide a gap (`require_espeak`, as the
    device tests call it)."""
    require_espeak()

# The two lanes of the serial tests (Makefile SERIAL_DIST='-n 2 --dist loadgroup'). The
# rig modules that time or compare real-time audio beside an echo path or a fast reply run
# one after another in one lane: two of them at once failed on a loaded 2-core machine
# (the echo-call and fast-playout tests) where each passed alone; the device-failure
# module joins them to balance the lanes. Everything else (the `file:` devices' real-time
# clock, the lighter rig modules) runs one at a time in the other. The two held 415 and
# 404 s of tests in a timed run (2026-12-04).
# The lanes are xdist's scopes, chosen here: xdist's own `xdist_group` marks (which these
# lanes used before) group nothing under pytest 9, whose node ids xdist 3.8 cannot suffix,
# so any two rig modules ran side by side. Without --dist loadgroup this does nothing.
ONE_AT_A_TIME = ("tests/echo/", "tests/devices/test_fast_playout.py",
                 "tests/devices/test_echo_call.py", "tests/devices/test_barge_in.py",
                 "tests/devices/test_goodbye.py", "tests/rig/test_sounds_rig.py",
                 "tests/devices/test_device_failure.py")


def lane(nodeid: str) -> str:
    return "rig" if nodeid.split("::", 1)[0].startswith(ONE_AT_A_TIME) else "rest"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    try:
        from xdist.scheduler import LoadScopeScheduling
    except ImportError:  # another xdist: its own loadgroup (the tests run, lanes or not)
        return None

    class Lanes(LoadScopeScheduling):
        """Each lane a scope: all of it on one worker, in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return lane(nodeid)

    return Lanes(config, log)
