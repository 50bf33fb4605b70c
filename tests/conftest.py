"""Fixtures every test directory shares: the simulator in a thread, profile files and
espeak-ng's voice; and the three lanes of `make test`'s serial phase."""

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

# The three lanes of the serial tests (Makefile SERIAL_DIST='-n 3 --dist loadgroup'), each
# one test at a time. "rig": the rig modules that time or compare real-time audio beside an
# echo path or a fast reply, one after another: two of them at once failed on a loaded
# 2-core machine (the echo-call and fast-playout tests) where each passed alone. "rest":
# the other rig modules. "clock": the tests with no sound server (`file:` devices on a
# real-time clock, 0.27 of a core together). Two lanes (the rig modules of "rest" and then
# the whole of "clock" in the second) took 520-522 s on this machine; three took 383 s, the
# lanes 370, 260 and 334 s of tests (2026-12-06, beside other helpers' tests).
# The lanes are xdist's scopes, chosen here: xdist's own `xdist_group` marks (which these
# lanes used before) group nothing under pytest 9, whose node ids xdist 3.8 cannot suffix,
# so any two rig modules ran side by side. Without --dist loadgroup this does nothing.
ONE_AT_A_TIME = ("tests/echo/", "tests/devices/test_fast_playout.py",
                 "tests/devices/test_echo_call.py", "tests/devices/test_barge_in.py",
                 "tests/devices/test_goodbye.py")
RIGS = ("tests/rig/", "tests/devices/")
# and a `file:` clock test in the "rest" lane, to even the lanes out (which lane it is in
# changes nothing of what runs beside it: one test of each lane at a time). Its ~17 s moved
# the two lanes to ~300-320 s each, below the rig lane; and in `make test-floors`' serial
# phase it no longer waits behind the other round trip (the clock lane's 2 x 17 s, then its
# longest with test_echo_rig's two calls).
REST_TOO = ("tests/e2e/test_call_path.py::test_echo_call_round_trip[mulaw-8000-44100]",)


def lane(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    if path.startswith(ONE_AT_A_TIME):
        return "rig"
    return "rest" if path.startswith(RIGS) or nodeid.startswith(REST_TOO) else "clock"


# Modules whose one module-scoped fixture runs all of the module's cases a few at a time
# (tests/faults/harness.py `selected_params`): each xdist worker given any of their tests
# ran that fixture, and with it every case up to the last of its own (its subset could not
# be known). Split across two workers, the fault matrix's 48 cases ran 70-80 times, ~40 s
# of CPU more in the parallel phase, which the CPU bounds. `make test`'s parallel phase
# (--dist load) sends each of these modules whole to one worker.
WHOLE_MODULES = ("tests/faults/test_fault_matrix.py", "tests/faults/test_signals.py",
                 "tests/faults/test_hostile_text.py")  # (its 4 runs, whichever test asks)


def whole_module(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path in WHOLE_MODULES else None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") == "load":
        return _whole_modules(config, log)
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


def _whole_modules(config: pytest.Config, log: Any) -> Any:
    """xdist's load scheduling, but a chunk that reaches into a WHOLE_MODULES module takes
    the rest of it too (chunks are taken in order, so none starts inside one)."""
    try:
        from xdist.scheduler import LoadScheduling
    except ImportError:
        return None

    class WholeModules(LoadScheduling):
        def _send_tests(self, node: Any, num: int) -> None:
            ids, pending = self.collection, self.pending
            while 0 < num < len(pending) and whole_module(ids[pending[num - 1]]) is not None \
                    and whole_module(ids[pending[num]]) == whole_module(ids[pending[num - 1]]):
                num += 1
            super()._send_tests(node, num)

    return WholeModules(config, log)
