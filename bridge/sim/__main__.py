"""``python -m bridge.sim``."""

import sys

from bridge.sim.cli import main

sys.exit(main())
