"""`make demo` sets up only what the demo needs; `make test` the whole test stack. Read from
make's own dry run (`make -n`: it prints the commands and runs none)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not found")


def dry_run(target: str, venv: Path, *assignments: str) -> str:
    # a plain shell's make, whoever runs the test: under `make test ARGS=…` the outer make
    # exports its command line's variables (ARGS reached this make: `vapi-bridge demo
    # tests/…`), its flags and level (its "Entering directory" lines); a caller's VENV,
    # PYTHON or PYTEST_WORKERS would change the plan too. Only where make and its tools are.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    result = subprocess.run(["make", "-n", target, f"VENV={venv}", *assignments], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
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


def test_an_editable_install_shows_no_setuptools_folder_warning(tmp_path: Path) -> None:
    """`make demo` began with setuptools' 10-line "Editable installation. ... Please be
    careful with folders in your working directory with the same name as your package",
    which pip shows after every editable install (a UserWarning the build backend raises).
    The plan's editable installs silence that one warning; any other still shows. Its
    filter is run here on the warning as pip raises it (pip and a build take 10 s)."""
    installs = {line for target in ("demo", "test") for line in
                dry_run(target, tmp_path / "venv").splitlines() if "pip install -q -e" in line}
    assert len(installs) == 2, installs  # [sim] and [test]
    filters = [word.removeprefix("PYTHONWARNINGS=") for line in installs
               for word in shlex.split(line) if word.startswith("PYTHONWARNINGS=")]
    assert len(filters) == 2, f"an editable install with no warning filter: {installs}"
    raised = ("import warnings\n"
              "class BuildBackendWarning(UserWarning): pass\n"
              "for text in ('Editable installation.\\n!!\\n  Please be careful with folders "
              "in your working directory', 'Customization incompatible with editable install'):\n"
              "    warnings.warn_explicit(text, BuildBackendWarning, 'editable_wheel.py', 354)\n")
    shown = subprocess.run([sys.executable, "-c", raised], capture_output=True, text=True,
                           env={**os.environ, "PYTHONWARNINGS": filters.pop()}, timeout=30)
    assert "careful with folders" not in shown.stderr, shown.stderr
    assert "Customization incompatible" in shown.stderr, "another warning still shows"


@pytest.mark.parametrize("phase", ["test-parallel", "test-serial", "test-floors-parallel",
                                   "test-floors-serial"])
def test_each_phase_takes_args(phase: str, tmp_path: Path) -> None:
    """`make test-parallel ARGS=-x` ran the whole phase: the phases took no ARGS."""
    plan = dry_run(phase, tmp_path / "venv", "ARGS=-x --lf", f"FLOORS_VENV={tmp_path / 'f'}")
    runs = [line for line in plan.replace("\\\n", " ").splitlines()
            if "bin/pytest -q" in line and "--collect-only" not in line]  # (the warm-up's)
    assert len(runs) == 1 and runs[0].split()[-2:] == ["-x", "--lf"], runs


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock not found")
@pytest.mark.parametrize("stamp", ["VENV/.installed", "VENV/.demo", "FLOORS/.installed"])
def test_each_editable_install_runs_with_its_warning_filter(stamp: str, tmp_path: Path) -> None:
    """The plan's commands run (make, not make -n), with a pip that only notes how it was
    called: `flock LOCK PYTHONWARNINGS=… pip` made flock run a command named
    `PYTHONWARNINGS=…`, and `make venv` failed on a fresh checkout (exit 69)."""
    venv, floors = tmp_path / "venv", tmp_path / "floors"
    for where in (venv, floors):
        (where / "bin").mkdir(parents=True)
        pip = where / "bin" / "pip"
        pip.write_text(f'#!/bin/sh\necho "$PYTHONWARNINGS|$*" >> {tmp_path / "pip.log"}\n')
        pip.chmod(0o755)
    target = stamp.replace("VENV", str(venv)).replace("FLOORS", str(floors))
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    result = subprocess.run(["make", target, f"VENV={venv}", f"FLOORS_VENV={floors}",
                             "PYTHON=true"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    editable = [line for line in (tmp_path / "pip.log").read_text().splitlines()
                if " -e " in line]
    assert len(editable) == 1 and editable[0].startswith("ignore:Editable installation."), \
        editable
