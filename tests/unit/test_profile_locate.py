"""A profile behind a directory the user may not enter is one clear line, not an internal
error: given as a path, it says so; looked up by NAME, a search directory that cannot be
searched is skipped (the profile is found in the next one) and named if it is found in
none; `init` into such a directory says so too. Run as another user than the directories'
owner (root drops to nobody for it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.cli.scaffold import init
from bridge.errors import ProfileError, UsageError
from bridge.profile import find_profile
from bridge.profile.loader import load_profile

NOBODY = 65534


@contextlib.contextmanager
def as_another_user() -> Iterator[None]:
    if os.geteuid() != 0:
        yield  # the directories below are closed to their owner too (mode 000)
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An open directory (the cwd) holding `closed/` (a profile inside, closed to others)."""
    top = Path(tempfile.mkdtemp(prefix="locate-"))
    (top / "closed" / "vapi-bridge").mkdir(parents=True)
    (top / "closed" / "in.yaml").write_text("call: {}\n")
    (top / "closed" / "vapi-bridge" / "desk.yaml").write_text("call: {}\n")
    top.chmod(0o755)
    (top / "closed").chmod(0o700 if os.geteuid() == 0 else 0)
    monkeypatch.chdir(top)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(top / "closed"))
    try:
        yield top
    finally:
        (top / "closed").chmod(0o700)
        shutil.rmtree(top)


def test_a_path_through_a_closed_directory_is_one_line(site: Path) -> None:
    with as_another_user(), pytest.raises(ProfileError) as caught:
        find_profile(str(site / "closed" / "in.yaml"))
    assert str(caught.value) == (
        f"cannot read profile {site / 'closed' / 'in.yaml'}: permission denied on a directory "
        f"of its path — check the path's permissions, or run as a user who may read it")


def test_a_search_directory_that_cannot_be_searched_is_skipped_and_named(site: Path) -> None:
    (site / "config").mkdir(mode=0o755)
    (site / "config" / "desk.yaml").write_text("call: {}\n")
    (site / "config" / "desk.yaml").chmod(0o644)
    with as_another_user():
        assert find_profile("desk") == Path("config") / "desk.yaml", "found further on"
        with pytest.raises(ProfileError) as caught:
            find_profile("lobby")
    assert f"could not search {site / 'closed' / 'vapi-bridge'}: permission denied) — " \
        "give a path, or create it: vapi-bridge init lobby" in str(caught.value)


def test_init_into_a_closed_directory_is_one_line(site: Path) -> None:
    with as_another_user(), pytest.raises(UsageError) as caught:
        init(str(site / "closed" / "x"))
    assert str(caught.value).startswith(f"cannot write {site / 'closed' / 'x'}: "
                                        "permission denied on a directory of its path")


@pytest.mark.parametrize("owner", ["the user", "another user"])
def test_an_unreadable_profile_names_the_permission_that_applies(owner: str) -> None:
    """The fix named is the one that works: the owner's bit for the user's own file (where
    chmod o+r, once the only advice, changes nothing), the others' bit for anyone else's."""
    top = Path(tempfile.mkdtemp(prefix="unreadable-"))
    top.chmod(0o755)
    profile = top / "desk.yaml"
    profile.write_text("call: {}\n")
    mine = owner == "the user"
    if mine and os.geteuid() == 0:
        os.chown(profile, NOBODY, NOBODY)
    profile.chmod(0o077 if mine else 0o600)  # the others' bits cannot help an owner
    try:
        with as_another_user(), pytest.raises(ProfileError) as caught:
            load_profile(str(profile))
    finally:
        shutil.rmtree(top)
    said = str(caught.value)
    assert said.startswith(f"cannot read profile {profile}: Permission denied — "), said
    assert (f"chmod u+r {profile}" if mine else f"chmod o+r {profile}") in said, said


def test_a_file_output_behind_a_closed_directory_is_one_line() -> None:
    top = Path(tempfile.mkdtemp(prefix="closed-out-"))
    top.chmod(0o755)
    (top / "closed").mkdir(mode=0o700)
    if os.geteuid() != 0:
        (top / "closed").chmod(0)
    profile = top / "desk.yaml"
    profile.write_text(f"assistant:\n  id: echo\naudio:\n  output: file:{top}/closed/sub/x.wav\n")
    profile.chmod(0o644)
    import importlib.readers  # noqa: F401  (read now: nobody may not read this venv)
    try:
        with as_another_user(), pytest.raises(ProfileError) as caught:
            load_profile(str(profile))
    finally:
        (top / "closed").chmod(0o700)
        shutil.rmtree(top)
    said = str(caught.value)
    assert "audio.output: cannot reach " in said and "Permission denied" in said, said


def test_a_listen_address_whose_name_does_not_resolve_says_why_once() -> None:
    from bridge.profile.listen import bind_cause

    assert bind_cause(socket.gaierror(-2, "Name or service not known")) == \
        "Name or service not known"
    assert bind_cause(OSError(98, "error while attempting to bind on address "
                                  "('127.0.0.1', 8080): address already in use")) == \
        "Address already in use"
