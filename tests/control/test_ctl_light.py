"""`ctl -p NAME` loads the profile to find the daemon's socket: the loader brought numpy,
httpx and soxr with it, so every `ctl -p frontdesk status` took ~0.9 s on this machine
against ~0.25 s for `ctl --socket` (smallfix helper), and the README's one-button script
calls it twice per press. The profile's checks need none of them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ROOT, bridge_env

HEAVY = ("numpy", "httpx", "soxr", "sounddevice", "aiohttp", "websockets")

RUN_CTL = f"""
import json, sys
sys.argv[0] = "vapi-bridge"
from bridge.cli.main import main
code = main()
print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))
"""


def test_ctl_with_a_profile_imports_no_audio_or_http_library(tmp_path: Path) -> None:
    """The whole example profile (every section, sounds included) is loaded and checked,
    no daemon answers (exit 5): nothing heavy was imported on the way."""
    profile = tmp_path / "lightctl.yaml"
    shutil.copy(ROOT / "config" / "frontdesk.yaml", profile)
    done = subprocess.run([sys.executable, "-c", RUN_CTL, "ctl", "-p", str(profile),
                           "status"], capture_output=True, text=True, timeout=60,
                          env=bridge_env(), cwd=tmp_path)
    code, heavy = json.loads(done.stdout.splitlines()[-1])
    assert code == 5 and "no vapi-bridge daemon is running for profile lightctl" in \
        done.stderr, done.stderr
    assert heavy == [], f"ctl -p imported {heavy}"

