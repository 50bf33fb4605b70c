"""What `ctl end` and the controls answer when Vapi is slow to say a call ended, or the link
to it is dead: one real daemon (standby) and `ctl` against the simulator, through a relay
that can hold everything (`relay.py`), for the module."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.call.abandon import LOOK_AGAIN_S, end_lost
from bridge.control.client import request
from bridge.profile import load_profile
from bridge.sim import SimConfig, run_in_thread
from bridge.vapi.api import VapiApi
from bridge.vapi.callinfo import CallInfo
from bridge.vapi.commands import CallCommands
from tests.control.conftest import Daemon, wait_for
from tests.e2e.conftest import (
    KEY,
    ROOT,
    ProfileBuilder,
    SimHandle,
    StderrLines,
    bridge_cmd,
    bridge_env,
)
from tests.network.relay import Relay
from tests.network.test_bounded_answers import CALL_ID, RawServer, fixed

pytestmark = pytest.mark.timeout(60)


@dataclass
class Kiosk:
    sim: SimHandle
    relay: Relay
    daemon: Daemon
    log: StderrLines

    def status(self) -> dict:
        return request(self.daemon.socket, {"cmd": "status"}, timeout=10)

    def call(self) -> str:
        """A call placed and up (in progress at Vapi); its id."""
        before = {c["id"] for c in self.sim.calls()}
        assert self.daemon.ctl("call").returncode == 0
        return wait_for(lambda: next((c["id"] for c in self.sim.calls() if c["id"] not in
                                      before and c["status"] == "in-progress"), None), 10,
                        "the call")


@contextlib.contextmanager
def running_kiosk(state: Path, lag_ms: int) -> Iterator[Kiosk]:
    """A simulator whose Vapi ends a call `lag_ms` before it says so (`ended-slow`), and a
    standby daemon (`call.end_timeout_seconds` 0.5) reaching it through a relay."""
    handle = run_in_thread(SimConfig(host="127.0.0.1", port=0, api_key=KEY, assistant="echo",
                                     faults=(f"ended-slow={lag_ms}",)))
    sim = SimHandle(handle.base_url, handle.stop)
    relay = Relay(int(sim.base_url.rsplit(":", 1)[1]))
    short = Path(tempfile.mkdtemp(prefix="vbend-"))
    profile = ProfileBuilder(state).write(
        relay.url, name="endanswers", call={"end_timeout_seconds": 0.5},
        service={"mode": "standby", "control_socket": str(short / "ctl.sock")})
    env = bridge_env(XDG_STATE_HOME=str(state / "state"))
    proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    kiosk = Kiosk(sim, relay, Daemon(proc, short / "ctl.sock", env), StderrLines(proc))
    try:
        wait_for(lambda: kiosk.daemon.socket.exists() or proc.poll() is not None, 15,
                 "the control socket")
        assert proc.poll() is None, kiosk.log.join()
        yield kiosk
    finally:
        relay.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        sim.stop()
        shutil.rmtree(short, ignore_errors=True)
    assert "Traceback" not in kiosk.log.join()


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    """Vapi ends a call 3 s before it says so (`ended-slow`: the bridge's end through the
    controlUrl, after the end's own wait of 0.5 s and a look, comes within it even at the
    dependency floors under load, 2.1 s there once with 1.5 s; and the 3 s it asks again
    after a 400 reach past it). The controlUrl is not in the create's answer: it is looked
    up when needed."""
    with running_kiosk(tmp_path_factory.mktemp("endanswers"), 3000) as kiosk:
        yield kiosk


def test_an_end_vapi_says_late_is_answered_ended(kiosk: Kiosk) -> None:
    """Vapi ends the call on the end-call but says so 3 s late (its `ended`, and its look,
    which says in-progress until then); the end's wait (0.5 s) runs out first. The summary's
    look says in-progress, and the end through the controlUrl gets 400 (Vapi's answer for a
    call it no longer runs). Before, `ctl end` said "not yet at Vapi … it may bill the call";
    now Vapi is asked again, says ended, and so does `ctl end`."""
    first = kiosk.call()
    end = kiosk.daemon.ctl("end")
    assert end.returncode == 0, end.stderr
    assert "not yet at Vapi" not in end.stdout and "ended (" in end.stdout, end.stdout
    call = next(c for c in kiosk.sim.calls() if c["id"] == first)
    assert call["status"] == "ended", call["status"]
    ends = [r for r in call["controlRequests"] if r["message"].get("type") == "end-call"]
    assert ends and ends[0]["status"] == "in-progress", "the controlUrl's end met the lag"
    wait_for(lambda: kiosk.log.has("Vapi had ended it already: its controlUrl answered 400"),
             5, "the daemon's word for it")


def test_a_say_on_a_dead_link_is_answered_within_seconds(kiosk: Kiosk) -> None:
    """The whole link goes silent 1 s into a call (no FIN, no reset), and the operator's
    `ctl say` goes by the controlUrl, which must be looked up first. Before, the answer came
    after ~21 s (the lookup, retried: 2 x `api.timeout_seconds` and a backoff), the call
    lost long before; now it comes when the call is lost or kept, ~6 s later here, saying
    the say was not sent and what became of the call."""
    kiosk.call()
    wait_for(lambda: kiosk.status()["call"]["elapsedSeconds"] > 1.0, 10, "the call")
    kiosk.relay.hold()
    try:
        wait_for(lambda: kiosk.status()["call"]["link"] == "stalled", 7,
                 "the link to be found stalled")
        started = time.monotonic()
        say = kiosk.daemon.ctl("say", "One moment please.")
        took = time.monotonic() - started
    finally:
        kiosk.relay.resume()
    assert say.returncode == 5, say
    line = say.stderr.strip()
    assert "say not sent: Vapi could not be asked for the call's controlUrl" in line, line
    assert "the call was lost meanwhile (connection-lost)" in line or \
        "the link is stalled" in line, line
    assert len(line.splitlines()) == 1 and took < 12, (took, line)


def test_an_end_vapi_says_later_still_is_not_said_lost_or_unasked(tmp_path: Path) -> None:
    """Vapi says the end 8 s late: past the look again after its 400, so the call is left
    to the settler, on a link that never failed. Before, `ctl end` said Vapi "could not be
    asked or told to end it" (it was asked, said in progress, and answered the end 400),
    and the daemon's journal called the call "lost with its link" (WARNING)."""
    with running_kiosk(tmp_path, 8000) as kiosk:
        first = kiosk.call()
        end = kiosk.daemon.ctl("end")
        assert end.returncode == 0, end.stderr
        said = end.stdout
        assert "not yet at Vapi: Vapi did not confirm the end, and Vapi did not say it " \
            "ended when asked, nor take the end through its controlUrl" in said, said
        wait_for(lambda: kiosk.log.has("Vapi bills it until it is ended"), 10,
                 "the settler's word for it")
    log = kiosk.log.join()
    line = next(x for x in log.splitlines() if "Vapi bills it until it is ended" in x)
    assert f"call …{first[-8:]}, ended here with no word from Vapi that it ended, and " \
        "still in progress when asked" in line, line
    assert "lost with its link" not in log and first not in said + log, log


