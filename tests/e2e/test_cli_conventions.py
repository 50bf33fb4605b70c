"""Terminal and journal conventions, through the real `vapi-bridge` process and the simulator:
global options anywhere, --help with exit codes, NO_COLOR, the journal only when stderr is
really its stream, transcripts kept out of the journal, words for the errors a user meets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.e2e.conftest import (
    PLAIN_TLS,
    ROOT,
    ProfileBuilder,
    bridge_cmd,
    bridge_env,
    run_bridge,
    runtime_dir,
)
from tests.rig.signals import write_wav

SHORT_CALL = {"firstMessage": "Hello.", "maxDurationSeconds": 3}


def test_verbose_and_quiet_work_before_and_after_the_command(start_sim,
                                                              profiles: ProfileBuilder) -> None:
    """Also, over the same calls: a relative file path is relative to the profile, and the
    summary's words agree with their numbers."""
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, assistant={"overrides": SHORT_CALL},
                             audio={"output": "file:heard.wav"})
    before = run_bridge("-v", "run", "-p", str(profile))  # the working directory is the repo
    after = run_bridge("run", "-p", str(profile), "-v")
    for result in (before, after):
        assert result.returncode == 0, result.stderr
        assert " DEBUG " in result.stderr, "-v turned debug logging on"
    quiet = run_bridge("-q", "run", "-p", str(profile))
    assert quiet.returncode == 0 and " INFO " not in quiet.stderr, quiet.stderr
    assert (profile.parent / "heard.wav").stat().st_size > 1000
    assert not (ROOT / "heard.wav").exists()
    for result in (before, after, quiet):
        line = next(x for x in result.stdout.splitlines() if " ended: " in x)
        for n, noun in re.findall(r"\b(\d+) (audible underruns?|interruptions?)", line):
            assert noun.endswith("s") == (n != "1"), line


