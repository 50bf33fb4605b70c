"""A control socket in a directory the daemon's user may not write is one line naming the
key to change (`run` said only "Permission denied", where `check` named the fix). Run as
another user than the directory's owner (root drops to nobody for it)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from bridge.control.server import ControlServer
from bridge.errors import ProfileError
from tests.unit.test_profile_locate import as_another_user


async def _answer(request: object) -> dict[str, object]:
    return {"ok": True}


def test_a_socket_directory_the_user_cannot_write_names_the_key() -> None:
    top = Path(tempfile.mkdtemp(prefix="ctl-"))
    top.chmod(0o755)
    closed = top / "closed"
    closed.mkdir(mode=0o555)
    path = closed / "kiosk.sock"
    if os.geteuid() != 0:
        closed.chmod(0o500)
    try:
        with as_another_user(), pytest.raises(ProfileError) as caught:
            asyncio.run(ControlServer(_answer, path).start())  # type: ignore[arg-type]
    finally:
        shutil.rmtree(top)
    said = str(caught.value)
    assert said.startswith(f"cannot open the control socket {path}: Permission denied — "
                           "set service.control_socket to a path this user can write"), said
