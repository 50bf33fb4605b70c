"""`vapi-bridge listen` on a simulator call: the recording matches both legs, and
`--verify` tells which channel is which (also when the server swaps them)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import signal
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import soxr

from tests.control.conftest import control_profile, finals, wait_for
from tests.e2e.conftest import KEY, ROOT, ProfileBuilder, bridge_cmd, bridge_env
from tests.rig.signals import align_and_correlate, espeak, silence, write_wav
from tests.sim.listen_mix import assert_heard_to_the_end, without_holes

LINE = "An appointment with Doctor Lee"
HEAD_MS = 9000  # the silence before the visitor speaks


def _stereo(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 2 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
        return data, w.getframerate()


def _mono(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw[44:], "<i2")


# (fault, wire format, the simulator's listen rate, the rate the WAV must have)
CASES = [
    (None, "pcm_s16le", 16000, 16000),
    ("listen-swap", "pcm_s16le", 16000, 16000),
    # a µ-law call whose listen stream announces 8 kHz: the client follows the start frame
    (None, "mulaw", 8000, 8000),
    # no start frame at all: the documented default, stereo s16le at 16 kHz
    ("listen-no-start", "mulaw", 16000, 16000),
]


@pytest.mark.parametrize(("fault", "wire", "listen_rate", "wav_rate"), CASES)
def test_listen_records_both_legs_and_verify_tells_which_is_which(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path, start_daemon,
        fault: str | None, wire: str, listen_rate: int, wav_rate: int) -> None:
    sim = start_sim(assistant="echo", faults=(fault,) if fault else (),
                    listen_rate=listen_rate)
    # the visitor starts 9 s in: time for the listener (a new process, started once
    # `ctl status` says the call is up; both slow to start on a loaded machine) to join
    # first. With 4.5 s, a listener in the parallel phase once joined after the visitor spoke.
    visitor = np.concatenate([silence(HEAD_MS, 16000), espeak(LINE, 16000),
                              silence(300, 16000)])
    mic = tmp_path / "visitor.wav"
    write_wav(mic, visitor, 16000)
    profile = control_profile(
        profiles, sim, short_dir / "ctl.sock", service={"mode": "once"},
        call={"max_duration_seconds": 25}, wire={"format": wire},
        audio={"input": f"file:{mic}", "output": "null"},
        record={"path": str(tmp_path / "rec-{call_id}")})
    daemon = start_daemon(profile)
    wait_for(lambda: "in-progress" in daemon.ctl("status").stdout, 10, "the call")

    out = tmp_path / "listen.wav"
    listen = subprocess.Popen(
        bridge_cmd("listen", "--socket", str(daemon.socket), "--verify", "--out", str(out)),
        cwd=ROOT, env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def echoed() -> dict | None:
        calls = sim.calls()
        return calls[0] if calls and "(echo of" in " ".join(finals(calls[0])) else None

    call = wait_for(echoed, 25, "the echo of the visitor", interval=0.3)
    daemon.ok("end")
    stdout, stderr = listen.communicate(timeout=20)
    daemon.proc.wait(timeout=20)  # once mode: it exits by itself (a SIGTERM sent while it
    assert daemon.stop() == 0     # is already on its way out would race its handlers)

    print(stdout, stderr)
    heard = re.search(r"listen: ([\d.]+) s of", stderr)
    ended = sim.calls()[0]
    joined = (ended["endedMonotonic"] - ended["connectedMonotonic"] - float(heard[1])
              if heard and ended["endedMonotonic"] else None)
    assert listen.returncode == 0, f"{stderr}\nthe listener joined about {joined} s into " \
        f"the call; the visitor spoke from {HEAD_MS / 1000} s"
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    if fault == "listen-no-start":
        assert events == []
    else:
        assert events[0] == {"type": "start", "encoding": "linear16", "container": "raw",
                             "sampleRate": listen_rate, "channels": 2}
    customer = 1 if fault == "listen-swap" else 0
    assert f"verify: verified: channel {customer} is the customer, channel {1 - customer} " \
           f"the assistant" in stdout
    assert "but the server announced" not in stdout
    assert f"listening to call {call['id'][-8:]}\nwriting {out}\n" in stderr
    said = re.search(r"joined ([\d.]+) s into the call: what was said before is not in", stderr)
    # how late the listener joined (the stream has no history): as the simulator's clock
    # has it (the call's length less what the listener received), within a second
    assert said, stderr
    assert joined is None or abs(float(said[1]) - joined) <= 1.0, (said[0], joined)
    assert "http" not in stdout + stderr and "ws://" not in stdout + stderr

    audio, rate = _stereo(out)
    assert rate == wav_rate
    assert len(audio) / rate > 3
    call_rate = call["sampleRate"]
    up, down = (np.asarray(soxr.resample(_mono(sim.get_bytes(
        f"/_sim/calls/{call['id']}/{leg}.wav")), call_rate, rate), dtype=np.int16)
        for leg in ("uplink", "downlink"))
    # The listen mix places the customer on the assistant's clock, and an uplink running
    # late gets holes of silence there, what follows moved later by as much: on a loaded
    # machine the daemon's `file:` microphone keeps the time of each loop stall over 60 ms
    # off the wire (`Uplink.run`: its schedule restarts), 0.05-0.49 s behind by the end of
    # this call in 9 runs on a loaded machine (-0.01 s idle), and past the mix's 200 ms every
    # late frame leaves a hole of a few ms. 0.5 s blocks each aligned on its own scored
    # those 0.85-0.94 (a 0.9 bound: 0.893 in a rehearsal). The simulator says where it put
    # the holes, in the stream's samples: taken out, the customer channel is the uplink
    # sample for sample, as the assistant's is the downlink, each at one lag. A listen that
    # loses or repeats one 60 ms chunk of the visitor's words scores 0.57-0.79 (the blocks
    # passed 11 such cases of 12, 0.92-1.00).
    mix = ended["listen"]
    assert mix["joined"] and not mix["holesNotKept"] and not mix["droppedAhead"], mix
    # and to the call's end: a listener cut short still correlates, and its start still
    # tells when it joined (the call's length less what it got, within a second)
    assert_heard_to_the_end(len(audio), mix, rate)
    for channel, leg, name in ((customer, up, "customer/uplink"),
                               (1 - customer, down, "assistant/downlink")):
        x, holes = audio[:, channel], (0, 0)
        if channel == customer:
            x, holes = without_holes(x, mix["holes"], mix["joined"][0])
        lag, corr = align_and_correlate(x, leg, rate)
        print(f"{name}: channel {channel} correlates {corr:.4f} at {lag:.3f} s into the leg "
              f"({holes[0]} hole(s) of {holes[1] / rate * 1000:.0f} ms taken out; uplink "
              f"max gap {ended['uplink']['maxGapMs']} ms)")
        assert corr >= 0.98, name


def test_listen_auth_and_errors(start_sim, profiles: ProfileBuilder, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.client import ListenEvent, listen, open_call
    from bridge.errors import AuthError

    sim = start_sim(assistant="echo")
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    monkeypatch.setenv("VAPI_PUBLIC_KEY", "sim-public-key")
    profile = profiles.write(sim.base_url, assistant={"id": "echo", "overrides": {
        "firstMessage": "", "monitorPlan": {"listenAuthenticationEnabled": True}}})

    async def scenario() -> tuple[str, str]:
        async with open_call(str(profile)) as call:
            url = await call.listen_url()
            with pytest.raises(AuthError, match="needs the public key"):
                async for _ in listen(url):
                    pass
            # a key sent and refused: not told to send one (it was), but which key to set
            with pytest.raises(AuthError, match=r"refused the public key sent \(401\): set the "
                               "account's PUBLIC key .* VAPI_PUBLIC_KEY, or the profile's "
                               "api.public_key_env"):
                async for _ in listen(url, public_key="sim-private-key"):
                    pass
            async for item in call.listen(auth=True):
                assert isinstance(item, ListenEvent) and item.type == "start"
                break
            # the CLI on the live call: Ctrl-C finalizes the WAV and exits 0
            proc = await asyncio.create_subprocess_exec(
                *bridge_cmd("listen", "--url", url, "--auth", "--out", str(wav)), cwd=ROOT,
                env=bridge_env(VAPI_PUBLIC_KEY="sim-public-key"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            assert proc.stderr is not None
            line = b"?"
            async with asyncio.timeout(20):  # started (a loaded machine imports slowly)
                while line and not line.startswith(b"writing "):
                    line = await proc.stderr.readline()
            await asyncio.sleep(1.0)
            proc.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(proc.communicate(), 10)
            assert proc.returncode == 0, err
            return url, call.id

    wav = tmp_path / "interrupted.wav"
    url, call_id = asyncio.run(scenario())
    audio, rate = _stereo(wav)
    assert rate == 16000 and 0.5 < len(audio) / rate < 2.0, len(audio) / rate

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(bridge_cmd("listen", *args), capture_output=True, text=True,
                              timeout=20, cwd=ROOT,
                              env=bridge_env(VAPI_PUBLIC_KEY="sim-public-key"))

    no_key = run("--url", url, "--out", "-")
    assert no_key.returncode == 3
    assert no_key.stderr.strip().splitlines()[-1] == (
        "vapi-bridge: the listenUrl refused this client (401): it needs the public key "
        "(listen authentication is on) — use --auth and VAPI_PUBLIC_KEY")
    ended = run("--url", url, "--out", "-", "--auth")
    assert ended.returncode == 1
    assert ended.stderr.strip().splitlines()[-1] == \
        "vapi-bridge: the call has ended (410): there is nothing to listen to"
    assert url not in no_key.stderr + ended.stderr + ended.stdout
    by_id = run("--call-id", call_id, "--profile", str(profile), "--out", "-", "--auth")
    assert by_id.returncode == 1 and "the call has ended (410)" in by_id.stderr
    # --set, as run and check take it: a profile for Vapi pointed at the simulator
    vapi = profiles.write("https://api.vapi.ai", name="for-vapi")
    set_url = run("--call-id", call_id, "--profile", str(vapi), "--out", "-", "--auth",
                  "--set", f"api.base_url={sim.base_url}", "--set", "api.allow_plaintext=true")
    assert set_url.returncode == 1 and "the call has ended (410)" in set_url.stderr, \
        set_url.stderr
    assert run("--url", url, "--set", "api.base_url=x").stderr.strip().splitlines()[-1] == (
        "vapi-bridge: --set changes the profile read for --call-id or --url: give both")
    assert run("--call-id", call_id).returncode == 2
    verify = run("--call-id", call_id, "--profile", str(profile), "--verify")
    assert verify.returncode == 2 and "--verify works on the daemon's own call" in verify.stderr


def test_listen_refuses_a_stream_announced_in_an_encoding_it_cannot_read(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.client import open_call
    from bridge.errors import Refused

    sim = start_sim(assistant="echo", faults=("listen-encoding=mulaw\x1b[2J",))
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    profile = profiles.write(sim.base_url)

    async def scenario() -> str:
        async with open_call(str(profile)) as call:
            with pytest.raises(Refused) as err:
                async for _ in call.listen():
                    pass
        return str(err.value)

    message = asyncio.run(scenario())
    assert message == ("the listen stream announced encoding 'mulaw\\x1b[2J'; only linear16 "
                       "(16-bit PCM) can be read")


def test_a_listen_whose_disk_fills_says_so_and_keeps_a_valid_private_wav(
        start_sim, profiles: ProfileBuilder, short_dir: Path, tmp_path: Path,
        start_daemon) -> None:
    """The --out file may hold no more than 64 kB (RLIMIT_FSIZE: what a full disk does to a
    write, EFBIG for ENOSPC), under umask 000. Before: "internal error: OSError(…) —
    please report it", exit 1, and a WAV as open to others as the umask let it be."""
    sim = start_sim(assistant="echo")
    profile = control_profile(profiles, sim, short_dir / "ctl.sock", service={"mode": "once"},
                              call={"max_duration_seconds": 10},
                              overrides={"firstMessage": "Hello there, and welcome."})
    daemon = start_daemon(profile)
    wait_for(lambda: "in-progress" in daemon.ctl("status").stdout, 10, "the call")

    def small_disk() -> None:
        os.umask(0)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    out = tmp_path / "listen.wav"
    listen = subprocess.run(bridge_cmd("listen", "--socket", str(daemon.socket), "--out",
                                       str(out)), cwd=ROOT, env=daemon.env, timeout=60,
                            capture_output=True, text=True, preexec_fn=small_disk)
    daemon.proc.wait(timeout=30)
    assert daemon.stop() == 0
    assert listen.returncode == 2, listen.stderr
    assert listen.stderr.strip().splitlines()[-1] == (
        f"vapi-bridge: --out {out}: cannot write it (File too large); what was written is "
        f"kept, a valid WAV"), listen.stderr
    assert "Traceback" not in listen.stderr and "internal error" not in listen.stderr
    assert out.stat().st_mode & 0o777 == 0o600, "the conversation: the user's alone"
    with wave.open(str(out), "rb") as w:
        assert w.getnframes() > 0
        assert out.stat().st_size == 44 + w.getnframes() * 4, "the header agrees"
