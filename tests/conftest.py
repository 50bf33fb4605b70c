"""Fixtures every test directory shares: the simulator in a thread and profile files."""

from tests.e2e.conftest import profiles, start_sim

__all__ = ["profiles", "start_sim"]
