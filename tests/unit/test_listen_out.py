"""Two `listen --out` to one file (or a listen given a daemon's `file:` output): the second
emptied the first's file as its audio came and both wrote over each other's header and
audio, leaving no valid WAV of either. Now it is refused (exit 2, naming the file), and the
first's WAV is whole; a file nobody writes is written as before."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.audio.files import ClockedSink
from bridge.cli.listen_out import OutFile, check_out
from bridge.errors import AudioFileError, ExitCode, UsageError

BUSY = re.escape("another process is writing it (another listen, or a daemon's audio.output)")


def test_a_second_writer_is_refused_and_the_first_wav_kept(tmp_path: Path) -> None:
    out = tmp_path / "listen.wav"
    first = OutFile(out, 16000, 2)
    first.write(np.full((1600, 2), 7, dtype=np.int16))
    with pytest.raises(UsageError, match=BUSY) as before:  # before joining the call
        check_out(out)
    assert before.value.exit_code == ExitCode.PROFILE
    with pytest.raises(AudioFileError, match=BUSY):  # (at its first audio: a race lost)
        OutFile(out, 16000, 2)
    first.write(np.full((1600, 2), 7, dtype=np.int16))
    first.close()
    with wave.open(str(out), "rb") as w:
        assert (w.getnchannels(), w.getnframes()) == (2, 3200), "the first's, whole"
        assert (np.frombuffer(w.readframes(3200), "<i2") == 7).all()
    assert out.stat().st_mode & 0o777 == 0o600

    check_out(out)  # let go: written again, from the start
    again = OutFile(out, 8000, 1)
    again.close()
    with wave.open(str(out), "rb") as w:
        assert (w.getframerate(), w.getnframes()) == (8000, 0)


def test_a_daemons_output_file_is_not_a_listens(tmp_path: Path) -> None:
    import asyncio

    async def main() -> None:
        sink = ClockedSink(8000, tmp_path / "out.wav")
        sink.start()
        try:
            with pytest.raises(UsageError, match=BUSY):
                check_out(tmp_path / "out.wav")
            (tmp_path / "out.wav").chmod(0o644)  # its owner's: read by another user's player
            with pytest.raises(AudioFileError, match=BUSY):  # (a race lost: at first audio)
                OutFile(tmp_path / "out.wav", 8000, 1)
            mode = (tmp_path / "out.wav").stat().st_mode & 0o777
            assert mode == 0o644, f"a refused listen made the daemon's file {mode:o}"
        finally:
            sink.close()

    asyncio.run(main())
