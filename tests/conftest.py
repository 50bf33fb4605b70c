"""Fixtures every test directory shares: the simulator in a thread and profile files; and
the order the real-time modules are handed out in."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import profiles, start_sim

__all__ = ["profiles", "start_sim"]

# The longest real-time modules (their calls' audio), longest first: `make test` runs the
# serial tests in two lanes (Makefile SERIAL_LANES, --dist loadfile) that take modules in
# collection order, so a long module started last would leave one lane idle meanwhile.
LONG_FIRST = (
    "tests/echo/test_echo_barge_in.py",
    "tests/devices/test_fast_playout.py",
    "tests/e2e/test_fast_delivery.py",
    "tests/echo/test_echo_rig.py",
    "tests/devices/test_barge_in.py",
    "tests/devices/test_echo_call.py",
    "tests/rig/test_rig.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
