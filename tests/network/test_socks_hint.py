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
