"""vapi-bridge: a Vapi voice assistant on a desk kiosk."""

import os

# numpy's OpenBLAS on one thread, set before anything imports numpy: the audio path's
# matrix products are one 20 ms block each, and a pool of BLAS threads (one per core) would
# only wake and spin beside the audio callbacks on a kiosk's few cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:  # written by the build from git (setuptools-scm, pyproject.toml)
    from bridge._version import __version__
except ImportError:  # a source tree never built or installed (PYTHONPATH=. from a copy)
    __version__ = "0+unknown"
USER_AGENT = f"vapi-bridge/{__version__}"
