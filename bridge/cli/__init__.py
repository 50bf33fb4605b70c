"""The commands: `vapi-bridge run|loop|standby|ctl|listen|check|devices|demo|init|sim`."""

import sys

# httpx imports its own command line (`httpx.main`: rich, click and pygments) whenever
# those are installed, and no command here uses it: 0.1 s of CPU at each start (0.26-0.33 s
# importing httpx, 0.15 without; on a Raspberry Pi several times that). A None in
# sys.modules makes that import fail, which httpx allows for (its `main` becomes a stub).
sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]
