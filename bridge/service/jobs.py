"""The daemon's background jobs: work that outlives the moment that started it.

- `start(job)`: a job the daemon waits for only as it exits, after closing the API client
  (which ends it: an assistant lookup, a replaced client's close).
- `ending(job)`: a lost call ended through its controlUrl (`bridge.call.abandon`), which
  asks Vapi through the API client: waited for before any client it may use is closed,
  at a reload (`retire`) as at exit (`aclose`). Each such job is bounded by its own
  timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from bridge.aio import after
from bridge.vapi.api import VapiApi


class Jobs:
    def __init__(self) -> None:
        self._closing: set[asyncio.Task[None]] = set()
        self._ending: set[asyncio.Task[None]] = set()

    def start(self, job: Coroutine[Any, Any, None]) -> None:
        self._add(job, self._closing)

    def ending(self, job: Coroutine[Any, Any, None]) -> None:
        self._add(job, self._ending)

    def retire(self, api: VapiApi | None) -> None:
        """Close `api`, being replaced, once the lost calls' ends that use it are done."""
        if api is not None:
            self.start(after(tuple(self._ending), api.aclose()))

    async def aclose(self, api: VapiApi | None) -> None:
        """The daemon exits: the lost calls' ends, then `api` closed, then the rest."""
        await asyncio.gather(*self._ending, return_exceptions=True)
        if api is not None:
            await api.aclose()
        await asyncio.gather(*self._closing, return_exceptions=True)

    @staticmethod
    def _add(job: Coroutine[Any, Any, None], jobs: set[asyncio.Task[None]]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        jobs.add(task)
        task.add_done_callback(jobs.discard)
