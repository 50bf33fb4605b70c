"""The bridge keeps numpy's BLAS to one thread: a kiosk's cores belong to the audio."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def test_importing_the_bridge_first_leaves_numpy_without_a_blas_thread_pool() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    count = "import os; print(len(os.listdir('/proc/self/task')))"
    bare = subprocess.run([sys.executable, "-c", f"import numpy; {count}"], env=env,
                          capture_output=True, text=True, check=True)
    ours = subprocess.run([sys.executable, "-c", f"import bridge, numpy; {count}"], env=env,
                          capture_output=True, text=True, check=True)
    assert int(ours.stdout) == 1, "numpy started BLAS threads beside the bridge's own"
    if int(bare.stdout) == 1:  # one core, or a BLAS built without threads (some distros')
        pytest.skip("numpy's BLAS starts no thread pool here: the test cannot tell the bridge "
                    "kept it from doing so")
