"""vapi-bridge: a Vapi voice assistant on a desk kiosk."""

import os

# numpy's OpenBLAS on one thread, set before anything imports numpy: the audio path's
# matrix products are one 20 ms block each, and a pool of BLAS threads (one per core) would
# only wake and spin beside the audio callbacks on a kiosk's few cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
USER_AGENT = f"vapi-bridge/{__version__}"
