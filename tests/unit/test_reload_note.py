"""The note a failed reload leaves in STATUS= and `ctl status`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ProfileError
from bridge.profile import api_key, load_profile
from bridge.service.reload import failed_note


def test_a_failed_reloads_note_shows_no_more_of_a_url_than_the_journal(tmp_path: Path) -> None:
    """A profile's URL with a path (a gateway's token in it) reached `systemctl status`,
    anyone's to read, and `ctl status` whole, while the journal's line showed its scheme."""
    desk = tmp_path / "desk.yaml"
    desk.write_text('assistant: {id: x}\n'
                    'api: {base_url: "https://gw.example:99999/vapi/tok-5ecret"}\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(str(desk))
    note = failed_note(str(caught.value))
    assert "tok-5ecret" not in note, note
    assert note.startswith(" (reload failed: the old profile is kept — "), note
    assert "api.base_url: 'https://?/…'" in note, note


def test_a_long_failure_keeps_its_cause_and_its_fix(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A reload that cannot read the key file (a long path): cut at 200 characters, the note
    lost the fix's end ("… or the file's permissions"). Now its middle goes: the setting,
    the cause and the whole fix stay, and the note stays as short."""
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    missing = "/etc/vapi-bridge/credentials/frontdesk-lobby-east-building-second-floor.key"
    desk = tmp_path / "desk.yaml"
    desk.write_text(f"assistant: {{id: x}}\napi: {{key_file: {missing}}}\n")
    with pytest.raises(ProfileError) as caught:
        api_key(load_profile(str(desk)))
    why = str(caught.value)
    assert len(why) > 200, why
    note = failed_note(why)
    assert note.startswith(" (reload failed: the old profile is kept — api.key_file: cannot "
                           "read the key file /etc/"), note
    assert note.endswith(": No such file or directory — fix the path (a relative one is "
                         "relative to the profile's directory) or the file's permissions)"), note
    assert len(note) <= len(" (reload failed: the old profile is kept — )") + 200, note
