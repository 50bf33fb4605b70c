"""Where a `transfer-update` says Vapi transfers the call, read as its schema sends it
(`ClientMessageTransferUpdate`): a `destination` (a number, a SIP URI or an assistant:
`TransferDestinationNumber`, `…Sip`, `…Assistant` by its `assistantName`); or, with no
`destination` (it is optional), the assistant it goes to (`toAssistant`, a
CreateAssistantDTO: its `name`) or a workflow's step (`toStepRecord`, an object the schema
leaves open: its `stepName` or `name`, if it has one). Server text: the caller makes it
inert."""

from __future__ import annotations

from typing import Any

TARGETS = ("number", "sipUri", "assistantName", "stepName")  # by destination type


def _named(record: Any, *keys: str) -> str:
    if not isinstance(record, dict):
        return ""
    return next((record[k] for k in keys if isinstance(record.get(k), str)), "")


def transfer_target(data: dict[str, Any]) -> tuple[str, str]:
    """(the destination's type, whom or what it names); ("", "") when it says neither."""
    dest = data.get("destination")
    if isinstance(dest, dict):
        kind = dest.get("type")
        return kind if isinstance(kind, str) else "", _named(dest, *TARGETS)
    if isinstance(data.get("toAssistant"), dict):
        return "assistant", _named(data["toAssistant"], "name")
    if isinstance(data.get("toStepRecord"), dict):
        return "step", _named(data["toStepRecord"], "stepName", "name")
    return "", ""
