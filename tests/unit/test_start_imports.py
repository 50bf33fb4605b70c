"""What each start of `vapi-bridge` loads: not what it never uses. A kiosk's daemon starts
once, but every `ctl`, `check` and `listen` is a start of its own, and so is each of the
hundreds of `vapi-bridge` processes the tests run.

- httpx imports its command-line client (click, rich, pygments) whenever those happen to be
  installed — a developer's venv, the tests' (import-linter brings them): 0.13-0.18 s of
  CPU at each start of `run` or `check` on this 2-core x86 machine (`run` 0.99 -> 0.81 s).
- importlib.metadata (and the email, zipfile and csv modules it loads) was imported by every
  command for the install hint of an extra, which only a missing extra prints: 20-45 ms of
  each start of `ctl` or `--version`, where nothing else loads it (`--version` 0.17 ->
  0.13 s, with the two help texts parsed for --help only: bridge.cli.parsing.ModuleDoc).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LOADED = ("import json, sys; "
          "print(json.dumps([m for m in {names} if sys.modules.get(m) is not None]))")


def loaded(code: str, names: tuple[str, ...]) -> list[str]:
    """Which of `names` a fresh interpreter holds after `code`."""
    done = subprocess.run([sys.executable, "-c", f"{code}; {LOADED.format(names=names)}"],
                          capture_output=True, text=True, timeout=60, check=True)
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_the_call_path_leaves_httpx_command_line_client_unloaded() -> None:
    try:
        import rich  # noqa: F401  (what httpx's client would load, were it installed)
    except ImportError:
        pytest.skip("rich is not installed here: httpx's client would not load anyway")
    code = "import bridge.vapi.api, bridge.vapi.commands, bridge.vapi.listen, httpx"
    assert loaded(code, ("httpx._main", "rich", "click", "pygments")) == []
    assert loaded("import httpx", ("httpx._main",)) == ["httpx._main"], \
        "httpx alone loads it here: this test can tell"


def test_a_ctl_command_leaves_importlib_metadata_unloaded() -> None:
    code = ("from bridge.cli.arguments import build_parser; "
            "build_parser().parse_args(['ctl', '--socket', 's', 'status'])")
    assert loaded(code, ("importlib.metadata",)) == []