@pytest.mark.parametrize("argv", [("sim",), ("-q", "sim"), ("sim", "-q")])
def test_quiet_works_on_the_simulator_too(argv: tuple[str, ...]) -> None:
    """A refused request is an INFO line of the simulator's (shown without -q): -q, before
    or after `sim`, leaves only warnings and errors."""
    proc = subprocess.Popen(bridge_cmd(*argv, "--port", "0"), cwd=ROOT, env=bridge_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        base = re.search(r"listening on (\S+)", banner)
        assert base, banner
        refused = httpx.post(base.group(1) + "/call", json={}, timeout=30)
        assert refused.status_code == 401, refused.text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    if "-q" in argv:
        assert " INFO " not in err and "refused" not in err, err
    else:
        assert " INFO " in err and "refused" in err, err


def help_text(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
              *argv: str) -> str:
    """What `vapi-bridge ARGV --help` prints, and that it exits 0: the process's own parsers
    (`sim`'s its own, as `main` hands it over), here in this process (a `vapi-bridge`
    process each, 19 in this module, was ~0.3 s of CPU and 2 s of a loaded worker), at
    the 80 columns a pipe gets."""
    from bridge.cli.arguments import build_parser
    from bridge.sim.cli import build_parser as sim_parser

    monkeypatch.setenv("COLUMNS", "80")
    parser, rest = (sim_parser(), argv[1:]) if argv[0] == "sim" else (build_parser(), argv)
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        parser.parse_args([*rest, "--help"])
    assert ended.value.code == 0, f"{argv} --help exits 0"
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "check", "devices", "demo", "init", "listen"])
def test_help_has_a_description_exit_codes_and_help_for_every_option(
        command: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = help_text(capsys, monkeypatch, command)
    assert re.search(r"(?i)^exit codes:?", text, re.M), text
    _usage, _, rest = text.partition("\n\n")
    assert rest.split("\n\n")[0].strip() and not rest.startswith("options:"), \
        "a description comes before the options"
    options = text.split("options:", 1)[1].split("\n\n")[0]
    entries = re.split(r"\n  (?=-)", "\n" + options.strip("\n"))
    bare = [e.strip() for e in entries if e.strip() and len(e.strip().split("  ")) < 2
            and "\n" not in e.strip()]
    assert not bare, f"options without help: {bare}"


def _bare_entries(section: str) -> list[str]:
    """Entries of an argparse help section (options, positionals) with no help text."""
    entries = re.split(r"\n  (?=\S)", "\n" + section.strip("\n"))
    return [e.strip() for e in entries if e.strip() and len(e.strip().split("  ")) < 2
            and "\n" not in e.strip()]


@pytest.mark.parametrize("argv", [("sim",), ("unit",), ("ctl",), ("ctl", "say"),
                                  ("ctl", "add-message"), ("ctl", "transfer"),
                                  ("ctl", "handoff"), ("ctl", "status")])
def test_every_option_and_argument_has_help(argv: tuple[str, ...],
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    text = help_text(capsys, monkeypatch, *argv)
    for heading in ("options:", "positional arguments:"):
        if heading in text:
            section = text.split(heading, 1)[1].split("\n\n")[0]
            assert not _bare_entries(section), f"{argv} {heading} {_bare_entries(section)}"


def test_ctl_and_listen_find_the_daemon_by_profile_name_with_options_anywhere(
        start_sim, profiles: ProfileBuilder, tmp_path: Path) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, name="frontdesk",
                             # (the daemon is stopped after the listen: the cap only has
                             # to outlast the commands on a loaded machine; 12 s did not once)
                             assistant={"overrides": {"firstMessage": "Welcome to the desk.",
                                                      "maxDurationSeconds": 60}},
                             service={"mode": "standby"})
    run_dir = runtime_dir()
    env = bridge_env(XDG_RUNTIME_DIR=run_dir)
    daemon = subprocess.Popen(bridge_cmd("run", "-p", str(profile)), cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elsewhere = tmp_path / "elsewhere"  # no frontdesk.yaml here, nor in ./config
    elsewhere.mkdir()

    def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(bridge_cmd(*args), cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=timeout)

    try:
        deadline = time.monotonic() + 15
        while not (Path(run_dir) / "vapi-bridge" / "frontdesk.sock").exists():
            assert daemon.poll() is None and time.monotonic() < deadline, "no control socket"
            time.sleep(0.05)
        after = cli("ctl", "status", "-p", "frontdesk")
        before = cli("ctl", "-p", "frontdesk", "status")
        assert after.returncode == before.returncode == 0, after.stderr
        assert after.stdout.splitlines()[0] == before.stdout.splitlines()[0] == \
            "profile frontdesk (standby mode): waiting for trigger"
        as_json = json.loads(cli("ctl", "status", "--json", "-p", "frontdesk").stdout)
        assert as_json["state"] == "waiting for trigger"
        both = cli("ctl", "status", "-p", "frontdesk", "--socket", "/nonexistent.sock")
        assert both.returncode == 2 and "not both" in both.stderr

        assert cli("ctl", "call", "-p", "frontdesk").returncode == 0
        wav = tmp_path / "heard.wav"
        heard = cli("listen", "-p", "frontdesk", "--seconds", "1", "--out", str(wav),
                    "--no-events")
        assert heard.returncode == 0, heard.stderr
        assert heard.stderr.splitlines()[0].startswith("listening to call "), heard.stderr
        assert f"writing {wav}" in heard.stderr and wav.stat().st_size > 44
    finally:
        daemon.terminate()
        daemon.communicate(timeout=20)


def test_listen_refuses_a_bad_url_before_announcing_a_wav(tmp_path: Path) -> None:
    result = run_bridge("listen", "--url", "http://example.invalid/listen", "--out",
                        str(tmp_path / "x.wav"))
    assert result.returncode == 2
    assert result.stderr.strip() == \
        "vapi-bridge: that is not a usable listen URL (ws:// or wss://)"
    assert not (tmp_path / "x.wav").exists()


def test_listen_help_exit_codes_are_true_for_a_404(start_sim, profiles: ProfileBuilder,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url)
    listen_help = help_text(capsys, monkeypatch, "listen")
    unknown = run_bridge("listen", "--call-id", "00000000-0000-4000-8000-000000000000",
                         "-p", str(profile), "--out", "-")
    assert unknown.returncode == 2, unknown.stderr
    assert "(404)" in unknown.stderr
    code_2 = listen_help.split("\n  2 ", 1)[1].split("\n  3 ", 1)[0]
    assert "--call-id (404)" in " ".join(code_2.split()), "the help says what happened"
    assert "listening to call" not in unknown.stderr


def test_journal_mode_only_when_stderr_is_the_journal_stream(start_sim,
                                                             profiles: ProfileBuilder,
                                                             tmp_path: Path) -> None:
    sim = start_sim(assistant="echo")
    profile = str(profiles.write(sim.base_url, assistant={"overrides": SHORT_CALL}))
    # stderr is a file whose device:inode JOURNAL_STREAM names: the journal's own stream
    err_path = tmp_path / "journal-stream"
    with open(err_path, "w") as err:
        st = os.fstat(err.fileno())
        env = bridge_env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        journal = subprocess.run(bridge_cmd("run", "-p", profile), cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=err, text=True, timeout=60)
    lines = err_path.read_text().splitlines()
    assert journal.returncode == 0, lines
    assert lines and all(re.match(r"<[0-7]>", line) for line in lines), lines
    # privacy: under the journal what visitors and the assistant say is not printed
    assert "assistant: Hello." not in journal.stdout, journal.stdout
    assert "ended: exceeded-max-duration" in journal.stdout, "the summary still is"

    # inherited by a program whose stderr is elsewhere (a pipe here): terminal mode
    inherited = run_bridge("run", "-p", profile, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    assert inherited.returncode == 0
    assert not any(re.match(r"<[0-7]>", line) for line in inherited.stderr.splitlines())
    assert re.search(r"^\d\d:\d\d:\d\d INFO", inherited.stderr, re.M), inherited.stderr
    assert "assistant: Hello." in inherited.stdout, "in a terminal the transcript shows"

    # asked for, the transcript is printed under the journal too (before, this run's stderr
    # was a pipe: terminal mode, where it is printed anyway)
    with open(tmp_path / "journal-stream-2", "w") as err:
        st = os.fstat(err.fileno())
        env = bridge_env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        forced = subprocess.run(bridge_cmd("run", "-p", profile, "--set",
                                           "transcript.print=finals"), cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True, timeout=60)
    assert forced.returncode == 0
    assert re.match(r"<[0-7]>", (tmp_path / "journal-stream-2").read_text()), "the journal's"
    assert "assistant: Hello." in forced.stdout


def in_pty(*args: str, **env: str) -> str:
    """The CLI on a pseudo-terminal (colour and the status line need one); all it wrote."""
    pty = pytest.importorskip("pty")
    full = bridge_env(**env)
    full["TERM"] = "xterm"
    out = bytearray()
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec the CLI on the terminal
        os.chdir(ROOT)
        os.execvpe(bridge_cmd()[0], [*bridge_cmd(), *args], full)
    try:
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out.extend(data)
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    return out.decode("utf-8", "replace")


def test_no_color_in_check(start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = str(profiles.write(sim.base_url))
    coloured = in_pty("check", "-p", profile)
    plain = in_pty("check", "-p", profile, NO_COLOR="1")
    assert "\x1b[32m✓" in coloured, repr(coloured)
    assert "✓ API key accepted" in plain and "\x1b[" not in plain, repr(plain)


def test_status_line_with_no_color_and_silence(start_sim, profiles: ProfileBuilder,
                                               tmp_path: Path) -> None:
    """NO_COLOR: no colour, but the live status line is still cleared before every log or
    transcript line; a digitally silent microphone reads -inf, not -270 dB."""
    import wave

    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000 * 5)
    sim = start_sim(assistant="echo")
    profile = str(profiles.write(sim.base_url, assistant={"overrides": SHORT_CALL},
                                 audio={"input": f"file:{silence}"}))
    text = in_pty("run", "-p", profile, NO_COLOR="1")
    assert "ended: exceeded-max-duration" in text, text
    assert "\x1b[3" not in text, "no colour with NO_COLOR"
    status = [part for part in text.split("\r\x1b[K") if part.startswith("● ")]
    assert status, f"the status line was drawn: {text!r}"
    assert any(" -inf dB " in s for s in status), status
    assert "-270" not in text
    # every log or transcript line starts on a cleared line, never glued to the status
    for line in re.finditer(r"(\d\d:\d\d:\d\d (INFO|WARNING) |assistant: )", text):
        before = text[max(0, line.start() - 4):line.start()]
        assert before.endswith("\r\x1b[K") or before.endswith("\n"), \
            repr(text[max(0, line.start() - 80):line.end()])
        if not before.endswith("\r\x1b[K"):
            previous = text[:line.start()].rsplit("\n", 2)[-2]
            assert not previous.rstrip("\r").startswith("● ") and "● " not in previous, \
                repr(previous)


def test_check_json(start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    good = run_bridge("check", "-p", str(profiles.write(sim.base_url)), "--json")
    data = json.loads(good.stdout)
    assert good.returncode == 0 and data["ok"] is True and data["exit_code"] == 0
    assert {"ok": True, "warning": False, "check": "API key accepted", "detail": ""} \
        in data["checks"]
    bad = run_bridge("check", "-p", str(profiles.write(sim.base_url)), "--json",
                     VAPI_API_KEY="sk-wrong")
    data = json.loads(bad.stdout)
    assert bad.returncode == 3 and data["ok"] is False and data["exit_code"] == 3
    failed = [c for c in data["checks"] if not c["ok"]]
    assert failed[0]["check"] == "API key accepted" and "(401)" in failed[0]["detail"]
    assert "sk-wrong" not in bad.stdout
    broken = run_bridge("check", "-p", "/nonexistent/x.yaml", "--json")
    assert broken.returncode == 2 and json.loads(broken.stdout)["checks"][0]["ok"] is False


@pytest.mark.parametrize(("base_url", "words"), [
    ("http://no-such-host.invalid:8099", "DNS: cannot resolve no-such-host.invalid"),
    ("http://127.0.0.1:9", "connection refused by 127.0.0.1:9 (nothing listens there)"),
])
def test_cannot_connect_says_dns_or_refused(profiles: ProfileBuilder, base_url: str,
                                            words: str) -> None:
    profile = profiles.write(base_url, api={"retry_attempts": 1, "allow_plaintext": True})
    result = run_bridge("run", "-p", str(profile))
    assert result.returncode == 5
    assert words in result.stderr, result.stderr
    assert "ConnectError" not in result.stderr
    assert "after 1 attempt " in result.stderr, "one attempt, in the singular"


def test_tls_failure_is_named_and_not_retried(start_sim, profiles: ProfileBuilder) -> None:
    """https:// to a plain-http server: its answer is the same at every attempt, yet the
    five attempts (the default) took 11-15 s of backoff, four warnings, before the line."""
    sim = start_sim(assistant="echo")  # plain HTTP: a TLS handshake with it fails
    host = sim.base_url.removeprefix("http://")
    profile = profiles.write(f"https://{host}")
    result = run_bridge("run", "-p", str(profile))
    assert result.returncode == 5
    assert "retrying" not in result.stderr, result.stderr
    # a plain-http server under https://: the line says so, not only OpenSSL's code
    assert result.stderr.strip().splitlines()[-1] == (
        f"vapi-bridge: could not reach Vapi at {host} to create the call: TLS handshake "
        f"with {host} failed: it answered in plain text, not TLS "
        f"({PLAIN_TLS}) — a server without TLS takes http:// (ws:// for a socket) "
        f"in api.base_url"), result.stderr


def test_set_errors_point_at_the_override(start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url)
    result = run_bridge("run", "-p", str(profile), "--set", "audio.block_ms=500")
    assert result.returncode == 2
    assert result.stderr.strip() == ("vapi-bridge: --set audio.block_ms: must be from 5 to 100 "
                                     "(got 500)"), result.stderr
    unknown = run_bridge("run", "-p", str(profile), "--set", "audio.outptu=null")
    assert unknown.stderr.strip() == ("vapi-bridge: --set audio.outptu: unknown key (did you "
                                      "mean 'output'?)"), unknown.stderr


def test_check_beep_calls_digital_silence_silence(start_sim, profiles: ProfileBuilder,
                                                  tmp_path: Path) -> None:
    sim = start_sim(assistant="echo")
    zeros = tmp_path / "zeros.wav"  # a microphone that hears digital zeros
    write_wav(zeros, np.zeros(16000 * 3, dtype=np.int16), 16000)
    profile = profiles.write(sim.base_url, audio={"input": f"file:{zeros}", "output": "null"})
    result = run_bridge("check", "-p", str(profile), "--beep")
    assert result.returncode == 4
    assert "✗ microphone hears something — input level silence: check the microphone" \
        in result.stdout, result.stdout
    assert "-270" not in result.stdout


def test_devices_without_a_sound_card_says_what_to_check() -> None:
    cards = Path("/proc/asound/cards")
    if cards.exists() and "no soundcards" not in cards.read_text():
        pytest.skip("this machine has a sound card")
    result = run_bridge("devices")
    assert result.returncode == 0
    assert result.stdout.startswith("no audio devices found. Check that a sound card")
    assert "aplay -l" in result.stdout and "file:PATH.wav or null" in result.stdout


def test_check_exit_code_for_a_missing_key_is_the_documented_one(
        start_sim, profiles: ProfileBuilder, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    sim = start_sim(assistant="echo")
    result = run_bridge("check", "-p", str(profiles.write(sim.base_url)), VAPI_API_KEY="")
    assert result.returncode == 2, result.stdout
    assert "✗ API key present" in result.stdout
    documented = help_text(capsys, monkeypatch, "check")
    assert "  2    the profile is wrong, or no API key is set" in documented


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error_not_a_traceback(
        port: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The simulator's own parser, which `vapi-bridge sim` hands its options to, in this
    process (`test_quiet_works_on_the_simulator_too` runs `sim` as a process)."""
    from bridge.sim.cli import build_parser as sim_parser

    with pytest.raises(SystemExit) as ended:
        sim_parser().parse_args(["--port", port])
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].endswith(
        f"argument --port: '{port}' is not a port: give 0 (a free one) to 65535")
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["under-a-file", "a-directory"])
def test_a_demo_out_that_cannot_be_written_is_refused_before_the_call(
        tmp_path: Path, where: str) -> None:
    """An --out the headless demo cannot write is a usage error (exit 2) before any call,
    not an output failure after it."""
    (tmp_path / "f").write_text("")
    out = tmp_path / "f" / "reply.wav" if where == "under-a-file" else tmp_path
    result = run_bridge("demo", "--headless", "--out", str(out))
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"vapi-bridge: --out {out}: ") and "\n" not in line, line
    assert "simulator" not in line and "--out " in line.split(" — ", 1)[1]
