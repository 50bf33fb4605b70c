"""How to install an optional extra (`sim`, `aec`) into the copy of vapi-bridge that runs,
and how to name that copy's program in a hint (`program`).

`pip install 'vapi-bridge[sim]'` only works where the package comes from an index. pip
records where an installed copy came from (PEP 610 `direct_url.json`): a checkout, a wheel
file, a VCS URL. The hint names that same source, and the pip of this interpreter, so the
extra lands in the environment that needs it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:  # imported where a hint needs it: importlib.metadata (email, zipfile,
    # csv) cost each start of `ctl`, `--version` and every command that loads no websockets
    # (whose version module imports it) 20-45 ms of CPU (tests/unit/test_start_imports.py)
    from importlib import metadata

DIST = "vapi-bridge"


def _origin(dist: metadata.Distribution) -> dict[str, object] | None:
    try:
        text = dist.read_text("direct_url.json")
        data = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def requirement(extra: str) -> tuple[str, bool]:
    """The pip requirement that installs `extra` from where this copy came from, and
    whether it is an editable install (`pip install -e`)."""
    from importlib import metadata

    for dist in metadata.distributions(name=DIST):
        origin = _origin(dist)
        if origin and origin.get("url"):
            return _from_origin(extra, origin)
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file():  # run from a source tree
        return f"{checkout}[{extra}]", True
    return f"{DIST}[{extra}]", False  # from an index


def _from_origin(extra: str, origin: dict[str, object]) -> tuple[str, bool]:
    url = str(origin["url"])
    vcs = origin.get("vcs_info")
    if isinstance(vcs, dict):
        rev = f"@{vcs['commit_id']}" if vcs.get("commit_id") else ""
        return f"{DIST}[{extra}] @ {vcs.get('vcs', 'git')}+{url}{rev}", False
    parts = urlsplit(url)
    if parts.scheme != "file":
        return f"{DIST}[{extra}] @ {url}", False
    path = unquote(parts.path)
    dir_info = origin.get("dir_info")
    editable = isinstance(dir_info, dict) and bool(dir_info.get("editable"))
    if Path(path).exists():
        return f"{path}[{extra}]", editable
    return f"{DIST}[{extra}]", False  # the wheel or checkout is gone: an index, if any


def install_command(extra: str) -> str:
    """`/path/to/python -m pip install '<source>[extra]'`, ready to paste."""
    req, editable = requirement(extra)
    return pip_install(req, editable=editable)


def pip_install(*requirements: str, editable: bool = False) -> str:
    """This interpreter's `pip install` of `requirements`, quoted, ready to paste."""
    return " ".join([shlex.quote(sys.executable), "-m", "pip", "install",
                     *(["-e"] if editable else []), *map(shlex.quote, requirements)])


def missing_extra(extra: str, what: str, module: str | None) -> str:
    """The message for an ImportError of an extra's module."""
    missing = f" ({module} is missing)" if module else ""
    return f"{what} needs the [{extra}] extra{missing} — run: {install_command(extra)}"


def installed_exe() -> str:
    """This installation's `vapi-bridge` script (beside the interpreter, as in a venv)."""
    beside = Path(sys.executable).parent / "vapi-bridge"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("vapi-bridge")
    return str(Path(found).absolute()) if found else f"{sys.executable} -m bridge"


def program() -> str:
    """`installed_exe`, quoted, for a command line a hint gives: an absolute path, which
    works where the bare name does not (/opt/vapi-bridge/venv/bin is on no one's PATH, the
    service user's and sudo's included)."""
    exe = installed_exe()
    return shlex.quote(exe) if Path(exe).is_file() else shlex.join([sys.executable, "-m",
                                                                     "bridge"])
