"""Secret hygiene: the API keys and the call's websocket/listen/control URLs (bearer secrets:
whoever holds one can join or steer the call) never appear in anything the program prints.

One test runs a full call with debug logging (`-v`) — `ctl status`, `ctl say` through the
controlUrl with the public key, `listen` by control socket and by call id, SIGTERM — and
every error path, captures all of stdout and stderr, then reads the real URLs from the
simulator's `GET /call/{id}` and looks for each, and for each URL's path. The others: a key
file readable by others gets a warning; plaintext to a non-loopback host is refused (the
refusal comes before any connection: no traffic leaves the machine).
"""

from __future__ import annotations

import secrets
import signal
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from bridge.errors import ProfileError
from bridge.vapi.plaintext import check_plaintext
from tests.faults.harness import (
    Daemon,
    Result,
    Sim,
    assert_clean,
    case_dir,
    one_line_error,
    parallel,
    run_cli,
    run_once,
    write_profile,
)

pytestmark = pytest.mark.timeout(240)

PRIVATE = "sk-" + secrets.token_hex(16)
PUBLIC = "pk-" + secrets.token_hex(16)
KEYS = {"VAPI_API_KEY": PRIVATE, "VAPI_PUBLIC_KEY": PUBLIC}
MONITOR = {"listenAuthenticationEnabled": True, "controlAuthenticationEnabled": True}


def full_call(sim: Sim) -> list[Result]:
    """A call steered and listened to from outside while it runs, then ended by SIGTERM."""
    printed: list[Result] = []
    with case_dir() as d:
        # SIGTERM ends the call: its cap only has to outlast 8 tools on a loaded machine
        profile = write_profile(
            d, sim.base_url, call={"commands_via": "control-url", "control_auth": True},
            assistant={"overrides": {"maxDurationSeconds": 120, "monitorPlan": MONITOR}})
        sock = str(d / "ctl.sock")
        daemon = Daemon(profile, d, "-v", **KEYS)
        try:
            daemon.wait_err(": in-progress")
            for args in (("status",), ("--json", "status"), ("say", "Good morning."),
                         ("mute-assistant",), ("unmute-assistant",),
                         ("handoff", "assistant-two", "--message", "Hi again.")):
                result = run_cli("ctl", "-v", "--socket", sock, *args, **KEYS)
                assert result.code == 0, result.err
                printed.append(result)
            listen = run_cli("listen", "-v", "--socket", sock, "--auth", "--seconds", "1",
                             "--out", str(d / "listen.wav"), **KEYS)
            assert listen.code == 0, listen.err
            call_id = sim.get("/_sim/calls")["calls"][0]["id"]
            by_id = run_cli("listen", "-v", "--profile", str(profile), "--call-id", call_id,
                            "--auth", "--seconds", "1", "--out", str(d / "listen2.wav"),
                            **KEYS)
            assert by_id.code == 0, by_id.err
            printed += [listen, by_id]
            ended = daemon.stop(signal.SIGTERM)
        finally:
            daemon.close()
        assert ended.code == 0, ended.err
        printed.append(ended)
        # after the call: every refusal path of the tools
        printed.append(run_cli("ctl", "-v", "--socket", sock, "say", "too late", **KEYS))
        printed.append(run_cli("listen", "-v", "--profile", str(profile), "--call-id", call_id,
                               "--auth", "--seconds", "1", "--out", "-", **KEYS))
        printed.append(run_cli("check", "-v", "--profile", str(profile), **KEYS))
        for result in printed:
            assert_clean(result, verbose=True)
    return printed


def error_path(sim: Sim, fault: str | None, *, base_url: str | None = None,
               **api: float) -> Callable[[], list[Result]]:
    def run() -> list[Result]:
        with case_dir() as d:
            profile = write_profile(d, base_url or sim.base_url, api=api)
            result = run_once(profile, "-v", *(["--fault", fault] if fault else []), **KEYS)
            # a dead socket aborted after the call's 3 s: Vapi says it ended (exit 0)
            assert result.code != 0 or fault in ("malformed-json=0.3", "end-close=1006",
                                                 "ws-drop=1@4", "echo-secrets=0.5"), result.err
            return [result]
    return run


