"""Every event class and error control.md names for the Python API imports from
`bridge.client`, as its examples do (`Hang` and `UnknownEvent` were only in
`bridge.vapi.messages`, and no error beyond `ProfileError` and `Refused` was exported)."""

from __future__ import annotations

import re

import bridge.client
from tests.e2e.conftest import ROOT


def test_the_names_the_api_table_gives_import_from_bridge_client() -> None:
    doc = (ROOT / "docs" / "control.md").read_text()
    rows = [line for line in doc.splitlines()
            if line.startswith(("| `open_call(", "| `call.events()`"))]
    assert len(rows) == 2, rows
    named = {n for row in rows for n in re.findall(r"`(?:bridge\.client\.)?([A-Z]\w+)`", row)}
    assert {"Hang", "UnknownEvent", "AuthError", "NetworkError"} <= named, named
    missing = sorted(n for n in named if n not in bridge.client.__all__)
    assert not missing, missing
