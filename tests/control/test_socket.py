"""The control socket itself: where it lives, its mode, stale and live sockets, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import secrets
import shlex
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.control import paths
from bridge.control.paths import (
    SYSTEM_RUNTIME_DIR,
    client_candidates,
    default_dirs,
    discover,
    prepare_directory,
    socket_path,
    tmp_dir,
)
from bridge.profile import parse_profile
from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import ROOT, ProfileBuilder, bridge_cmd, bridge_env


def _raw(path: Path, payload: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def test_socket_paths_follow_systemd_then_xdg_then_tmp(tmp_path: Path) -> None:
    profile = parse_profile("assistant: {id: x}\n", origin=str(tmp_path / "desk.yaml"),
                            directory=tmp_path)
    env = {"RUNTIME_DIRECTORY": "/run/a:/run/b", "XDG_RUNTIME_DIR": "/run/user/7"}
    assert socket_path(profile, env) == Path("/run/a/desk.sock")
    assert socket_path(profile, {"XDG_RUNTIME_DIR": "/run/user/7"}) == \
        Path("/run/user/7/vapi-bridge/desk.sock")
    assert socket_path(profile, {}) == Path(f"/tmp/vapi-bridge-{os.getuid()}/desk.sock")
    # not TMPDIR's (as tmux's): ctl also looks there, where earlier versions bound
    assert socket_path(profile, {"TMPDIR": "/var/tmp/t"}) == \
        Path(f"/tmp/vapi-bridge-{os.getuid()}/desk.sock")
    assert client_candidates(profile, env={"TMPDIR": "/var/tmp/t"})[-2:] == [
        Path(f"/tmp/vapi-bridge-{os.getuid()}/desk.sock"),
        Path(f"/var/tmp/t/vapi-bridge-{os.getuid()}/desk.sock")]
    # ctl, from a shell without RUNTIME_DIRECTORY, also looks where the system unit puts it
    assert Path("/run/vapi-bridge") in default_dirs({}, for_client=True)
    explicit = parse_profile("assistant: {id: x}\nservice: {control_socket: ctl/s.sock}\n",
                             origin=str(tmp_path / "desk.yaml"), directory=tmp_path)
    assert socket_path(explicit, env) == tmp_path / "ctl/s.sock"
    assert client_candidates(explicit) == [tmp_path / "ctl/s.sock"]


def test_ctl_with_no_profile_picks_among_its_sessions_daemons(
        short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ctl` with no profile, from a session with XDG_RUNTIME_DIR, does not take a daemon in
    /tmp/vapi-bridge-UID (started without it, by cron or a console) for its session's one,
    nor report "several daemons" beside it; without XDG it does, and so does a session
    whose own places hold no daemon (a plain login shell: its TMPDIR unset, it said "no
    control socket in …, /tmp/vapi-bridge-UID" beside the one it held)."""
    sock = tmp_dir() / f"t{os.getpid()}-{secrets.token_hex(3)}.sock"  # /tmp is shared
    prepare_directory(sock)
    # (the system unit's place, where a test beside this one may run a daemon: empty here)
    monkeypatch.setattr(paths, "SYSTEM_RUNTIME_DIR", short_dir / "run")
    own = short_dir / "vapi-bridge" / "kiosk.sock"
    own.parent.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(sock))
        try:
            session = {"XDG_RUNTIME_DIR": str(short_dir), "TMPDIR": str(short_dir / "t")}
            assert sock in discover({"XDG_RUNTIME_DIR": str(short_dir)})
            assert sock in discover(session)
            assert sock in discover({})
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mine:
                mine.bind(str(own))
                mine.listen()  # a daemon (one nothing answers on is left by a crash)
                assert own in discover(session) and sock not in discover(session)
                assert sock not in discover({"XDG_RUNTIME_DIR": str(short_dir)})
        finally:
            sock.unlink()


