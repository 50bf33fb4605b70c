"""Both `type`s Vapi's schema gives a transcript (`ClientMessageTranscript`) are read."""

from __future__ import annotations

import json

from bridge.vapi import messages

BRACKETED = 'transcript[transcriptType="final"]'


def test_the_bracketed_type_is_a_final_even_without_transcript_type() -> None:
    for extra in ({"transcriptType": "final"}, {}):
        event = messages.parse_event(json.dumps({"type": BRACKETED, "role": "user",
                                                 "transcript": "Is it open?", **extra}))
        assert isinstance(event, messages.Transcript) and event.final, extra
        assert (event.role, event.exact) == ("user", "Is it open?")


def test_a_plain_transcript_is_final_only_when_it_says_so() -> None:
    for kind, final in (("partial", False), ("final", True), (None, False), ("FINAL", False)):
        event = messages.parse_event(json.dumps({"type": "transcript", "role": "assistant",
                                                 "transcriptType": kind, "transcript": "Hi"}))
        assert isinstance(event, messages.Transcript) and event.final is final, kind
