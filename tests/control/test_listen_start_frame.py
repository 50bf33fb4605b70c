"""`vapi-bridge listen --url` against a hostile listen server on loopback (a real websocket
server written here): a start frame announcing channels or a rate it cannot play (10**9,
-1, a string, a fraction, 10**12) ends the run with one line naming what was announced and
exit 1, never a traceback, however much the server goes on streaming (it sees the
connection closed before its 50 MB are out); what was recorded before stays a valid WAV;
a frame that is not a start frame cannot size the buffers."""

from __future__ import annotations

import asyncio
import json
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import ROOT, bridge_cmd, bridge_env, run_bridge

CHUNK = 2**20
FLOOD = 50 * CHUNK
SECOND = bytes(16000 * 4)  # 1 s of stereo s16le at 16 kHz
REFUSED = ("vapi-bridge: the listen stream announced {}: not a stream listen can play (1 or "
           "2 channels of 16-bit PCM at 8000 to 48000 Hz); check that the URL "
           "is a call's listenUrl, or set --channels/--rate to override what it announces")


@dataclass
class Served:
    sent: int = 0  # audio bytes handed to the socket
    cut_off: bool = False  # the client closed before the stream's end
    joined: bool = False  # the client connected at all


@dataclass
class Run:
    code: int | None
    out: str
    err: str
    served: Served


def start(**fields: object) -> str:
    return json.dumps({"type": "start", "encoding": "linear16", "container": "raw",
                       "sampleRate": 16000, "channels": 2, **fields})


async def _listen(frames: list[str | bytes], *args: str, flood: int = 0) -> Run:
    served = Served()

    async def handler(ws: ServerConnection) -> None:
        served.joined = True
        try:
            for frame in frames:
                await ws.send(frame)
                served.sent += len(frame) if isinstance(frame, bytes) else 0
            while served.sent < flood:
                await ws.send(bytes(CHUNK))
                served.sent += CHUNK
        except ConnectionClosed:
            served.cut_off = True

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            *bridge_cmd("-v", "listen", "--url", f"ws://127.0.0.1:{port}/listen/TOKEN", *args),
            cwd=ROOT, env=bridge_env(), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 90)
        finally:
            if proc.returncode is None:  # timed out: not left running
                proc.kill()
                await proc.wait()
    return Run(proc.returncode, out.decode(), err.decode(), served)


def _one_clear_line(run: Run, line: str, code: int = 1) -> None:
    assert run.code == code, run.err[-2000:]
    assert run.err.strip().splitlines()[-1] == line
    assert "Traceback" not in run.err and "internal error" not in run.err


def _wav(path: Path) -> tuple[int, int, int]:
    with wave.open(str(path)) as w:
        return w.getnchannels(), w.getframerate(), w.getnframes()


def test_a_huge_channel_count_stops_at_once_however_much_is_streamed(tmp_path: Path) -> None:
    run = asyncio.run(_listen([start(channels=10**9)], "--out", str(tmp_path / "l.wav"),
                              flood=FLOOD))
    _one_clear_line(run, REFUSED.format("channels 1000000000"))
    assert run.served.cut_off and run.served.sent < FLOOD  # not read to the end
    assert not (tmp_path / "l.wav").exists()  # no audio was taken


@pytest.mark.parametrize(("fields", "said"), [
    ({"channels": -1}, "channels -1"),
    ({"channels": 0}, "channels 0"),
    ({"channels": "2"}, 'channels "2"'),
    ({"channels": True}, "channels true"),
    ({"sampleRate": 10**12}, "sampleRate 1000000000000"),
    ({"sampleRate": 16000.5}, "sampleRate 16000.5"),
    ({"sampleRate": "16000\x1b[2J"}, 'sampleRate "16000\\u001b[2J"'),
    ({"channels": -1, "sampleRate": 0}, "channels -1 and sampleRate 0"),
])
def test_a_start_frame_it_cannot_play_is_one_line_and_exit_1(
        tmp_path: Path, fields: dict[str, object], said: str) -> None:
    run = asyncio.run(_listen([start(**fields), SECOND], "--out", "-"))
    _one_clear_line(run, REFUSED.format(said))


def test_an_unknown_encoding_is_one_line_and_exit_1() -> None:
    run = asyncio.run(_listen([start(encoding="opus\n"), SECOND], "--out", "-"))
    _one_clear_line(run, "vapi-bridge: the listen stream announced encoding 'opus\\n'; only "
                         "linear16 (16-bit PCM) can be read")