def test_ctl_and_run_without_xdg_find_a_login_sessions_daemon(
        short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon started in a login session binds in $XDG_RUNTIME_DIR/vapi-bridge
    (/run/user/UID, pam_systemd's); `ctl` from cron, sudo or a console (no XDG) said "no
    vapi-bridge daemon found", and `run` there (the same candidates) started a second daemon
    on the same devices. They look in /run/user/UID/vapi-bridge, when this user owns it."""
    monkeypatch.setattr(paths, "USER_RUNTIME_ROOT", short_dir, raising=False)
    monkeypatch.setattr(paths, "SYSTEM_RUNTIME_DIR", short_dir / "run")  # (a test's unit)
    session = short_dir / str(os.getuid())
    session.mkdir(mode=0o700)
    sock = session / "vapi-bridge" / "kiosk.sock"
    sock.parent.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(sock))
        s.listen()
        assert sock in client_candidates(None, "kiosk", {})
        assert sock in discover({"TMPDIR": str(short_dir / "t")})
        if os.geteuid() == 0:  # another user's /run/user/UID: not looked in
            os.chown(session, 65534, 65534)
            assert sock not in client_candidates(None, "kiosk", {})


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a directory to another user")
def test_ctl_never_looks_in_a_directory_of_its_name_another_user_made(short_dir: Path) -> None:
    """$TMPDIR/vapi-bridge-UID (and /tmp/vapi-bridge-UID: $TMPDIR's too while TMPDIR is
    unset, a plain login shell's) made first by another user: `ctl -p kiosk say …` sent the
    text to whatever listened there and printed its answer (exit 0), and `run` was refused
    as "already running" beside it. Neither looks there now (the daemon refuses to bind
    there: `prepare_directory`)."""
    squatted = short_dir / f"vapi-bridge-{os.getuid()}"
    squatted.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(squatted / "kiosk.sock"))
        s.listen()
        os.chown(squatted, 65534, 65534)
        env = {"XDG_RUNTIME_DIR": str(short_dir / "x"), "TMPDIR": str(short_dir)}
        assert squatted not in default_dirs(env, for_client=True)
        assert squatted / "kiosk.sock" not in client_candidates(None, "kiosk", env)
        assert squatted / "kiosk.sock" not in discover(env)


def test_no_daemon_is_a_clear_error(short_dir: Path) -> None:
    env = bridge_env()
    result = subprocess.run(bridge_cmd("ctl", "--socket", str(short_dir / "none.sock"),
                                       "status"), capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=20)
    assert result.returncode == 5
    assert result.stderr.strip().startswith(f"vapi-bridge: no vapi-bridge daemon is running "
                                            f"at {short_dir / 'none.sock'} (no socket there)"
                                            f" — start it (")
    # a stale socket file (its daemon died) says so
    stale = short_dir / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    result = subprocess.run(bridge_cmd("ctl", "--socket", str(stale), "say", "hi"),
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=20)
    assert result.returncode == 5
    assert "the daemon is gone) — start it (vapi-bridge run --profile NAME, or systemctl " \
        "start vapi-bridge@NAME): it replaces the socket" in result.stderr  # (no fix, before)
    # an argument whose bytes are no UTF-8 (a Latin-1 terminal): sent escaped, no crash
    latin = subprocess.run([*bridge_cmd("ctl", "--socket", str(stale), "say"), b"caf\xe9"],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=20)
    assert latin.returncode == 5 and "internal error" not in latin.stderr, latin.stderr


def test_socket_mode_stale_replaced_live_refused_removed_on_exit(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    sim = start_sim(assistant="echo")
    sock = short_dir / "ctl.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock))  # left behind by a daemon that was killed
    stale.close()
    daemon = start_daemon(control_profile(profiles, sim, sock))
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")
    mode = sock.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600

    status = daemon.ok("status")
    assert "profile kiosk (standby mode): waiting for trigger" in status
    assert "wire pcm_s16le 16000 Hz" in status

    # a command needing a call, with none in progress: and how one starts (it said no
    # more before)
    refused = daemon.ctl("say", "hello")
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("vapi-bridge ctl: no call in progress — start one with "
                                      "`vapi-bridge ctl call`")

    # bad requests are answered, not fatal
    assert _raw(sock, b"not json\n") == {"ok": False, "error": "the request is not valid JSON",
                                         "kind": "usage"}
    # nested past the stack (RecursionError: no answer, a traceback in the log, before)
    assert _raw(sock, b"[" * 60000 + b"\n") == {
        "ok": False, "error": "the request is not valid JSON", "kind": "usage"}
    unknown = _raw(sock, b'{"cmd": "dance"}\n')
    assert unknown["ok"] is False and unknown["kind"] == "usage"
    assert "unknown command 'dance'" in unknown["error"]
    bad = _raw(sock, b'{"cmd": "handoff", "assistant_id": "a", "context": "some"}\n')
    assert bad == {"ok": False, "error": "context must be none, all, userAndAssistantMessages, "
                   "previousAssistantMessages or last:N (N > 0)", "kind": "usage"}

    # a field the command does not take (Vapi's name for one, a typo) is refused, naming
    # the right one, rather than ignored: the call would not end after this say
    vapi_name = _raw(sock, b'{"cmd": "say", "text": "Bye", "endCallAfterSpoken": true}\n')
    assert vapi_name == {"ok": False, "kind": "usage", "error": (
        "say: unknown field 'endCallAfterSpoken' (did you mean 'end_after'?) — say takes "
        "text, end_after, interruptions, interrupt_assistant")}
    typo = _raw(sock, b'{"cmd": "add-message", "text": "x", "trigger_respone": false}\n')
    assert typo["kind"] == "usage" and "did you mean 'trigger_response'?" in typo["error"]
    assert "takes no fields" in _raw(sock, b'{"cmd": "end", "now": true}\n')["error"]

    # a second daemon on the same socket refuses to start, and leaves the first alone; a
    # kiosk of another profile is told to move its own socket, not to stop the first one
    # (fleet probe: two kiosks given one service.control_socket were told "stop it first")
    other = control_profile(profiles, sim, sock, name="other")
    second = subprocess.run(bridge_cmd("run", "--profile", str(other)), capture_output=True,
                            text=True, env=bridge_env(), cwd=ROOT, timeout=20)
    assert second.returncode == 2, second.stderr
    assert second.stderr == (
        f"vapi-bridge: the control socket {sock} is the one the daemon of profile 'kiosk' "
        f"answers on — give this profile (other) a service.control_socket of its own, or "
        f"leave it unset (the default socket is named after the profile)\n")
    assert daemon.ctl("status").returncode == 0

    assert daemon.stop() == 0, daemon.err
    assert not sock.exists(), "the socket file is removed on exit"
    assert "Traceback" not in daemon.err


def test_a_peer_of_another_uid_is_refused(short_dir: Path) -> None:
    from bridge.control.server import ControlServer

    async def scenario() -> dict:
        server = ControlServer(respond=None, path=short_dir / "uid.sock",  # type: ignore[arg-type]
                               allowed_uid=os.getuid() + 1)
        await server.start()
        try:
            reader, writer = await asyncio.open_unix_connection(str(short_dir / "uid.sock"))
            writer.write(b'{"cmd": "status"}\n')
            await writer.drain()
            answer = json.loads(await reader.readline())
            # closed after the refusal (or reset: the request was never read)
            with contextlib.suppress(ConnectionResetError):
                assert await reader.read() == b""
            writer.close()
            return answer
        finally:
            await server.stop()

    answer = asyncio.run(scenario())
    user, ctl = _runs_ctl_as(os.getuid() + 1, answer.get("ctl", ""))
    assert answer == {"ok": False, "kind": "refused", "ctl": ctl,
                      "error": f"refused: uid {os.getuid()} is not this daemon's user "
                               f"({user}) — run ctl as that user: {ctl} …"}, answer
    assert not (short_dir / "uid.sock").exists()


def test_ctl_of_another_uid_reads_the_refusal_every_time(short_dir: Path) -> None:
    """`ctl` as another user (root, as `sudo vapi-bridge ctl …` is) gets the daemon's refusal
    and its fix, exit 1, every time: the daemon answers and closes at once, and before, a
    `ctl` that sent its request after that close said only 'the control socket … failed:
    Broken pipe', exit 5 (4 runs of 5 against the system unit's daemon)."""
    from bridge.control.server import ControlServer

    path = short_dir / "uid.sock"

    async def scenario() -> list[subprocess.CompletedProcess[str]]:
        server = ControlServer(respond=None, path=path,  # type: ignore[arg-type]
                               allowed_uid=os.getuid() + 1)
        await server.start()
        try:
            runs = []
            for _ in range(4):
                proc = await asyncio.create_subprocess_exec(
                    *bridge_cmd("ctl", "--socket", str(path), "status"), cwd=ROOT,
                    env=bridge_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                out, err = await proc.communicate()
                runs.append(subprocess.CompletedProcess(
                    [], proc.returncode or 0, out.decode(), err.decode()))
            return runs
        finally:
            await server.stop()

    for run in asyncio.run(scenario()):
        hint = run.stderr.rpartition(" — run ctl as that user: ")[2].removesuffix(" …\n")
        user, ctl = _runs_ctl_as(os.getuid() + 1, hint)
        assert (run.returncode, run.stderr) == (
            1, f"vapi-bridge ctl: refused: uid {os.getuid()} is not this daemon's user ({user})"
               f" — run ctl as that user: {ctl} …\n"), run.stderr


def test_ctl_and_run_find_a_daemon_started_with_another_tmpdir(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """Without XDG_RUNTIME_DIR (cron, su, a serial console), the daemon bound
    $TMPDIR/vapi-bridge-UID/: a `ctl` whose TMPDIR differed (a login shell's pam_tmpdir,
    sudo's reset environment) said "no vapi-bridge daemon is running for profile …" (exit
    5), and a second `run` started beside the first, on the same devices. Both bind and
    look in /tmp/vapi-bridge-UID now, whatever TMPDIR says; and so does a login shell's
    (pam_systemd's XDG_RUNTIME_DIR beside pam_tmpdir's TMPDIR), which looked in its own
    two places only: its `ctl` said exit 5 still, and its `run` started a second daemon."""
    sim = start_sim(assistant="echo")
    name = f"t{os.getpid()}-{secrets.token_hex(3)}"  # /tmp is shared: runs never meet
    profile = profiles.write(sim.base_url, name=name, service={"mode": "standby"})
    sock = Path(f"/tmp/vapi-bridge-{os.getuid()}/{name}.sock")
    no_xdg = {"XDG_RUNTIME_DIR": ""}
    daemon = start_daemon(profile, wait=False, TMPDIR=str(short_dir / "a"), **no_xdg)
    wait_for(sock.exists, 15, "the control socket")
    xdg = short_dir / "xdg"
    xdg.mkdir(mode=0o700)
    beside = f"another vapi-bridge daemon is already running with the control socket {sock}"
    elsewhere = f"a vapi-bridge daemon is already running this profile (its control socket " \
        f"{sock} answers)"  # (a login shell's `run` binds under its XDG_RUNTIME_DIR)
    for xdg_env, said in (({}, beside), ({"XDG_RUNTIME_DIR": str(xdg)}, elsewhere)):
        other = bridge_env(TMPDIR=str(short_dir / "b"), **{**no_xdg, **xdg_env})
        found = subprocess.run(bridge_cmd("ctl", "-p", str(profile), "status"), env=other,
                               capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert found.returncode == 0, found.stderr
        assert found.stdout.startswith(f"profile {name} (standby mode)"), found.stdout
        second = subprocess.run(bridge_cmd("run", "-p", str(profile)), env=other,
                                capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert second.returncode == 2, second.stderr
        assert said in second.stderr, second.stderr
        assert "systemctl" not in second.stderr, second.stderr  # it runs in no unit, and
        if said == elsewhere:  # what stops it is named: before, `systemctl stop vapi-bridge@…`
            assert f"stop it first (kill {daemon.proc.pid}: its process, not a systemd " \
                f"unit), or use `" in second.stderr, second.stderr
    # a plain login shell (XDG_RUNTIME_DIR, no TMPDIR) with no --profile: exit 5 before,
    # "no vapi-bridge daemon found (no control socket in …, /tmp/vapi-bridge-UID)"
    # (a test beside this one may run a daemon in the system unit's place, looked in first)
    units = list(SYSTEM_RUNTIME_DIR.glob("*.sock"))
    login = bridge_env(TMPDIR="", XDG_RUNTIME_DIR=str(xdg))
    found = subprocess.run(bridge_cmd("ctl", "status"), env=login, capture_output=True,
                           text=True, cwd=ROOT, timeout=30)
    units += SYSTEM_RUNTIME_DIR.glob("*.sock")
    assert found.returncode == 0, found.stderr
    assert units or found.stdout.startswith(f"profile {name} (standby mode)"), found.stdout
    assert daemon.stop() == 0


@pytest.mark.parametrize(("cgroup", "stop"), [
    ("0::/system.slice/system-vapi\\x2dbridge.slice/vapi-bridge@frontdesk.service\n",
     "systemctl stop vapi-bridge@frontdesk.service"),
    ("1:name=systemd:/user.slice/user-1000.slice/user@1000.service/app.slice/"
     "vapi-bridge@lobby.service\n0::/\n", "systemctl --user stop vapi-bridge@lobby.service"),
    ("0::/user.slice/user-0.slice/session-3.scope\n", None),  # a login shell's
    ("0::/system.slice/cron.service\n", None),  # another program's unit: not ours to stop
    ("0::/\n4:memory:/docker/0123\n", None),  # a container's
])
def test_a_daemon_run_by_systemd_is_stopped_through_its_unit(cgroup: str,
                                                              stop: str | None) -> None:
    from bridge.control.peers import unit_stop

    assert unit_stop(cgroup) == stop


def test_run_beside_another_users_daemon_names_the_ctl_that_it_answers(
        start_sim, profiles: ProfileBuilder, short_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """root's `run -p frontdesk` beside the system unit's daemon (user vapi-bridge) was
    refused with "or use `vapi-bridge ctl --socket …`": that daemon refuses root's ctl (and
    the bare name is on no PATH under /opt). Both refusals now give the ctl it answers: a
    daemon where `ctl` looks (the unit's socket, from a shell: a real `run`) and one on the
    socket this daemon would bind (the server's own refusal). (A daemon of another uid: the
    control socket's test double, allowed_uid.) Each asks the other daemon once (one
    connection, each logged by it as a refused peer): `run` connected 3 times, to see that
    it answers, for its pid, for its status; the server's own refusal twice."""
    from bridge.control.server import ControlServer, SocketInUse

    sim = start_sim(assistant="echo")
    unit_sock = short_dir / "vapi-bridge" / "kiosk.sock"  # where ctl looks: XDG_RUNTIME_DIR
    own_sock = short_dir / "own.sock"
    profile = profiles.write(sim.base_url, service={"mode": "standby"})  # the default socket
    env = {"RUNTIME_DIRECTORY": str(short_dir / "run"), "XDG_RUNTIME_DIR": str(short_dir)}

    def asked() -> int:  # the connections the two daemons have refused so far
        return sum(r.getMessage().startswith("control socket: refused a peer")
                   for r in caplog.records)

    async def scenario() -> tuple[str, str]:
        servers = [ControlServer(respond=None, path=path,  # type: ignore[arg-type]
                                 allowed_uid=os.getuid() + 1) for path in (unit_sock, own_sock)]
        for server in servers:
            await server.start()
        try:
            proc = await asyncio.create_subprocess_exec(
                *bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                env=bridge_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _, err = await proc.communicate()
            assert proc.returncode == 2, err
            assert asked() == 1
            second = ControlServer(respond=None, path=own_sock)  # type: ignore[arg-type]
            with pytest.raises(SocketInUse) as refused:
                await second.start()
            assert asked() == 2
            return err.decode().strip().splitlines()[-1], str(refused.value)
        finally:
            for server in servers:
                await server.stop()

    with caplog.at_level(logging.WARNING, "bridge.control"):
        beside_unit, beside_own = asyncio.run(scenario())
    assert beside_unit.startswith("vapi-bridge: a vapi-bridge daemon is already running this "
                                  f"profile (its control socket {unit_sock} answers)"), beside_unit
    ctl, _, rest = beside_unit.partition(", or use `")[2].partition(" --socket ")
    assert rest == f"{unit_sock}`", beside_unit
    _runs_ctl_as(os.getuid() + 1, ctl)
    assert beside_own.startswith("another vapi-bridge daemon is already running with the "
                                 f"control socket {own_sock}"), beside_own
    ctl, _, rest = beside_own.partition("stop it first (`")[2].partition(" --socket ")
    assert rest == f"{own_sock} status` shows it)", beside_own
    _runs_ctl_as(os.getuid() + 1, ctl)


def _runs_ctl_as(uid: int, ctl: str) -> tuple[str, str]:
    """The refusal's fix names the daemon's user (sudo's #UID where it has no name) and its
    program by a path that runs where the program is on no PATH: the install guide's
    /opt/vapi-bridge/venv/bin, on neither the service user's PATH nor sudo's. Before, it
    said `sudo -u vapi-bridge vapi-bridge ctl …`: "command not found"."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid {uid}"
    argv = shlex.split(ctl)
    assert argv[:3] == ["sudo", "-u", f"#{uid}" if user == f"uid {uid}" else user], ctl
    try:
        ran = subprocess.run([*argv[3:], "--help"], capture_output=True, text=True,
                             timeout=30, env={"PATH": "/nonexistent"}, cwd="/")
    except FileNotFoundError:
        raise AssertionError(f"{ctl}: not found where the program is on no PATH") from None
    assert ran.returncode == 0 and ran.stdout.startswith("usage: vapi-bridge ctl"), ctl
    return user, ctl


@pytest.mark.parametrize("argv", [["ctl", "--socket", "x", "handoff"],
                                  ["ctl", "--socket", "x", "add-message", "hi", "--role", "bot"],
                                  ["ctl", "--socket", "x", "fly"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_ctl_starts_without_the_call_machinery(tmp_path: Path) -> None:
    """`ctl` is what an operator types on a Pi: it loads neither numpy, httpx, asyncio nor the
    profile loader unless a profile file is named (0.9 s of imports here, 0.2 s without)."""
    heavy = ("numpy", "httpx", "asyncio", "yaml", "soxr", "websockets", "bridge.profile")
    code = ("import sys; from bridge.cli.main import main; sys.argv = ['vapi-bridge', 'ctl', "
            f"'--socket', {str(tmp_path / 'none.sock')!r}, 'status']; code = main(); "
            f"print(code, [m for m in {heavy!r} if m in sys.modules])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=bridge_env(), cwd=ROOT)
    assert run.stdout.strip() == "5 []", run.stdout + run.stderr
    assert run.stderr.startswith("vapi-bridge: no vapi-bridge daemon is running at"), run.stderr


def test_a_long_text_in_any_script_reaches_the_daemon_or_is_a_usage_error(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """A request went as ASCII-escaped JSON (a CJK character: 6 bytes) and one over the
    daemon's 64 KiB line was "the control socket … failed: Broken pipe", exit 5, as if no
    daemon ran. Now UTF-8 (3 bytes), and a longer one is refused before it is sent."""
    sim = start_sim(assistant="echo")
    sock = short_dir / "ctl.sock"
    daemon = start_daemon(control_profile(profiles, sim, sock))
    wait_for(lambda: daemon.ctl("status").returncode == 0, 10, "the daemon to answer")
    fits = daemon.ctl("say", "受付へようこそ。" * 2500)  # 20,000 characters: 60 KB in UTF-8
    assert (fits.returncode, fits.stderr.strip()) == (1, "vapi-bridge ctl: no call in "
                                                         "progress — start one with "
                                                         "`vapi-bridge ctl call`"), \
        "read and answered"
    too_long = daemon.ctl("add-message", "受付へようこそ。" * 5000)
    assert too_long.returncode == 2, too_long.stderr
    assert too_long.stderr.strip() == (
        "vapi-bridge ctl: the request is 117 KiB; the control socket takes 64 KiB at most (a "
        "text of about 63,000 ASCII characters, a third of that in most other scripts)")
    assert daemon.ctl("status").returncode == 0
    assert daemon.stop() == 0, daemon.err
