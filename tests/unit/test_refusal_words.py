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


def test_a_key_given_by_set_points_to_the_set_whatever_vapi_said_of_it() -> None:
    """The key was read back off the worded line's first word: `each` for a list's value,
    so a --set's clientMessages typo sent the user to the profile's file."""
    assert refused("assistantOverrides.each value in clientMessages must be one of the "
                   "following values: transcript",
                   overrides=["assistant.overrides={clientMessages: [transcrpt]}"]).endswith(
        "must be one of the following values: transcript — fix it in the --set that gave "
        "assistant.overrides (`vapi-bridge check` names each in the profile's keys)")


def test_a_key_given_by_its_own_set_points_to_that_set() -> None:
    """`--set assistant.overrides.clientMessages=[…]` (the key itself, not its section) was
    sent to the profile's file: only a section's --set was looked for."""
    assert refused("assistantOverrides.each value in clientMessages must be one of the "
                   "following values: transcript",
                   overrides=["assistant.overrides.clientMessages=[transcrpt]"]).endswith(
        "must be one of the following values: transcript — fix it in the --set that gave "
        "assistant.overrides.clientMessages (`vapi-bridge check` names each in the profile's "
        "keys)")


def test_keys_from_different_places_are_each_fixed_where_they_were_written() -> None:
    assert refused("assistantOverrides.each value in clientMessages must be one of the "
                   "following values: transcript",
                   "assistantOverrides.maxDurationSeconds must not be less than 10",
                   overrides=["assistant.overrides={clientMessages: [transcrpt]}"]).endswith(
        " — fix them in the --set that gave assistant.overrides "
        "(assistant.overrides.clientMessages) and in /etc/vapi-bridge/desk.yaml "
        "(call.max_duration_seconds) (`vapi-bridge check` names each in the profile's keys)")


def test_a_long_refusal_says_the_first_few_lines_and_counts_the_rest() -> None:
    """Vapi's validator lists up to 20 lines of up to 300 characters: one 400 line ran to
    6101 characters. The first five are said, the rest counted."""
    said = [f"assistantOverrides.property k{n}{'x' * 290} should not exist" for n in range(20)]
    line = refused(*said)
    assert "; and 15 more — correct or remove them in /etc/vapi-bridge/desk.yaml" in line
    assert "k4x" in line and "k5x" not in line
    assert len(line) < 1500, len(line)
