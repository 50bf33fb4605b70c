"""Fixtures every test directory shares: the simulator in a thread and profile files; and
the two lanes of `make test`'s serial phase."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import profiles, start_sim

__all__ = ["profiles", "start_sim"]

# The two lanes of the serial tests (Makefile SERIAL_DIST='-n 2 --dist loadgroup'): the
# modules playing through the PulseAudio rig, one at a time, in one; the others (the `file:`
# devices' real-time clock, no sound server), one at a time, in the other. (Two rig modules
# at once were tried: on a loaded 2-core machine the echo-call and fast-playout rig tests
# then failed where each passed alone.) Without --dist loadgroup the marks do nothing.
RIG_DIRS = ("tests/rig/", "tests/devices/", "tests/echo/")


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        lane = "rig" if _module(item).startswith(RIG_DIRS) else "clock"
        item.add_marker(pytest.mark.xdist_group(lane))