def test_nothing_printed_holds_a_key_or_a_call_url() -> None:
    with Sim(api_key=PRIVATE, public_key=PUBLIC) as sim, \
            Sim(api_key=PRIVATE, public_key=PUBLIC, never_connected_timeout=0.3) as late:
        refused = socket.socket()
        refused.bind(("127.0.0.1", 0))
        jobs: dict[str, Callable[[], list[Result]]] = {"full call": lambda: full_call(sim)}
        for fault in ("http-400", "http-401", "http-402", "http-429", "http-500",
                      "ws-close-1006=1", "ws-drop=1@4", "malformed-json=0.3", "end-close=1006"):
            jobs[fault] = error_path(sim, fault)
        # the server echoes them: in a transcript, a status, the ended reason (before, the
        # transcript lines, the summary line and STATUS= printed them as sent)
        jobs["echo-secrets"] = error_path(sim, "echo-secrets=0.5")
        jobs["http-hang"] = error_path(sim, "http-hang", timeout_seconds=1)
        jobs["refused"] = error_path(
            sim, None, base_url=f"http://127.0.0.1:{refused.getsockname()[1]}")
        jobs["socket refused"] = error_path(late, "connect-delay=600")
        with parallel(jobs) as futures:
            results = {name: future.result(timeout=200) for name, future in futures.items()}
        refused.close()
        calls = sim.call_objects() + late.call_objects()
    printed = "\n".join(r.printed for rs in results.values() for r in rs)
    assert len(calls) >= 6, "the calls ran"
    secrets_: dict[str, str] = {"the private key": PRIVATE, "the public key": PUBLIC}
    echoed = results["echo-secrets"][0]
    assert "Your details: id …" in echoed.out and " ended: assistant-ended-call id …" in \
        echoed.out and "tool call: lookup {\"q\":\"id …" in echoed.out, echoed.out
    for call in calls:
        urls = {"websocketCallUrl": call["transport"]["websocketCallUrl"],
                "listenUrl": call["monitor"]["listenUrl"],
                "controlUrl": call["monitor"]["controlUrl"]}
        for name, url in urls.items():
            secrets_[f"{name} of {call['id']}"] = url
            secrets_[f"{name} path of {call['id']}"] = urlsplit(url).path
    leaks = [name for name, secret in secrets_.items() if secret in printed]
    print(f"\nchecked {len(secrets_)} secrets in {len(printed)} characters printed by "
          f"{sum(map(len, results.values()))} processes")
    assert not leaks, f"printed: {leaks}"
    full = "\n".join(r.printed for r in results["full call"])
    assert "accepted by the controlUrl" in full, "the controlUrl was really used"
    assert calls[0]["id"][-8:] in full, "the call is named by its id"
    # a live call's id opens it: the full id is only in the summary, printed once it ended
    shown = [(name, line) for name, rs in results.items() for r in rs
             for line in r.printed.splitlines() for call in calls if call["id"] in line]
    assert shown, "the summary shows the full id"
    for name, line in shown:
        assert " ended: " in line and line.startswith("call "), f"{name}: {line}"
    summary = [line for r in results["full call"] for line in r.out.splitlines()
               if " ended: " in line]
    assert summary and summary[0].startswith(f"call {calls[0]['id']} ended: "), summary


def test_a_key_file_readable_by_others_gets_a_warning() -> None:
    with Sim(api_key=PRIVATE) as sim, case_dir() as d:
        key_file = d / "vapi.key"
        key_file.write_text(PRIVATE + "\n")
        profile = write_profile(d, sim.base_url, api={"key_file": str(key_file)})
        results: dict[int, Result] = {}
        for mode in (0o644, 0o600):
            key_file.chmod(mode)
            results[mode] = run_once(profile, "--fault", "http-400", VAPI_API_KEY="")
    for result in results.values():
        assert result.code == 2, "the key was read from the file and accepted"
        assert PRIVATE not in result.printed
        assert_clean(result)
    warning = f"the key file {key_file} is readable by other users; run: chmod 600 {key_file}"
    assert warning in results[0o644].err
    assert "readable by other users" not in results[0o600].err


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_plaintext_to_a_non_loopback_host_is_refused(scheme: str) -> None:
    """The profile check refuses before any connection (the host is never even resolved)."""
    with case_dir() as d:
        profile = write_profile(d, f"{scheme}://api.vapi.invalid")
        result = run_once(profile)
    assert result.code == 2
    one_line_error(result, f"kiosk.yaml:2: api.base_url: uses unencrypted {scheme}:// to a "
                   "non-loopback host; use https/wss, or set api.allow_plaintext: true"
                   if scheme == "http"
                   else f"api.base_url: '{scheme}://api.vapi.invalid' is not an http:// or "
                   "https:// URL with a host")  # the REST API is HTTP: ws:// is no URL for it


def test_the_plaintext_rule_for_call_urls() -> None:
    """The same rule guards the websocketCallUrl and controlUrl Vapi returns (pure check)."""
    for url in ("ws://192.0.2.1/abc/transport", "http://192.0.2.1/abc/control",
                "ws://vapi.example/abc/transport", "ws://[2001:db8::1]/abc/transport"):
        with pytest.raises(ProfileError, match="unencrypted"):
            check_plaintext(url, False, "the call socket URL")
        check_plaintext(url, True, "the call socket URL")  # allowed explicitly
    for url in ("ws://127.0.0.1:8099/abc/transport", "ws://localhost/abc/transport",
                "http://[::1]:8099/abc/control", "wss://phone.vapi.ai/abc/transport",
                "https://api.vapi.ai"):
        check_plaintext(url, False, "the call socket URL")
