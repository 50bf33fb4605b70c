"""Profile errors: one line naming file, line, key path and the fix; exit code 2."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import ProfileError
from bridge.profile import api_key, parse_profile

ROOT = Path(__file__).resolve().parents[2]
GOOD = "assistant:\n  id: asst-1\n"


def error_of(text: str) -> str:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, origin="kiosk.yaml")
    return str(info.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("assistant:\n  id: a\nwire:\n  fromat: mulaw\n",
     "kiosk.yaml:4: wire.fromat: unknown key (did you mean 'format'?)"),
    ("assistant:\n  id: a\nwire:\n  format: ulaw\n",
     "kiosk.yaml:4: wire.format: 'ulaw' is not one of: pcm_s16le, mulaw"),
    ("assitant:\n  id: a\n", "kiosk.yaml:1: assitant: unknown section (did you mean "
                             "'assistant'?)"),
    ("assistant:\n  id: a\ncall:\n  max_duration_seconds: five\n",
     "kiosk.yaml:4: call.max_duration_seconds: expected a whole number from 10 to 43200"),
    ("assistant:\n  id: a\naudio:\n  block_ms: 1000\n",
     "kiosk.yaml:4: audio.block_ms: must be from 5 to 100 (got 1000)"),
    ("assistant: {}\n", "kiosk.yaml:1: assistant: set exactly one of assistant.id"),
    ("assistant:\n  id: a\n  inline: {name: x}\n", "set exactly one of assistant.id"),
    ("assistant:\n  id: a\napi:\n  key: sk-123\n",
     "kiosk.yaml:4: api.key: do not put the API key in the profile"),
    ("assistant:\n  id: a\naudio:\n  input: file:/nonexistent.wav\n",
     "kiosk.yaml:4: audio.input: no such file: /nonexistent.wav"),
    ("assistant:\n  id: a\nwire:\n  sample_rate: 11025\n",
     "wire.sample_rate: must be a multiple of 50 Hz"),
    ("assistant:\n  id: a\n   wire: x\n", "kiosk.yaml:3: not valid YAML"),
    # the README's placeholders, unquoted: YAML's mappings
    ("assistant:\n  id: a\nrecord:\n  path: {call_id}\n",
     'kiosk.yaml:4: record.path: expected a text value, got a mapping — a value that starts '
     'with { reads as a mapping: quote it, "{call_id}.wav"'),
    ("assistant:\n  id: a\nrecord:\n  path: {profile}/{call_id}\n",
     'kiosk.yaml:4: not valid YAML: expected <block end>, but found \'<scalar>\' — a value '
     'that starts with { is a mapping to YAML: quote it (path: "{profile}/{call_id}.wav")'),
    ("assistant:\n  id: a\nwire: mulaw\n", "kiosk.yaml:3: wire: must be a mapping"),
    ("- a\n- b\n", "kiosk.yaml:1: the profile must be a mapping"),
    ("assistant:\n  id: a\nassistant:\n  id: b\n", "kiosk.yaml:3: assistant: appears twice"),
])
def test_each_error_class_names_line_key_and_fix(text: str, expected: str) -> None:
    message = error_of(text)
    assert expected in message
    assert "\n" not in message


def test_a_control_character_in_a_key_is_shown_escaped() -> None:
    """A key is the file's text: a NUL or a terminal escape in an unknown key was printed
    raw in the error line (the NUL a hole in the line, ESC [31m the rest of it red)."""
    said = error_of('assistant:\n  id: a\naudio:\n  "in\\0put": null\n')
    assert said == "kiosk.yaml:4: audio.in\\x00put: unknown key (did you mean 'input'?)"
    said = error_of('assistant:\n  id: a\naudio:\n  "x\\e[31my": 1\n')
    assert said.startswith("kiosk.yaml:4: audio.x\\x1b[31my: unknown key; valid keys: "), said


@pytest.mark.parametrize(("item", "expected"), [
    ("assistant.overrides.\x1b[2J=[", "--set assistant.overrides.\\x1b[2J: "),  # not YAML
    ("audio.\x1b[31m.=1", "--set audio.\\x1b[31m.: a key name is empty"),
    ("audio.input.\x1b]0;x\x07=1",
     "--set audio.input.\\x1b]0;x\\x07: audio.input is not a mapping"),
    # (a section name no profile has: it was "kiosk.yaml:-1: … is this a vapi-bridge profile?")
    ("\x1b[31maudio.x=1", "--set \\x1b[31maudio: unknown section"),
])
def test_a_control_character_in_a_set_key_is_shown_escaped(item: str, expected: str) -> None:
    """The KEY of a `--set` is the operator's text, as a file's keys are (above): a pasted
    terminal escape was printed raw in the error line (ESC [2J cleared the screen)."""
    with pytest.raises(ProfileError) as err:
        parse_profile(GOOD, origin="kiosk.yaml", overrides=[item])
    assert str(err.value).startswith(expected), str(err.value)
    assert "\x1b" not in str(err.value) and "\x07" not in str(err.value)


def test_keys_vapi_no_longer_accepts() -> None:
    gone = error_of(GOOD + "  overrides:\n    silenceTimeoutSeconds: 20\n")
    assert gone.startswith("kiosk.yaml:4: assistant.overrides.silenceTimeoutSeconds: Vapi's "
                           "API no longer accepts silenceTimeoutSeconds")
    assert "Vapi dashboard (Advanced, Call Timeout Settings)" in gone
    old = parse_profile(GOOD + "call:\n  silence_timeout_seconds: 30\n")
    assert "assistantOverrides" not in old.create_body()  # read, warned, never sent
    assert [w.split(":")[0] for w in old.warnings] == ["call.silence_timeout_seconds is ignored"]
    assert parse_profile(GOOD + "wire:\n  format: mulaw\n").warnings == ()


def test_defaults_and_the_call_body() -> None:
    p = parse_profile(GOOD + "wire:\n  format: mulaw\ncall:\n  max_duration_seconds: 60\n")
    assert p.wire.sample_rate == 8000 and p.wire.frame_bytes == 160
    body = p.create_body()
    assert body["assistantId"] == "asst-1"
    assert body["assistantOverrides"] == {"maxDurationSeconds": 60}
    assert body["transport"]["audioFormat"] == {"format": "mulaw", "container": "raw",
                                                "sampleRate": 8000}
    assert "phoneNumberId" not in body and "customer" not in body


def test_key_from_env_file_or_credentials_dir(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    p = parse_profile(GOOD)
    with pytest.raises(ProfileError, match="no Vapi API key: set the environment variable"):
        api_key(p)
    (tmp_path / "vapi-api-key").write_text("from-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert api_key(p) == "from-credential"
    key_file = tmp_path / "key"
    key_file.write_text("from-file")
    p2 = parse_profile(GOOD + f"api:\n  key_file: {key_file}\n")
    assert api_key(p2) == "from-file"
    monkeypatch.setenv("VAPI_API_KEY", "from-env")
    assert api_key(p2) == "from-env"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_example_profiles_are_valid(name: str) -> None:
    parse_profile((ROOT / "config" / name).read_text(), origin=name)


def test_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "frontdesk.yaml"
    bad.write_text("assistant:\n  id: a\naudio:\n  outptu: default\n")
    result = subprocess.run([sys.executable, "-m", "bridge", "run", "--profile", str(bad)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"vapi-bridge: {bad}:4: audio.outptu: unknown key (did you mean 'output'?)"]
    assert "Traceback" not in result.stderr


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_only_profile_errors_escape_the_loader(text: str) -> None:
    with contextlib.suppress(ProfileError):
        parse_profile(text, origin="fuzz.yaml")


def test_null_device_written_as_yaml_null_is_the_null_device() -> None:
    p = parse_profile(GOOD + "audio:\n  input: null\n  output:\n")
    assert p.audio.input == "null" and p.audio.output == "null"
    assert parse_profile(GOOD).audio.input == "default"
    assert parse_profile(GOOD, overrides=["audio.input=null"]).audio.input == "null"


@pytest.mark.parametrize("item", ['service.on_event="./x', "assistant.id=[", "call.x={a: b"])
def test_an_override_that_is_not_yaml_is_one_line_naming_the_key(item: str) -> None:
    key = item.split("=", 1)[0]
    with pytest.raises(ProfileError) as err:
        parse_profile(GOOD, overrides=[item])
    assert str(err.value).startswith(f"--set {key}: ") and "\n" not in str(err.value)
    suggested = str(err.value).rsplit("--set '", 1)[1].rstrip("'")
    assert suggested.startswith(key + "=")
    assert yaml.safe_load(suggested.split("=", 1)[1]) == item.split("=", 1)[1], \
        "the example quotes the value the user typed"


@pytest.mark.parametrize(("raw", "value"), [
    # text a shell user types is text: YAML read these as a mapping, true, the octal 83, a
    # number, "Room" (a comment), and Vapi refused the call or said the wrong words
    ("Welcome to ACME: how can I help?", "Welcome to ACME: how can I help?"),
    ("yes", "yes"), ("0123", "0123"), ("+15551234567", "+15551234567"),
    ("Room #5", "Room #5"), ("2026-12-05", "2026-12-05"),
    # numbers, true/false and null as before, and YAML where it is asked for
    ("30", 30), ("-1.5", -1.5), ("true", True), ("False", False), ("null", None),
    ("{speed: 1.2}", {"speed": 1.2}), ("[a, b]", ["a", "b"]), ("'yes'", "yes"),
])
def test_a_set_value_is_text_unless_it_is_plainly_something_else(raw: str, value: object
                                                                  ) -> None:
    p = parse_profile(GOOD, overrides=[f"assistant.overrides.firstMessage={raw}"])
    assert p.assistant.overrides["firstMessage"] == value


def test_the_profile_s_own_keys_read_a_set_value_as_the_file_does() -> None:
    """Typed keys check what they are given: YAML's readings that the file accepts work the
    same with --set (the text rule above is for what goes to Vapi as it is)."""
    p = parse_profile(GOOD, overrides=["api.allow_plaintext=yes", "sounds.hang=off",
                                       "call.max_daily_minutes=.5"])
    assert p.api.allow_plaintext is True and p.sounds.hang is None
    assert p.call.max_daily_minutes == 0.5
    with pytest.raises(ProfileError) as err:  # YAML that reads as no date: one line
        parse_profile(GOOD, overrides=["assistant.overrides.firstMessage=[2026-13-45]"])
    assert str(err.value).startswith("--set assistant.overrides.firstMessage: ")


def test_an_override_reaches_a_section_the_file_leaves_empty() -> None:
    """`vapi-bridge init` writes sections whose keys are all commented out (`http:` with
    nothing under it loads as null): --set still fills them."""
    from bridge.cli.scaffold import profile_text

    text = profile_text("desk").replace("00000000-0000-0000-0000-000000000000", "asst-1")
    p = parse_profile(text, origin="desk.yaml", overrides=["http.listen=127.0.0.1:8080"])
    assert p.http.listen == "127.0.0.1:8080"


@pytest.mark.parametrize(("item", "expected"), [
    ("foo.bar=1", "--set foo: unknown section"),
    ("audio.playout_min_ms=500", "--set audio.playout_min_ms: audio.playout_start_ms (60) "
                                 "must lie between audio.playout_min_ms (500)"),
    ("api.base_url=notaurl", "--set api.base_url: 'notaurl' is not an http:// or https:// "
                             "URL with a host"),
    ("transcript.print=yes", "--set transcript.print: true (YAML's reading of a bare yes, "
                             "no, on, true…) is not one of: auto, finals, all, off"),
    # an inline assistant given beside the file's assistant.id: the --set is named, with
    # the --set that fixes it (it pointed at the file's line, with no fix)
    ("assistant.inline={firstMessage: Hi}", "--set assistant.inline: set exactly one of "
     "assistant.id (an assistant from the Vapi dashboard) or assistant.inline (both are "
     "set; add --set assistant.id=null)"),
])
def test_an_override_error_names_the_override(item: str, expected: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile(GOOD, origin="kiosk.yaml", overrides=[item])
    assert str(err.value).startswith(expected)


def test_a_call_name_longer_than_vapi_keeps_loads_with_a_warning() -> None:
    """31-40 characters loaded before (and were cut): still loads, now said."""
    long = parse_profile(GOOD + "call:\n  name: " + "x" * 38 + "\n", origin="kiosk.yaml")
    assert long.call.name == "x" * 38
    assert long.warnings == ('call.name: 38 characters; the first 30 are kept (Vapi keeps '
                             '40, and each attempt\'s marker " #<8 hex>" takes 10)',)
    assert parse_profile(GOOD + "call:\n  name: " + "x" * 30 + "\n").warnings == ()


def test_a_warning_names_the_set_that_gave_its_key_not_the_file() -> None:
    given = parse_profile(GOOD, origin="kiosk.yaml", overrides=["call.name=" + "x" * 35,
                                                                "call.silence_timeout_seconds=30"])
    lines = given.warning_lines()
    assert lines[0].startswith("--set call.silence_timeout_seconds is ignored"), lines
    assert lines[1].startswith("--set call.name: 35 characters"), lines
    written = parse_profile(GOOD + "call:\n  name: " + "x" * 35 + "\n", origin="kiosk.yaml")
    assert written.warning_lines()[0].startswith("kiosk.yaml: call.name: 35 characters")


def test_an_override_sets_one_key_inside_the_assistant_overrides() -> None:
    """`--set assistant.overrides.firstMessage=…` changes that key and keeps the others the
    file gives (it was refused as an unknown key); a key inside a non-mapping is refused."""
    text = GOOD + "  overrides:\n    variableValues: {desk: Lobby}\n"
    p = parse_profile(text, origin="kiosk.yaml", overrides=[
        "assistant.overrides.firstMessage=Hello there", "assistant.overrides.voice.speed=1.2"])
    assert p.assistant.overrides == {"variableValues": {"desk": "Lobby"},
                                     "firstMessage": "Hello there", "voice": {"speed": 1.2}}
    with pytest.raises(ProfileError) as err:
        parse_profile(GOOD, origin="kiosk.yaml", overrides=["audio.input.x=1"])
    assert str(err.value) == ("--set audio.input.x: audio.input is not a mapping; give "
                              "--set audio.input=VALUE")
    with pytest.raises(ProfileError) as err:
        parse_profile(GOOD, origin="kiosk.yaml", overrides=[
            "assistant.overrides.silenceTimeoutSeconds=30"])
    assert str(err.value).startswith("--set assistant.overrides.silenceTimeoutSeconds: ")



@pytest.mark.parametrize(("item", "expected"), [
    ("assistant.overide.x=1", "--set assistant.overide: unknown key (did you mean "
                              "'overrides'?)"),
    ("nosection.x.y=1", "--set nosection: unknown section"),
    ("assistant.overrides.=1", "--set assistant.overrides.: a key name is empty"),
    ("assistant.overrides.firstMessage.x=1", "--set assistant.overrides.firstMessage.x: "
                                             "assistant.overrides.firstMessage is not a "
                                             "mapping"),
    # a list item by index was sent to Vapi as a key named "messages[0]" (devwalk helper)
    ("assistant.overrides.model.messages[0].content=x", "--set assistant.overrides.model."
     "messages[0].content: a list's item cannot be set by its index — give the whole list, "
     "as YAML: --set 'assistant.overrides.model.messages=[…]'"),
])
def test_a_nested_override_is_checked_as_a_flat_one(item: str, expected: str) -> None:
    """A typo in the section or key gets the usual hint; an empty key name, a key inside
    a value that is not a mapping, or a list's item, is refused rather than sent to Vapi."""
    with pytest.raises(ProfileError) as err:
        parse_profile(GOOD + "  overrides: {firstMessage: Hi}\n", origin="kiosk.yaml",
                      overrides=[item])
    assert str(err.value).startswith(expected), err.value


@pytest.mark.parametrize(("where", "overrides", "expected"), [
    ("api:\n  base_url: http://10.0.0.1:8099\n", [], "kiosk.yaml:4: api.base_url: uses "
     "unencrypted http:// to a non-loopback host; use https/wss, or set "
     "api.allow_plaintext: true"),
    ("", ["api.base_url=http://vapi.example.com"], "--set api.base_url: uses unencrypted"),
])
def test_plain_http_to_another_host_is_a_profile_error(where: str, overrides: list[str],
                                                       expected: str) -> None:
    """Named where it was given, as any profile error (`check` and `run` said it without
    the file's line, and `check` stopped before its checklist)."""
    with pytest.raises(ProfileError) as err:
        parse_profile(GOOD + where, origin="kiosk.yaml", overrides=overrides)
    assert str(err.value).startswith(expected)
    allowed = parse_profile(GOOD + "api:\n  base_url: http://10.0.0.1:8099\n"
                            "  allow_plaintext: true\n", origin="kiosk.yaml")
    assert allowed.api.base_url == "http://10.0.0.1:8099"


@pytest.mark.parametrize("url", ["notaurl", "ftp://x", "https://", "http://h:99999",
                                 "api.vapi.ai"])
def test_a_base_url_that_is_no_http_url_is_a_profile_error(url: str) -> None:
    assert error_of(GOOD + f"api:\n  base_url: {url}\n").startswith(
        "kiosk.yaml:4: api.base_url: ")


@pytest.mark.parametrize("url", ["http://user:S3CRET@127.0.0.1:8099", "https://S3CRET@api.vapi.ai",
                                 "https://u:S3CRET@h:99999"])
def test_a_base_url_with_a_login_is_refused_and_the_password_never_shown(url: str) -> None:
    """httpx would send it as Basic auth in place of the key (a good key then "rejected"),
    and the URL is printed in messages."""
    error = error_of(GOOD + f"api:\n  base_url: {url}\n")
    assert error.startswith("kiosk.yaml:4: api.base_url: "), error
    assert "S3CRET" not in error and "…@" in error, error


@pytest.mark.parametrize(("origin", "name"), [
    ("kdesk", "kdesk"), ("../pp/kdesk", "kdesk"), ("/etc/x/lobby.yaml", "lobby"),
    ("a.b.yml", "a.b"), ("<profile>", "profile")])
def test_the_profile_is_named_by_its_file_whatever_its_directory(origin: str,
                                                                 name: str) -> None:
    """The name places the control socket: never a path out of its private directory."""
    assert parse_profile(GOOD, origin=origin).name == name


def test_an_unreadable_key_file_names_the_key(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAPI_API_KEY", raising=False)
    p = parse_profile(GOOD + "api:\n  key_file: nokey.txt\n", directory=tmp_path)
    with pytest.raises(ProfileError) as err:
        api_key(p)
    assert str(err.value).startswith(f"api.key_file: cannot read the key file "
                                     f"{tmp_path / 'nokey.txt'}: No such file or directory")


def test_an_on_event_program_given_by_set_is_named_as_the_set() -> None:
    from bridge.service.on_event import command_line

    with pytest.raises(ProfileError) as err:
        command_line(parse_profile(GOOD, origin="kiosk.yaml",
                                   overrides=["service.on_event=/nonexistent/x"]))
    assert str(err.value).startswith("--set service.on_event: no such file /nonexistent/x")
    with pytest.raises(ProfileError) as err:
        command_line(parse_profile(GOOD + "service:\n  on_event: /nonexistent/x\n",
                                   origin="kiosk.yaml"))
    assert str(err.value).startswith("kiosk.yaml: service.on_event: no such file")


@pytest.mark.parametrize(("listed", "warned"), [
    (["transcript", "status-update"], True),
    (["transcript", "speech-update"], False),  # the fallback: flushed at the visitor's onset
    (["user-interrupted"], False),
])
def test_client_messages_without_a_barge_in_signal_are_warned_of(listed: list[str],
                                                                 warned: bool) -> None:
    p = parse_profile(GOOD + "  overrides:\n    clientMessages: " + json.dumps(listed) + "\n")
    found = [w for w in p.warnings if "clientMessages" in w]
    assert bool(found) == warned, p.warnings
    by_set = parse_profile(GOOD, origin="kiosk.yaml", overrides=[
        f"assistant.overrides.clientMessages={json.dumps(listed)}"])
    assert [w for w in by_set.warnings if "(from --set)" in w] == (
        [w.replace("clientMessages", "clientMessages (from --set)") for w in found]), \
        "a warning names the --set that caused it"
    if warned:
        assert found[0] == ("assistant.overrides.clientMessages leaves out both "
                            "user-interrupted and speech-update: the speaker cannot stop when "
                            "the visitor interrupts — add user-interrupted")


@pytest.mark.parametrize("text", ["root:*:20228:0:99999:7:::\n", "my password is hunter2: x\n",
                                  '"sk-live-0123456789abcdef0123456789abcdef01": 1\n'])
def test_another_files_first_line_is_never_echoed(text: str) -> None:
    """`-p /etc/shadow` (as root): its first line parses as a key; the error names the file
    and line, never the text (a password hash, a secret)."""
    error = error_of(text)
    assert error == ("kiosk.yaml:1: a key that is no section name — is this a vapi-bridge "
                     "profile? (vapi-bridge init NAME writes one)"), error


@pytest.mark.parametrize("key", ["sounds.offline", "record.path", "audio.output",
                                 "api.key_file", "service.control_socket"])
def test_a_nul_character_in_a_value_is_a_profile_error_naming_the_key(key: str) -> None:
    # a quoted "\0" reached open() as an internal error (sounds.*, exit 1), or passed
    # `check` as a recording directory that can be written ("rec\0x")
    section, name = key.split(".")
    value = '"file:a\\0b.wav"' if key == "audio.output" else '"a\\0b.wav"'
    assert error_of(f"{GOOD}{section}:\n  {name}: {value}\n") == (
        f"kiosk.yaml:4: {key}: holds a NUL character (\\0 in a quoted value): remove it")