@pytest.mark.parametrize("status", ["in-progress", "ended"])
def test_a_400_to_an_end_is_taken_for_ended_only_when_vapi_says_so(
        status: str, tmp_path: Path) -> None:
    """The controlUrl answers the end 400, which Vapi also answers to a bad command: the
    call is settled (`end_lost` True: not billed, not handed to the settler) only once
    Vapi, asked again, says it ended; one it still says is in progress is not, after
    `LOOK_AGAIN_S` of looks."""
    call = json.dumps({"id": CALL_ID, "status": status}).encode()
    profile = load_profile(str(ProfileBuilder(tmp_path).write("http://127.0.0.1:9")))

    async def go() -> tuple[bool, float, int]:
        routes = {("POST", "/control"): fixed(400, b'{"message": "No active call"}'),
                  ("GET", f"/call/{CALL_ID}"): fixed(200, call)}
        async with RawServer(routes) as server, asyncio.timeout(20), \
                VapiApi(server.url, "private-key", timeout=2.0) as api:
            commands = CallCommands(api, _no_socket, via="control-url", public_key=None,
                                    allow_plaintext=True, timeout=2.0)
            commands.info = CallInfo.from_body({
                "id": CALL_ID, "monitor": {"controlUrl": f"{server.url}/control"}})
            started = asyncio.get_running_loop().time()
            settled = await end_lost(commands, profile.call, "…9a3c1f07")
            took = asyncio.get_running_loop().time() - started
            return settled, took, server.asked().count(("GET", f"/call/{CALL_ID}"))

    settled, took, looks = asyncio.run(go())
    assert settled is (status == "ended") and looks >= 1
    assert took < LOOK_AGAIN_S + 1 and (status == "ended" or took >= LOOK_AGAIN_S - 0.1)


async def _no_socket(_: dict) -> None:
    raise AssertionError("the end goes by the controlUrl only")
