"""A recording's files as a developer reads them: each call's own (a path without
`{call_id}` gets `-2`, `-3`…, never overwriting or appending to another call's), none left
empty and invalid when a full disk keeps the recording from starting, and the transcript
exactly as Vapi sent it (tabs, line breaks, bidi marks) for a JSON reader, while the file
stays inert to a terminal."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.call.recording import Recorder
from bridge.vapi.messages import MAX_EXACT, parse_event

RATE = 16000
FRAME = 320


def record(template: str, call_id: str, level: int, said: str = "") -> Recorder:
    """A call of 40 frames at `level`, with one final transcript."""
    recorder = Recorder(template, "kiosk", RATE)
    recorder.open(call_id)
    for _ in range(40):
        recorder.on_uplink(np.full(FRAME, level, dtype=np.int16))
    if said:
        recorder.on_event(parse_event(json.dumps({"type": "transcript", "role": "assistant",
                                                  "transcriptType": "final",
                                                  "transcript": said})))
    asyncio.run(recorder.aclose())
    recorder.note_end(call_id, "customer-ended-call")
    return recorder


def samples(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


def test_calls_on_one_path_each_keep_their_own_files(tmp_path: Path) -> None:
    template = str(tmp_path / "desk")  # no {call_id}: every call expands to the same stem
    calls = [record(template, f"call-{n}", level) for n, level in enumerate((100, 200, 300))]
    assert [c.wav_path.name for c in calls if c.wav_path] == \
        ["desk.wav", "desk-2.wav", "desk-3.wav"]
    for call, level in zip(calls, (100, 200, 300), strict=True):
        assert call.wav_path is not None and call.transcript_path is not None
        assert len(samples(call.wav_path)) > 0 and (samples(call.wav_path)[:, 0] == level).all()
        ended = [json.loads(x)["ended"] for x in call.transcript_path.read_text().splitlines()]
        assert [e["callId"] for e in ended] == [f"call-{calls.index(call)}"], \
            "one call's lines only"


def test_a_disk_full_before_the_first_write_leaves_no_file(tmp_path: Path) -> None:
    """RLIMIT_FSIZE 0 stands for a full disk: files can be made, no byte written into them.
    The recorder says once that it did not start; no empty, unreadable WAV is left."""
    script = (f"import asyncio, logging, sys; logging.basicConfig(stream=sys.stdout); "
              f"from bridge.call.recording import Recorder; "
              f"r = Recorder({str(tmp_path / 'rec')!r}, 'kiosk', {RATE}); r.open('call-1'); "
              f"asyncio.run(r.aclose()); r.note_end('call-1', 'x'); print('failure:', r.failure)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, preexec_fn=_no_file_size)
    assert done.returncode == 0, done.stderr
    assert f"failure: {tmp_path / 'rec.wav'}: File too large" in done.stdout, done.stdout
    assert done.stdout.count("recording not started: cannot write") == 1, done.stdout
    assert sorted(os.listdir(tmp_path)) == [], "nothing recorded: no file left"


def _no_file_size() -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def test_the_transcript_is_kept_exactly_and_the_file_stays_inert(tmp_path: Path) -> None:
    said = "Options:\n1.\tC:\\new x\r\n\u200fשלום\u200f \x1b[2J \x9b\u202e é 😀"
    call = record(str(tmp_path / "rec"), "call-1", 100, said)
    assert call.transcript_path is not None
    raw = call.transcript_path.read_text(encoding="utf-8")
    lines = [json.loads(x) for x in raw.splitlines()]
    assert [x["text"] for x in lines if "text" in x] == [said], "as Vapi sent it"
    assert not any(c in raw for c in "\t\r\x1b\x9b\u200f\u202e"), "nothing steers a terminal"
    assert "שלום" in raw and "😀" in raw, "other scripts stay readable in the file"

    long = record(str(tmp_path / "long"), "call-2", 100, "word " * 10_000)
    assert long.transcript_path is not None
    kept = next(json.loads(x) for x in long.transcript_path.read_text().splitlines())
    assert kept["text"] == ("word " * 10_000)[:MAX_EXACT] and kept["cut"] is True


def test_a_recording_deleted_during_the_call_is_not_said_finished(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The recordings' directory removed mid-call (an `rm -r`, a cleaner): the writes went
    into files no name held, and the log said "recording finished: PATH (7.9 s …)" of a path
    naming nothing, the summary no word of it; the JSONL's end line then failed as "cannot
    write … what was recorded so far is kept". Now: one warning that it was deleted, and
    the summary's `recording incomplete (PATH: deleted during the call …)`."""
    directory = tmp_path / "recordings"
    recorder = Recorder(str(directory / "{call_id}"), "kiosk", RATE)
    recorder.check()
    recorder.open("call-1")
    for _ in range(40):
        recorder.on_uplink(np.full(FRAME, 100, dtype=np.int16))
    shutil.rmtree(directory)
    with caplog.at_level(logging.INFO, logger="bridge.record"):
        asyncio.run(recorder.aclose())
        recorder.note_end("call-1", "customer-ended-call")
    said = [r.getMessage() for r in caplog.records]
    assert not [line for line in said if line.startswith("recording finished")], said
    assert recorder.failure == f"{directory / 'call-1.wav'}: deleted during the call, with " \
        "all it held: the file or its directory was removed", recorder.failure
    assert [line for line in said if "deleted during the call" in line and
            "kept" not in line], said
    assert not directory.exists(), "no file made again for the end line alone"


def test_a_recording_deleted_then_failing_to_write_is_not_said_kept(tmp_path: Path) -> None:
    """Deleted mid-call, then a write failed (a full disk; RLIMIT_FSIZE stands for it): the
    warning said "cannot write PATH (File too large); … what was recorded so far is kept"
    of a file no longer there. Now it says the file was deleted, and the write's failure."""
    directory = tmp_path / "recordings"
    script = (f"import asyncio, logging, resource, shutil, sys; import numpy as np; "
              f"logging.basicConfig(stream=sys.stdout); "
              f"from bridge.call.recording import Recorder; "
              f"r = Recorder({str(directory / '{call_id}')!r}, 'kiosk', {RATE}); r.check(); "
              f"r.open('call-1'); shutil.rmtree({str(directory)!r}); "
              f"resource.setrlimit(resource.RLIMIT_FSIZE, "
              f"(0, resource.getrlimit(resource.RLIMIT_FSIZE)[1])); "
              f"[r.on_uplink(np.full({FRAME}, 100, dtype=np.int16)) for _ in range(40)]; "
              f"asyncio.run(r.aclose()); print('failure:', r.failure)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, preexec_fn=_no_file_size_signal)
    assert done.returncode == 0, done.stderr
    wav = directory / "call-1.wav"
    assert f"failure: {wav}: deleted during the call, with all it held: the file or its " \
           f"directory was removed; then writing failed: File too large" in done.stdout, \
        done.stdout
    assert "recording stopped" in done.stdout and "kept" not in done.stdout, done.stdout


def _no_file_size_signal() -> None:
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, EFBIG
