"""Words for the errors a new user meets, through the real `vapi-bridge` process: each
names what is actually wrong and the fix, in one line, with its documented exit code."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import ProfileBuilder, run_bridge

SECRET_PATH = "/0c5e1b0a-secret-call-path/listen"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("url", "words"), [
    ("wss://nosuch.invalid", "cannot open the listen socket: DNS: cannot resolve "
                             "nosuch.invalid"),
    ("ws://127.0.0.1:{port}", "cannot open the listen socket: connection refused by "
                              "127.0.0.1:{port} (nothing listens there)"),
])
def test_listen_names_why_it_cannot_connect_and_only_the_host(url: str, words: str) -> None:
    port = _closed_port()
    result = run_bridge("listen", "--url", url.format(port=port) + SECRET_PATH, "--out", "-",
                        timeout=60)
    assert result.returncode == 5, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vapi-bridge: " + words.format(port=port)), last
    assert "secret-call-path" not in result.stderr + result.stdout
    assert "gaierror" not in last and "Error" not in last


def test_listen_names_a_tls_failure(start_sim) -> None:
    sim = start_sim(assistant="echo")  # plain HTTP: a TLS handshake with it fails
    host = sim.base_url.split("://", 1)[1]
    result = run_bridge("listen", "--url", f"wss://{host}{SECRET_PATH}", "--out", "-",
                        timeout=60)
    assert result.returncode == 5, result.stderr
    assert f"cannot open the listen socket: TLS handshake with {host} failed" in \
        result.stderr, result.stderr
    assert "secret-call-path" not in result.stderr


def test_a_listen_timeout_is_named_with_the_host_only() -> None:
    from bridge.vapi.listen import _connect_error

    error = _connect_error(TimeoutError(), f"wss://user:pw@listen.example:8443{SECRET_PATH}")
    assert str(error) == ("cannot open the listen socket: connecting to listen.example:8443 "
                          "timed out")


@pytest.mark.parametrize(("destination", "words"), [
    ("not-a-number", "'not-a-number' is not a phone number or SIP URI — give a phone number "
                     "in E.164 form (e.g. +15551234567) or a sip: URI"),
    ("5551234567", "'5551234567' is not an E.164 number — write it with + and the country "
                   "code"),
    ("+15551234567 --extension 20a", "extension '20a' is not 1-10 of the digits 0-9, * and "
                                     "# (e.g. 204)"),
    ("sip:desk@pbx.example.com --extension 204", "a sip: URI takes no extension — name it "
                                                "in the URI (sip:204@pbx.example.com)"),
])
def test_ctl_transfer_refuses_a_destination_before_asking_the_daemon(
        destination: str, words: str) -> None:
    result = run_bridge("ctl", "--socket", "/nonexistent/ctl.sock", "transfer",
                        *destination.split())
    assert result.returncode == 2, result.stderr
    # `vapi-bridge ctl`, as argparse's usage errors and the daemon's refusal of the same
    # destination say it (it was `vapi-bridge: transfer: …`)
    assert result.stderr.strip().startswith(f"vapi-bridge ctl: transfer: {words}"), \
        result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _error(*args: str) -> str:
    result = run_bridge(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


def test_a_profile_path_that_is_no_profile_file_says_what_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "kiosk"
    folder.mkdir()
    assert _error("run", "-p", str(folder)) == (
        f"vapi-bridge: {folder} is a directory, not a profile — give a profile file in it "
        f"(e.g. -p {folder}/NAME.yaml), or create one: vapi-bridge init {folder}/NAME.yaml")
    (folder / "a.yaml").write_text("")  # an empty one (sorted first) is no example
    (folder / "front.yaml").write_text("service: {}\n")
    assert f"(e.g. -p {folder}/front.yaml)" in _error("run", "-p", str(folder))
    assert _error("run", "-p", "/dev/null") == (
        "vapi-bridge: /dev/null is a character device, not a profile file — give a "
        "profile's YAML file (vapi-bridge init NAME writes one)")
    empty = tmp_path / "empty.yaml"
    empty.write_text("\n")
    assert _error("run", "-p", str(empty)) == (
        f"vapi-bridge: {empty} is empty, not a profile — write the example into it: "
        f"vapi-bridge init --force {empty}")
    gone = tmp_path / "gone.yaml"
    assert _error("run", "-p", str(gone)) == (
        f"vapi-bridge: profile not found: {gone} — check the path, or create it: "
        f"vapi-bridge init {gone}")


def test_a_file_input_that_is_no_file_says_what_it_is(profiles: ProfileBuilder,
                                                      tmp_path: Path) -> None:
    profile = str(profiles.write("http://127.0.0.1:9", api={"allow_plaintext": True}))
    assert _error("run", "-p", profile, "--set", f"audio.input=file:{tmp_path}") == (
        f"vapi-bridge: --set audio.input: {tmp_path} is a directory, not a WAV file — give "
        f"a 16-bit PCM WAV file's path")
    assert _error("run", "-p", profile, "--set", "audio.input=file:/dev/zero") == (
        "vapi-bridge: --set audio.input: /dev/zero is a character device, not a WAV file — "
        "give a 16-bit PCM WAV file's path")
    assert _error("run", "-p", profile, "--set", "audio.input=file:gone.wav") == (
        f"vapi-bridge: --set audio.input: no such file: {tmp_path}/gone.wav — check the path "
        f"(a relative one is relative to the profile's directory)")


def test_a_404_to_creating_the_call_points_at_api_base_url(profiles: ProfileBuilder) -> None:
    """A web server that is not Vapi's API answers 404 to POST /call: the line says to
    check api.base_url, naming its host only."""
    import http.server
    import threading

    class NotVapi(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"Not Found")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotVapi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_port
        profile = profiles.write(f"http://127.0.0.1:{port}/some/path",
                                 api={"allow_plaintext": True})
        result = run_bridge("run", "-p", str(profile), timeout=60)
    finally:
        server.shutdown()
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"vapi-bridge: Vapi has no such resource for the call (404): Not Found — check "
        f"api.base_url: 127.0.0.1:{port} answered 404 to creating a call; is it Vapi's API "
        f"(https://api.vapi.ai)?")
    assert "/some/path" not in result.stderr


def _usage_error(*args: str) -> str:
    result = run_bridge(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("usage: ") and "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_a_bare_word_for_a_command_that_needs_a_profile_suggests_profile() -> None:
    assert _usage_error("run", "kiosk") == ("vapi-bridge run: error: the following arguments "
                                            "are required: --profile/-p (did you mean "
                                            "--profile kiosk?)")
    assert _usage_error("check", "--set", "audio.input=null", "frontdesk").endswith(
        "(did you mean --profile frontdesk?)")
    assert "did you mean" not in _usage_error("run", "kiosk", "lobby")
    # an option argparse takes abbreviated, and `--`, are not called unrecognized
    assert _usage_error("run", "--verb") == ("vapi-bridge run: error: the following arguments "
                                             "are required: --profile/-p")
    # a mistyped option's value is no profile name (it suggested `--profile x=y`)
    assert _usage_error("run", "--sett", "x=y") == (
        "vapi-bridge run: error: unrecognized arguments: --sett (did you mean --set?); and "
        "the following arguments are required: --profile/-p")


def test_an_unknown_command_suggests_the_closest_one_or_the_one_meant() -> None:
    """Vapi's own words (`hangup`, `end-call`: `call.end_command`'s values) name no `ctl`
    command: before, argparse listed the 15 there are and suggested none."""
    for word, meant in (("hangup", "end"), ("end-call", "end"), ("stauts", "status")):
        line = _usage_error("ctl", word)
        assert line.startswith(f"vapi-bridge ctl: error: argument COMMAND: invalid choice: "
                               f"'{word}' (choose from 'status', "), line
        assert line.endswith(f" — did you mean {meant}?"), line
    assert _usage_error("rnu").endswith(" — did you mean run?")
    assert _usage_error("hangup").endswith(" — did you mean ctl end?")
    assert "did you mean" not in _usage_error("ctl", "xyzzy")


def test_an_unknown_option_is_reported_by_its_command_with_the_closest_one() -> None:
    assert _usage_error("run", "-p", "kiosk", "--sett", "x=y") == (
        "vapi-bridge run: error: unrecognized arguments: --sett x=y (did you mean --set?)")
    assert _usage_error("ctl", "status", "--jsno") == (
        "vapi-bridge ctl status: error: unrecognized arguments: --jsno (did you mean --json?)")
    assert _usage_error("run", "-p", "kiosk", "lobby") == (
        "vapi-bridge run: error: unrecognized arguments: lobby")
    # nothing far off, nor an option --help does not show, is suggested
    assert _usage_error("--bogus").endswith("error: unrecognized arguments: --bogus")
    assert _usage_error("run", "-p", "kiosk", "--fautl", "x").endswith(
        "error: unrecognized arguments: --fautl x")


@pytest.mark.parametrize("argv", [("-v", "-q", "run", "-p", "kiosk"),
                                  ("-q", "run", "-p", "kiosk", "--verbose"),
                                  ("ctl", "status", "-v", "-q"),
                                  ("-v", "-q", "sim"), ("sim", "-v", "-q"),
                                  ("-v", "sim", "-q")])
def test_verbose_and_quiet_exclude_each_other_wherever_given(argv: tuple[str, ...]) -> None:
    assert _usage_error(*argv).endswith(
        "error: argument -q/--quiet: not allowed with argument -v/--verbose")
