"""The note a failed reload leaves in STATUS= and `ctl status`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ProfileError
from bridge.profile import load_profile
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
