"""A local Vapi-compatible simulator (REST + call socket + listen + control).

Imports nothing from the client side of ``bridge``: see docs/simulator.md.
"""

from bridge.sim.app import SimHandle, Simulator, build_app, run_in_thread
from bridge.sim.config import SimConfig

__all__ = ["SimConfig", "SimHandle", "Simulator", "build_app", "run_in_thread"]
