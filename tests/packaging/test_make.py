"""`make demo` sets up only what the demo needs; `make test` the whole test stack. Read from
make's own dry run (`make -n`: it prints the commands and runs none)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not found")


def dry_run(target: str, venv: Path) -> str:
    # a plain shell's make, whoever runs the test: under `make test ARGS=…` the outer make
    # exports its command line's variables (ARGS reached this make: `vapi-bridge demo
    # tests/…`), its flags and level (its "Entering directory" lines); a caller's VENV,
    # PYTHON or PYTEST_WORKERS would change the plan too. Only where make and its tools are.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    result = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_installs_portaudio_and_the_sim_extra_only(tmp_path: Path) -> None:
    plan = dry_run("demo", tmp_path / "venv")
    assert 'PKGS="libportaudio2"' in plan, plan
    assert "pip install -q -e '.[sim]'" in plan
    for heavy in ("pulseaudio", "espeak-ng", "sox", "libseccomp2", "[test]"):
        assert heavy not in plan, f"make demo would install {heavy}"
    assert plan.rstrip().endswith("vapi-bridge demo")


def test_test_installs_the_test_stack(tmp_path: Path) -> None:
    plan = dry_run("test", tmp_path / "venv")
    assert "pulseaudio" in plan and "espeak-ng" in plan
    assert "pip install -q -e '.[test]'" in plan
