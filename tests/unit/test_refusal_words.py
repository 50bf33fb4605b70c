"""Vapi's 400 to the call's body, said in the profile's keys (`bridge.profile.refusals`):
Vapi's validator names the body's fields (`assistantOverrides.…`), which the user never
wrote; `run`'s line names the profile key that wrote each, and where to fix it."""

from __future__ import annotations

from bridge.errors import BodyRefused
from bridge.profile import parse_profile
from bridge.profile.refusals import in_profile_keys

PROFILE = ("assistant:\n  id: echo\n  overrides:\n    firstMessage: hi\n"
           "call:\n  max_duration_seconds: 20\n")


def refused(*said: str, overrides: list[str] | None = None) -> str:
    profile = parse_profile(PROFILE, origin="/etc/vapi-bridge/desk.yaml", overrides=overrides)
    return str(in_profile_keys(profile, BodyRefused("as Vapi said it", what="the call",
                                                    said=said)))


def test_each_line_names_the_profile_key_that_wrote_it() -> None:
    assert refused("assistantOverrides.maxDurationSeconds must not be less than 10",
                   "assistantOverrides.each value in clientMessages must be one of the "
                   "following values: transcript, assistant.speechStarted",
                   "transport.audioFormat.sampleRate must not be less than 4000") == (
        "Vapi refused the call (400 Bad Request): call.max_duration_seconds must not be less "
        "than 10; each value in assistant.overrides.clientMessages must be one of the "
        "following values: transcript, assistant.speechStarted; wire.sample_rate must not "
        "be less than 4000 — fix them in /etc/vapi-bridge/desk.yaml (`vapi-bridge check` "
        "names each in the profile's keys)")


def test_a_key_vapi_lacks_given_by_set_points_to_the_set() -> None:
    assert refused("assistantOverrides.voice.property stabilty should not exist",
                   overrides=["assistant.overrides={voice: {stabilty: 1}}"]) == (
        "Vapi refused the call (400 Bad Request): assistant.overrides.voice.stabilty is no "
        "key Vapi takes — correct or remove it in the --set that gave assistant.overrides "
        "(`vapi-bridge check` names the key meant, and each key Vapi's schema lacks at once)")


def test_what_vapi_did_not_list_is_said_as_vapi_said_it() -> None:
    assert refused() == "as Vapi said it"
    assert refused("Couldn't Get Assistant.").startswith(
        "Vapi refused the call (400 Bad Request): Couldn't Get Assistant. — fix it in")
