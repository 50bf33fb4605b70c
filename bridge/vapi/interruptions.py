"""When the visitor has interrupted the assistant, so that queued playout must be dropped.

Vapi decides whether the assistant is interrupted, and says so with `user-interrupted`
(carrying the `turnId` of the cut reply); after it, it sends no more of that reply. A
`speech-update` with role `user` and status `started` only means the visitor made a
sound: Vapi does not interrupt the first message (`firstMessageInterruptionsEnabled`
defaults to false), a `say` sent with `interruptionsEnabled: false`, or a backchannel
("okay", "yeah", "right") that its `stopSpeakingPlan` never lets interrupt. Flushing on it
would cut 100-200 ms out of a line Vapi goes on speaking.

So the flush follows `user-interrupted`, and falls back to the visitor's speech start
only when the call's `clientMessages` leave `user-interrupted` out (then it is the only
sign there is). The list is the one sent in `assistantOverrides`, else the inline
assistant's, else Vapi's default. An assistant used by id keeps the list set in Vapi's
dashboard, which the bridge cannot see: it assumes the default there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.vapi.messages import Event, SpeechUpdate, UserInterrupted

# Vapi's default `clientMessages` (the `CreateAssistantDTO` schema's description)
DEFAULT_CLIENT_MESSAGES = (
    "conversation-update", "function-call", "hang", "model-output", "speech-update",
    "status-update", "transfer-update", "transcript", "tool-calls", "user-interrupted",
    "voice-input", "workflow.node.started", "assistant.started",
)
INTERRUPTED = "user-interrupted"


def client_messages(create_body: Mapping[str, Any],
                    stored: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """The `clientMessages` a POST /call body gives the call; for an `assistantId` that
    lists none, the stored assistant's (`stored`: from `GET /assistant`, by id) when known,
    else Vapi's default list."""
    for source in ("assistantOverrides", "assistant"):
        part = create_body.get(source)
        listed = part.get("clientMessages") if isinstance(part, Mapping) else None
        if isinstance(listed, list):
            return tuple(m for m in listed if isinstance(m, str))
    assistant_id = create_body.get("assistantId")
    if stored is not None and isinstance(assistant_id, str) and assistant_id in stored:
        return stored[assistant_id]
    return DEFAULT_CLIENT_MESSAGES


class BargeInRule:
    """Which server event means "drop what the speaker has queued"."""

    def __init__(self, interrupted_sent: bool) -> None:
        self.interrupted_sent = interrupted_sent

    @classmethod
    def for_call(cls, create_body: Mapping[str, Any],
                 stored: Mapping[str, tuple[str, ...]] | None = None) -> BargeInRule:
        return cls(INTERRUPTED in client_messages(create_body, stored))

    @property
    def signal(self) -> str:
        return INTERRUPTED if self.interrupted_sent else "speech-update user started"

    def is_barge_in(self, event: Event) -> bool:
        if isinstance(event, UserInterrupted):  # always Vapi's word, whatever the list says
            return True
        return (not self.interrupted_sent and isinstance(event, SpeechUpdate)
                and event.role == "user" and event.status == "started")
