"""A local Vapi-compatible simulator (REST + call socket + listen + control).

Imports nothing from the client side of ``bridge``: see docs/simulator.md. Its server
parts need the ``[sim]`` extra (aiohttp) and are imported when first named, so that
``bridge.sim.validation`` (the POST /call checks `vapi-bridge check` uses) works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.sim.app import SimHandle, Simulator, build_app, run_in_thread
    from bridge.sim.config import SimConfig

__all__ = ["SimConfig", "SimHandle", "Simulator", "build_app", "run_in_thread"]


def __getattr__(name: str) -> Any:
    if name == "SimConfig":
        from bridge.sim.config import SimConfig
        return SimConfig
    if name in __all__:
        from bridge.sim import app
        return getattr(app, name)
    raise AttributeError(f"module 'bridge.sim' has no attribute {name!r}")
