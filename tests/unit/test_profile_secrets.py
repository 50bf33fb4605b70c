"""A key written where the profile expects the name of its variable or file is refused in
one line that names the setting and the fix, never showing the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ProfileError
from bridge.profile import api_key, parse_profile

GOOD = "assistant:\n  id: asst-1\n"
KEY = "3f2a9c1e-7b4d-4e8a-9f10-2c3d4e5f6a7b"
FIX = ("must name an environment variable (e.g. VAPI_API_KEY), not hold the key itself: put "
       "the key in that variable or in api.key_file")


def error_of(text: str, overrides: list[str] | None = None) -> str:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, origin="kiosk.yaml", overrides=overrides)
    message = str(info.value)
    assert "\n" not in message
    for part in (KEY, KEY[:8], KEY[-12:]):
        assert part not in message, message
    return message


@pytest.mark.parametrize("value", [KEY, f'"{KEY}"', "sk-live 1234", "1abc", "'7'", "9"])
def test_a_key_env_that_is_no_variable_name_is_refused_unshown(value: str) -> None:
    message = error_of(GOOD + f"api:\n  key_env: {value}\n")
    if value in (KEY, f'"{KEY}"'):
        assert message == f"kiosk.yaml:4: api.key_env: {FIX}"
    else:
        assert message.startswith("kiosk.yaml:4: api.key_env: must name an environment")


def test_a_key_env_given_by_set_is_refused_unshown() -> None:
    assert error_of(GOOD, [f"api.key_env={KEY}"]) == f"--set api.key_env: {FIX}"


def test_the_public_key_env_names_its_own_variable_and_file() -> None:
    message = error_of(GOOD + f"api:\n  public_key_env: {KEY}\n")
    assert message == ("kiosk.yaml:4: api.public_key_env: must name an environment variable "
                       "(e.g. VAPI_PUBLIC_KEY), not hold the key itself: put the key in that "
                       "variable or in api.public_key_file")


@pytest.mark.parametrize("name", ["VAPI_API_KEY", "_KIOSK_KEY2", "vapi_key"])
def test_variable_names_are_accepted(name: str) -> None:
    assert parse_profile(GOOD + f"api:\n  key_env: {name}\n").api.key_env == name


@pytest.mark.parametrize("setting", ["key_file", "public_key_file"])
def test_a_key_file_that_holds_the_key_itself_is_refused_unshown(setting: str) -> None:
    message = error_of(GOOD + f"api:\n  {setting}: {KEY}\n")
    assert message.startswith(f"kiosk.yaml:4: api.{setting}: must be the path of a file "
                              f"holding the key, not the key itself")
    assert parse_profile(GOOD + f"api:\n  {setting}: /etc/vapi-bridge/key\n")


@pytest.mark.parametrize("item", [
    f"api.key_env={KEY}: x",  # not YAML (a mapping value where none is allowed)
    f"api.key_env=[{KEY}",
    f"key_env={KEY}",  # no section
    KEY,  # no '=' at all
])
def test_an_override_that_cannot_be_read_never_shows_its_value(item: str) -> None:
    error_of(GOOD, [item])


def test_a_tagged_value_that_cannot_be_read_is_a_profile_error_unshown() -> None:
    """`!!int` on a key's text raised ValueError (an internal error quoting the value)."""
    message = error_of(GOOD + f"api:\n  key_env: !!int {KEY[:8]}\n")
    assert message.startswith("kiosk.yaml:4: api.key_env: its value cannot be read as YAML")
    other = error_of(GOOD + "audio:\n  block_ms: !!int abc\n")
    assert other.startswith("kiosk.yaml:4: audio.block_ms: invalid literal for int()")


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_key_variable_is_called_empty_not_unset(value: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("KIOSK_KEY", value)
    p = parse_profile(GOOD + "api:\n  key_env: KIOSK_KEY\n", origin="kiosk.yaml")
    with pytest.raises(ProfileError) as err:
        api_key(p)
    assert str(err.value) == ("the environment variable KIOSK_KEY is set but empty — put the "
                              "Vapi API key in it, or unset it and use api.key_file in "
                              "kiosk.yaml or a systemd credential named vapi-api-key")
    (tmp_path / "key").write_text("from-file\n")  # another source still serves
    with_file = parse_profile(GOOD + f"api:\n  key_env: KIOSK_KEY\n  key_file: {tmp_path}/key\n")
    assert api_key(with_file) == "from-file"
    monkeypatch.delenv("KIOSK_KEY")
    with pytest.raises(ProfileError, match=r"^no Vapi API key: set the environment variable "
                                           "KIOSK_KEY"):
        api_key(p)


def test_the_placeholder_assistant_is_named_where_it_was_given() -> None:
    nil = "00000000-0000-0000-0000-000000000000"
    assert parse_profile(GOOD).placeholder() is None
    in_file = parse_profile(f"assistant:\n  id: {nil}\n", origin="kiosk.yaml").placeholder()
    assert in_file is not None and in_file.startswith(
        "assistant.id in kiosk.yaml is still the example's placeholder — copy the assistant's")
    by_set = parse_profile(GOOD, origin="kiosk.yaml", overrides=[f"assistant.id={nil}"])
    with pytest.raises(ProfileError, match=r"^--set assistant\.id is still the example's"):
        by_set.refuse_placeholder()
