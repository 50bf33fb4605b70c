"""A SOCKS proxy without its packages: the one line names the variable that set it and the
pip of the interpreter that runs (the venv's), as every install hint does — through the
real `vapi-bridge run` process."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from tests.faults.harness import write_profile
from tests.network.conftest import proxy_env, run


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "all_proxy"])
def test_the_socks_hint_names_the_variable_set_and_the_venvs_pip(short_dir: Path,
                                                                 variable: str) -> None:
    profile = write_profile(short_dir, "http://127.0.0.1:9")
    env = proxy_env(None, None, **{variable: "socks5://127.0.0.1:9"})
    if variable.isupper():  # an empty lowercase one would unset it (urllib's rule)
        del env[variable.lower()]
    result = run("run", "--profile", str(profile), env=env)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"vapi-bridge: {variable} names a SOCKS proxy"), last
    assert (f"— run: {shlex.quote(sys.executable)} -m pip install 'httpx[socks]' "
            f"python-socks, or use an HTTP proxy") in last, last
    assert "Traceback" not in result.stderr


def test_check_says_what_run_says_of_a_socks_proxy_without_its_packages(
        short_dir: Path) -> None:
    """With the SOCKS proxy down, `check` said "✗ proxy 127.0.0.1:9 (ALL_PROXY) reachable —
    Connection refused" (exit 5): the operator starts the proxy, and `run` then refuses
    anyway, exit 2, for the missing packages. It says run's line now, and its exit code."""
    profile = write_profile(short_dir, "https://api.vapi.invalid")
    env = proxy_env(None, None, ALL_PROXY="socks5://127.0.0.1:9")
    del env["all_proxy"]  # (empty, it would unset ALL_PROXY: urllib's rule)
    result = run("check", "--profile", str(profile), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (f" ✗ proxy settings usable — ALL_PROXY names a SOCKS proxy, which needs "
            f"httpx[socks] and python-socks — run: {shlex.quote(sys.executable)} -m pip "
            f"install 'httpx[socks]' python-socks, or use an HTTP proxy") in result.stdout, \
        result.stdout
    assert "Connection refused" not in result.stdout
