"""Vapi's REST API, call socket, listen and control URLs, and what their servers send."""

import sys

# httpx's package imports its command-line client (httpx._main: click, rich, pygments)
# whenever those happen to be installed — a developer's venv, or the tests' (import-linter
# brings them) — about 0.13 s of CPU at each start of `run`, `check` or `listen` on a
# 2-core x86 machine (more on a Pi), for `httpx.main`, which the bridge never calls.
# Marked absent, httpx takes its stub instead (its own `except ImportError`).
sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]
