"""`vapi-bridge check`: a checklist against the simulator, each ✗ with its fix."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import sys
from pathlib import Path

from tests.e2e.conftest import ROOT, ProfileBuilder, run_bridge


def test_check_passes_against_the_simulator(start_sim, profiles: ProfileBuilder,
                                           tmp_path: Path) -> None:
    """Each item passed: the assistant found and a recording directory that can be made
    (checked, not created) among them."""
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, record={"path": str(tmp_path / "rec/{call_id}")})
    result = run_bridge("check", "--profile", str(profile))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ API key accepted" in result.stdout
    assert "✓ input device null opens" in result.stdout
    assert " ✓ assistant 'echo' found — 'vapi-bridge-sim echo'" in result.stdout
    assert f" ✓ recordings can be written in {tmp_path / 'rec'}" in result.stdout
    assert not (tmp_path / "rec").exists()  # checked, not created
    assert result.stdout.strip().endswith("ready: all checks passed")


def test_check_shows_each_failure_with_its_fix(start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url)
    wrong_key = run_bridge("check", "--profile", str(profile), VAPI_API_KEY="sk-wrong")
    assert wrong_key.returncode == 3
    assert "✗ API key accepted — Vapi rejected the API key (401)" in wrong_key.stdout
    assert "put the PRIVATE API key (Vapi dashboard, API Keys) in the environment variable " \
        "VAPI_API_KEY, where this key came from" in wrong_key.stdout
    assert "sk-wrong" not in wrong_key.stdout + wrong_key.stderr

    missing = run_bridge("check", "--profile", str(profile), "--set",
                         "audio.input=Front Desk USB Mic")
    assert missing.returncode == 4
    assert ("✗ input device Front Desk USB Mic opens — audio.input: no input device named"
            in missing.stdout)
    assert "✓ output device null opens" in missing.stdout

    down = profiles.write("http://127.0.0.1:9", name="down")
    unreachable = run_bridge("check", "--profile", str(down))
    assert unreachable.returncode == 5
    assert ("✗ API key accepted — could not reach Vapi at 127.0.0.1:9 to check the API key: "
            in unreachable.stdout
            and "check the network and api.base_url" in unreachable.stdout)
    for result in (wrong_key, missing, unreachable):
        assert "Traceback" not in result.stderr


def test_check_lists_the_key_when_the_host_does_not_resolve(profiles: ProfileBuilder) -> None:
    """The key is looked for here: said present, or missing, whatever the network."""
    profile = profiles.write("https://no-such-host.invalid")
    found = run_bridge("check", "--profile", str(profile))
    missing = run_bridge("check", "--profile", str(profile), VAPI_API_KEY="")
    for result in (found, missing):
        assert result.returncode == 5, result.stdout + result.stderr  # the first ✗'s
        assert " ✗ API host no-such-host.invalid resolves — " in result.stdout
        assert "API key accepted" not in result.stdout, "asking Vapi needs the network"
    assert " ✓ API key present\n" in found.stdout, found.stdout
    assert " ✗ API key present — the environment variable VAPI_API_KEY is set but empty" \
        in missing.stdout, missing.stdout


def test_check_fails_what_run_would_fail_on(start_sim, profiles: ProfileBuilder,
                                           tmp_path: Path) -> None:
    """The example's placeholder assistant id, an assistant the account lacks, a recording
    directory and a control socket directory that cannot be made: each ✗ with its fix."""
    sim = start_sim(assistant="echo")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    profile = profiles.write(
        sim.base_url, assistant={"id": "00000000-0000-0000-0000-000000000000"},
        record={"path": str(blocker / "rec" / "{call_id}")},
        service={"control_socket": str(blocker / "ctl.sock")})
    result = run_bridge("check", "--profile", str(profile))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert (f" ✗ assistant '00000000-0000-0000-0000-000000000000' found — assistant.id in "
            f"{profile} is still the example's placeholder — copy the assistant's id from the "
            f"Vapi dashboard (Assistants), or use assistant.inline") in lines
    assert (f" ✗ recordings can be written in {blocker / 'rec'} — {blocker} is a file, not a "
            f"directory — change record.path, or make that a directory this user can write"
            ) in lines
    assert any(line.startswith(f" ✗ control socket directory {blocker} is usable — cannot "
                               f"create the control socket directory") and
               line.endswith("— set service.control_socket") for line in lines), lines
    assert " ✓ API key accepted" in lines and " ✓ output device null opens" in lines[-2]
    assert lines[-1] == "6 passed, 3 failed"
    assert not (blocker.is_dir() or (tmp_path / "rec").exists())

    other = run_bridge("check", "--profile", str(profile), "--set",
                       "assistant.id=3f1c9a52-8d2e-4b7a-9c11-5e0d2a7b6f43",
                       "--set", "record.path=null", "--set", "service.control_socket=null")
    assert other.returncode == 2
    assert (" ✗ assistant '3f1c9a52-8d2e-4b7a-9c11-5e0d2a7b6f43' found — Vapi has no "
            "assistant with this id for this API key — copy the assistant's id") in other.stdout
    assert "Traceback" not in result.stderr + other.stderr


def test_check_warns_of_what_vapi_would_refuse_in_the_overrides(
        start_sim, profiles: ProfileBuilder) -> None:
    """A typo in an override's key, or a clientMessages entry Vapi has no such type of:
    check said "ready: all checks passed" and `run` was then refused with 400 (devwalk
    helper). Now a warning names each as the profile has it, and the one meant."""
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, assistant={"id": "echo", "overrides": {
        "firstMesageInterruptionsEnabled": True,
        "clientMessages": ["transcript", "user-interupted"]}})
    result = run_bridge("check", "--profile", str(profile))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(
        " ! what the call sends Vapi — assistant.overrides: firstMesageInterruptionsEnabled is "
        "no key Vapi takes (did you mean 'firstMessageInterruptionsEnabled'?): Vapi refuses "
        "the call with 400") for line in lines), lines
    assert (" ! what the call sends Vapi — assistant.overrides.clientMessages: "
            "'user-interupted' is no message type Vapi sends (did you mean "
            "'user-interrupted'?)") in lines
    assert lines[-1] == "ready: all checks passed (3 warnings)"  # and the profile's own
    assert "Traceback" not in result.stderr


def test_check_names_the_key_meant_inside_a_voice_a_model_or_a_plan() -> None:
    """A typo one level down (`voice.stabilty`, a tool's `sever`): the warning named no key
    meant, as if any guess were one; the key meant is read off the schema's shape for what
    is written there (an 11labs voice's keys)."""
    from bridge.cli.check_schema import schema_items
    from bridge.profile import parse_profile

    text = ("assistant:\n  inline:\n    model: {provider: openai, model: gpt-4o, tools: "
            "[{type: function, function: {name: x}, sever: {url: 'https://x'}}]}\n"
            "    voice: {provider: 11labs, voiceId: burt, stabilty: 0.5}\n"
            "    startSpeakingPlan: {waitSecond: 0.4}\n")
    details = [item.detail.partition(": Vapi refuses")[0]
               for item in schema_items(parse_profile(text, origin="kiosk.yaml"))]
    assert sorted(details) == [
        "assistant.inline.model.tools[0]: sever is no key Vapi takes (did you mean 'server'?)",
        "assistant.inline.startSpeakingPlan: waitSecond is no key Vapi takes (did you mean "
        "'waitSeconds'?)",
        "assistant.inline.voice: stabilty is no key Vapi takes (did you mean 'stability'?)"]


def test_check_names_every_key_vapi_lacks_at_once() -> None:
    """A typo at the top of the overrides and one inside its voice: Vapi's validator (the
    simulator's too) names the deeper one only once the upper one is fixed, and so did
    `check`, which asks the same checks: a second round of check, run and 400 for it."""
    from bridge.cli.check_schema import schema_items
    from bridge.profile import parse_profile

    text = ("assistant:\n  id: echo\n  overrides:\n    silenceTimeout: 30\n"
            "    voice: {provider: 11labs, voiceId: burt, stabilty: 0.5}\n")
    details = [item.detail.partition(": Vapi refuses")[0]
               for item in schema_items(parse_profile(text, origin="kiosk.yaml"))]
    assert details == [
        "assistant.overrides: silenceTimeout is no key Vapi takes",
        "assistant.overrides.voice: stabilty is no key Vapi takes (did you mean 'stability'?)"]


def test_check_warns_on_mulaw_at_16k_and_deprecated_keys_without_failing(
        start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, wire={"format": "mulaw", "sample_rate": 16000},
                             call={"silence_timeout_seconds": 30})
    result = run_bridge("check", "--profile", str(profile))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert " ! profile — wire.sample_rate: µ-law (G.711) is 8000 Hz on telephone lines and " \
           "Vapi; 16000 Hz µ-law is unusual — set wire.sample_rate: 8000, or use pcm_s16le " \
           "for wideband" in lines
    assert any(line.startswith(" ! profile — call.silence_timeout_seconds is ignored")
               for line in lines)
    assert lines[-1] == "ready: all checks passed (2 warnings)"


def test_check_says_aec_needs_livekit_when_it_is_missing(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    """`audio.echo: aec` without livekit importable (shadowed by a package that fails to
    import, as a missing one does): ✗ with the pip command, when the devices are real
    ones (named here; this machine may have none); with a null device, as `run` has it,
    echo control is off and livekit not needed."""
    sim = start_sim(assistant="echo")
    shadow = tmp_path / "shadow" / "livekit"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named "
                                        "'livekit'\", name='livekit')\n")
    nulls = profiles.write(sim.base_url, audio={"echo": "aec"})
    unneeded = run_bridge("check", "--profile", str(nulls), PYTHONPATH=str(tmp_path / "shadow"))
    assert " ! echo cancellation (audio.echo: aec) available — not needed: with a file: or " \
           "null device echo control is off, as `run` has it" in unneeded.stdout.splitlines()
    assert unneeded.returncode == 0, unneeded.stdout + unneeded.stderr
    profile = profiles.write(sim.base_url, audio={"echo": "aec", "input": "default",
                                                  "output": "default"})
    result = run_bridge("check", "--profile", str(profile),
                        PYTHONPATH=str(tmp_path / "shadow"))
    assert result.returncode == 2, result.stdout + result.stderr
    # the command installs the extra into this copy: here an editable checkout
    assert (" ✗ echo cancellation (audio.echo: aec) available — audio.echo: aec needs the "
            f"[aec] extra (livekit is missing) — run: {sys.executable} -m pip install -e "
            f"'{ROOT}[aec]', or use audio.echo: gate") in result.stdout.splitlines()
    present = run_bridge("check", "--profile", str(profile))
    assert " ✓ echo cancellation (audio.echo: aec) available — livekit" in present.stdout


def test_check_fails_the_kiosk_parts_run_would_refuse(start_sim, profiles: ProfileBuilder,
                                                     tmp_path: Path) -> None:
    """An on_event script that is not executable and an HTTP server whose token variable is
    unset: each ✗ naming the key and its fix, as `run` would refuse them at start; fixed,
    each ✓."""
    sim = start_sim(assistant="echo")
    script = tmp_path / "leds.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    profile = profiles.write(sim.base_url, service={"on_event": str(script)},
                             http={"listen": "0.0.0.0:8089", "token_env": "KIOSK_CHECK_TOKEN"})
    result = run_bridge("check", "--profile", str(profile))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert (f" ✗ service.on_event runnable — {profile}: service.on_event: {script} is not "
            f"executable — run: chmod +x {script}") in lines, lines
    assert (" ✗ kiosk screen (http.listen 0.0.0.0:8089) available — http.token_env: the "
            "environment variable KIOSK_CHECK_TOKEN is not set — set it to a long random "
            "token (openssl rand -hex 32)") in lines, lines

    script.chmod(0o755)
    fixed = run_bridge("check", "--profile", str(profile),
                       KIOSK_CHECK_TOKEN="x" * 32)
    assert f" ✓ service.on_event runnable — {script}" in fixed.stdout.splitlines()
    assert (" ✓ kiosk screen (http.listen 0.0.0.0:8089) available — aiohttp, prometheus-client"
            in fixed.stdout.splitlines()), fixed.stdout
    assert "Traceback" not in result.stderr + fixed.stderr


def test_check_leaves_a_file_output_whole_and_skips_the_beep_without_devices(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    """A profile writing the speaker to a file (a recording a run left there) and with no
    microphone (`audio.input: null`, the README's advice on a box with no sound card)."""
    sim = start_sim(assistant="echo")
    out = tmp_path / "speaker.wav"
    out.write_bytes(b"RIFF what the last run wrote")
    profile = profiles.write(sim.base_url, audio={"input": "null", "output": f"file:{out}"})
    result = run_bridge("check", "--profile", str(profile), "--beep")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"✓ output device file:{out} can be written — {out}" in result.stdout
    assert (" ! beep and record skipped — audio.input is null: nothing to hear"
            in result.stdout.splitlines())
    assert out.read_bytes() == b"RIFF what the last run wrote"
    # under a file: no directory there
    bad = out / "x.wav"
    gone = run_bridge("check", "--profile", str(profile), "--set", f"audio.output=file:{bad}")
    assert gone.returncode == 4
    assert (f"✗ output device file:{bad} can be written — {out} is a file, not a directory "
            f"— give audio.output a file:PATH in a directory you may write") in gone.stdout
    # a directory that does not exist: the profile is refused, and nothing is made
    made = tmp_path / "new" / "dir" / "x.wav"
    missing = run_bridge("check", "--profile", str(profile), "--set",
                         f"audio.output=file:{made}")
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert f"audio.output: there is no directory {made.parent}" in missing.stdout
    assert not (tmp_path / "new").exists(), "checked, not made"


def test_check_warns_when_the_dashboard_assistant_sends_no_interruption(
        start_sim, profiles: ProfileBuilder) -> None:
    """A call by assistant.id gets the stored assistant's clientMessages: without
    user-interrupted, the speaker would keep playing over a visitor who interrupts."""
    sim = start_sim(assistant="echo", assistant_client_messages=(
        "transcript", "speech-update", "status-update"))
    result = run_bridge("check", "--profile", str(profiles.write(sim.base_url)))
    assert result.returncode == 0, result.stdout
    assert " ! assistant — its clientMessages (in the Vapi dashboard) leave out " \
           "user-interrupted, which the bridge waits for to stop the speaker when the visitor " \
           "interrupts — add it there, or list clientMessages in assistant.overrides" \
           in result.stdout.splitlines(), result.stdout
    listed = profiles.write(sim.base_url, assistant={"overrides": {
        "firstMessage": "", "clientMessages": ["transcript", "user-interrupted"]}})
    assert "! assistant" not in run_bridge("check", "--profile", str(listed)).stdout


def test_check_fails_when_the_spending_guard_would_refuse_the_call(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    sim = start_sim(assistant="echo")
    state = tmp_path / "state"
    totals = state / "vapi-bridge" / "spending-kiosk.json"
    totals.parent.mkdir(parents=True)
    totals.write_text(json.dumps({"day": dt.date.today().isoformat(), "minutes": 12.5,
                                  "cost": 0.4, "calls": 3}))
    env = {"XDG_STATE_HOME": str(state), "STATE_DIRECTORY": ""}
    profile = profiles.write(sim.base_url, call={"max_daily_minutes": 10})
    reached = run_bridge("check", "--profile", str(profile), **env)
    assert reached.returncode == 3, reached.stdout + reached.stderr
    lines = reached.stdout.splitlines()
    assert (" ✗ spending guard allows a call — spending limit reached: today's calls have "
            "lasted 12.5 min, at or over call.max_daily_minutes (10); no call is placed until "
            "tomorrow (raise the limit in the profile and reload, or remove "
            f"{totals})") in lines, reached.stdout
    assert lines[-1].endswith(" passed, 1 failed"), lines
    assert run_bridge("run", "--profile", str(profile), **env).returncode == 3, \
        "run refuses it too"
    assert sim.calls() == []

    room = run_bridge("check", "--profile", str(profile), "--set", "call.max_daily_minutes=60",
                      "--set", "call.max_daily_cost=5", **env)
    assert room.returncode == 0, room.stdout
    assert (" ✓ spending guard allows a call — used today: 12.5 min of "
            "call.max_daily_minutes (60), $0.40 of call.max_daily_cost ($5)"
            ) in room.stdout.splitlines()
    unlimited = run_bridge("check", "--profile", str(profiles.write(sim.base_url, name="free")),
                           **env)
    assert "spending guard" not in unlimited.stdout, "no limit set: no line"


def test_check_marks_a_key_file_others_may_read_with_its_fix(profiles: ProfileBuilder) -> None:
    """The key file readable by others: `run` and `check` log a warning on stderr, but the
    checklist said `✓ API key present`, and `ready: all checks passed`. The item is a
    warning now, naming the file and the chmod (no network needed: the key is local)."""
    key_file = profiles.directory / "vapi key"
    key_file.write_text("sim-private-key\n")
    key_file.chmod(0o644)
    profile = profiles.write("http://127.0.0.1:9", api={"key_file": str(key_file)})
    result = run_bridge("check", "--profile", str(profile), VAPI_API_KEY="")
    assert (f" ! API key present — its file {key_file} (api.key_file) is readable by other "
            f"users — run: chmod 600 '{key_file}'\n") in result.stdout, result.stdout
    # said once: the loader's warning (run's) was printed above the checklist too
    assert "readable by other users" not in result.stderr, result.stderr
    assert "sim-private-key" not in result.stdout + result.stderr


def test_an_output_file_another_daemon_writes_is_refused(profiles: ProfileBuilder) -> None:
    """Two profiles naming the same `file:` output (a copied profile): the second daemon's
    start emptied the first's WAV, then both wrote over each other's audio and header, and
    `check` said "✓ can be written". The first writer's file is its own now: `check` fails
    it (its code 2, as `run` exits; the whole check exits 5 here, the dead API's failure
    coming first) and `run` is refused before writing a byte. (The first
    writer is this test, holding the file's lock as a writing daemon does; no network.)"""
    shared = profiles.directory / "shared.wav"
    profile = profiles.write("http://127.0.0.1:9", name="copy",
                             audio={"output": f"file:{shared}"})
    heard = b"RIFF" + bytes(range(256)) * 8  # the first daemon's call, being written
    with shared.open("wb") as first:
        fcntl.flock(first, fcntl.LOCK_EX)
        first.write(heard)
        first.flush()
        checked = run_bridge("check", "--profile", str(profile))
        ran = run_bridge("run", "--profile", str(profile))
    assert shared.read_bytes() == heard, "the first writer's file was emptied"
    assert checked.returncode == 5, checked.stdout  # (the dead API's, first; then the file)
    assert (f" ✗ output device file:{shared} can be written — {shared} is being written by "
            f"another process now (a daemon whose profile names the same file?): `run` would "
            f"be refused") in checked.stdout, checked.stdout
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == (
        f"vapi-bridge: output file {shared} is being written by another process (a daemon "
        f"whose profile names the same file?) — give each its own file: two writers leave "
        f"neither a valid WAV"), ran.stderr


def test_check_and_run_name_the_same_profile_key_for_a_line_of_vapis() -> None:
    """`check` and `run` each mapped the body's fields to the profile's keys, and differed:
    check said `assistant.overrides.maxDurationSeconds` and `transport.audioFormat.sampleRate`
    where run said `call.max_duration_seconds` and `wire.sample_rate`. One map now."""
    from bridge.cli.check_schema import _worded
    from bridge.profile import parse_profile

    profile = parse_profile("assistant:\n  id: echo\ncall:\n  max_duration_seconds: 20\n",
                            origin="kiosk.yaml")
    assert [_worded(line, profile) for line in (
        "assistantOverrides.maxDurationSeconds must not be less than 10",
        "transport.audioFormat.sampleRate must not be less than 4000")] == [
        "call.max_duration_seconds must not be less than 10",
        "wire.sample_rate must not be less than 4000"]