def test_what_was_recorded_before_a_bad_start_frame_stays_a_valid_wav(tmp_path: Path) -> None:
    wav = tmp_path / "kept.wav"
    run = asyncio.run(_listen([start(), SECOND, start(sampleRate=10**12), SECOND],
                              "--out", str(wav)))
    _one_clear_line(run, REFUSED.format("sampleRate 1000000000000"))
    assert _wav(wav) == (2, 16000, 16000)


def test_other_frames_cannot_size_the_buffers(tmp_path: Path) -> None:
    """A frame that is not the start frame announcing 10**9 channels is ignored, as is a
    start frame that is not JSON (NaN); the audio, cut at odd sizes, is read whole."""
    wav = tmp_path / "odd.wav"
    audio = SECOND * 2
    pieces = [audio[i:i + 4093] for i in range(0, len(audio), 4093)]
    run = asyncio.run(_listen(['{"type": "media", "channels": 1000000000, "sampleRate": -1}',
                               '{"type": "start", "channels": NaN}', *pieces],
                              "--out", str(wav)))
    assert run.code == 0, run.err[-2000:]
    assert "Traceback" not in run.err
    assert _wav(wav) == (2, 16000, 32000)
    assert run.out.splitlines()[1] == json.dumps({"text": '{"type": "start", "channels": NaN}'})


USAGE = "vapi-bridge listen: error: argument "


@pytest.mark.parametrize(("option", "line"), [
    (("--channels", "3"), "--channels: '3': listen reads 1 or 2 channels"),
    (("--rate", "0"), "--rate: '0': listen reads 8000 to 48000 Hz"),
    (("--rate", "48001"), "--rate: '48001': listen reads 8000 to 48000 Hz"),
    (("--seconds", "-1"), "--seconds: '-1' is not a number of seconds above 0 and below "
                          "1000000"),
])
def test_overrides_it_cannot_play_are_usage_errors_before_joining(
        option: tuple[str, str], line: str) -> None:
    run = asyncio.run(_listen([start(), SECOND], "--out", "-", *option))
    _one_clear_line(run, USAGE + line, code=2)
    assert not run.served.joined


@pytest.mark.parametrize("call_id", [".", "..", "019a6f3e 2b7c", "https://dashboard.vapi.ai/"
                                     "calls/019a6f3e-2b7c-7d41-9c0e-5f1a9a3c1f07", "ab12"])
def test_a_call_id_that_is_no_call_id_is_a_usage_error_that_does_not_echo_it(
        call_id: str) -> None:
    done = run_bridge("listen", "--call-id", call_id, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        USAGE + "--call-id: not a call id (Vapi's are UUIDs, such as 019a6f3e-2b7c-7d41-"
        "9c0e-5f1a9a3c1f07): copy it from the dashboard, or give --profile to listen to the "
        "daemon's call")


@pytest.mark.parametrize(("args", "code", "line"), [
    (("--out", "/proc/listen.wav"), 2, "vapi-bridge: --out /proc/listen.wav: cannot write in "
     "/proc: No such file or directory — give a file in a writable directory, or --out - to "
     "write none"),
    (("--out", "/tmp"), 2, "vapi-bridge: --out /tmp: /tmp is a directory — give a file in a "
     "writable directory, or --out - to write none"),
    # (found only once audio came, before: exit 2 after "listening to call …")
    (("--out", "/tmp/no-such-dir-here/x.wav"), 2, "vapi-bridge: --out /tmp/no-such-dir-here/"
     "x.wav: there is no directory /tmp/no-such-dir-here — give a file in a writable "
     "directory, or --out - to write none"),
    (("--out", "-", "--play", "no-such-speaker-here"), 4, None),
])
def test_an_unwritable_out_or_a_missing_speaker_is_said_before_joining(
        args: tuple[str, ...], code: int, line: str | None) -> None:
    run = asyncio.run(_listen([start()], *args))
    assert not run.served.joined, "refused before the call was joined"
    if line is None:  # the devices differ between machines: the option's words, its fix
        last = run.err.strip().splitlines()[-1]
        assert last.startswith("vapi-bridge: --play: no output device named "
                               "'no-such-speaker-here'; ") or last.startswith(
                                   "vapi-bridge: no audio output device on this machine"), last
        assert last.endswith("or leave out --play") and "audio.output" not in last, last
        line = last
    _one_clear_line(run, line, code)
