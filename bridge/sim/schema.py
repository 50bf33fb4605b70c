"""The key sets and enums of Vapi's published API schema the simulator validates against.

They live in ``vapi_schema.json`` beside this module, extracted from the ``VapiAI/docs``
repository's ``fern/apis/api/openapi.json`` (the file records the commit and the date).
To refresh them from a newer copy of the schema::

    python -m bridge.sim.schema path/to/openapi.json COMMIT COMMIT_DATE \
        > bridge/sim/vapi_schema.json
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("vapi_schema.json")
SOURCE = "https://github.com/VapiAI/docs/blob/{commit}/fern/apis/api/openapi.json"
# schema component -> what the simulator checks with its property names
OBJECTS = {
    "CreateCallDTO": "POST /call body",
    "AssistantOverrides": "assistantOverrides",
    "CreateAssistantDTO": "an inline assistant",
    "MonitorPlan": "monitorPlan",
    "VapiWebsocketTransport": "transport (vapi.websocket)",
    "AudioFormat": "transport.audioFormat",
    "Assistant": "GET /assistant/{id}",
}
ENUMS = {"clientMessages": ("CreateAssistantDTO", "clientMessages"),
         "status": ("ServerMessageStatusUpdate", "status"),
         "endedReason": ("ServerMessageStatusUpdate", "endedReason")}


@cache
def _data() -> dict[str, Any]:
    return dict(json.loads(DATA.read_text(encoding="utf-8")))


def keys(component: str) -> frozenset[str]:
    """The property names of a schema component (e.g. ``AssistantOverrides``)."""
    return frozenset(_data()["objects"][component])


def enum(name: str) -> tuple[str, ...]:
    """An enum's values: ``clientMessages``, and a status-update's ``status`` and
    ``endedReason``."""
    return tuple(_data()["enums"][name])


def defaults(name: str) -> tuple[str, ...]:
    """An enum property's documented default (``clientMessages``: what is sent unasked)."""
    return tuple(_data()["defaults"][name])


def committed() -> str:
    """The date of the schema these names come from (e.g. ``2026-08-18``)."""
    return str(_data()["source"]["committed"])


def source() -> str:
    meta = _data()["source"]
    return f"{meta['url']} (of {meta['committed']}, extracted {meta['extracted']})"


def extract(schema: dict[str, Any], commit: str, committed: str) -> dict[str, Any]:
    comps = schema["components"]["schemas"]
    enums: dict[str, list[str]] = {}
    default_values: dict[str, list[str]] = {}
    for name, (component, prop) in ENUMS.items():
        spec = comps[component]["properties"][prop]
        enums[name] = list(spec["items"]["enum"] if "items" in spec else spec["enum"])
        default_values[name] = list(spec.get("example", []))
    return {
        "source": {
            "url": SOURCE.format(commit=commit),
            "committed": committed,
            "extracted": datetime.now(UTC).strftime("%Y-%m-%d"),
            "note": "property names of each component; the simulator refuses others with "
            "400 'property X should not exist' (NestJS forbidNonWhitelisted)",
        },
        "objects": {name: sorted(comps[name]["properties"]) for name in OBJECTS},
        "enums": enums,
        "defaults": default_values,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m bridge.sim.schema OPENAPI.json COMMIT COMMIT_DATE",
              file=sys.stderr)
        return 2
    schema = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    print(json.dumps(extract(schema, argv[1], argv[2]), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
