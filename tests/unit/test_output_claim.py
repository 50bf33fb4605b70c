"""A `file:` output's one-writer lock (bridge.audio.claim) is for a WAV file: two writers
of one file spoil it, but /dev/null or a FIFO is the owner's plumbing, with no WAV to spoil."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge.audio.claim import held
from bridge.audio.files import ClockedSink
from bridge.errors import AudioFileError


def test_two_outputs_to_dev_null_both_start_and_a_shared_wav_is_still_refused(
        tmp_path: Path) -> None:
    """Two daemons whose profiles say `audio.output: file:/dev/null` (a rig that plays to
    nothing): the second was refused as "being written by another process … two writers
    leave neither a valid WAV", and `check` marked /dev/null so whenever any process held it."""
    async def main() -> None:
        first, second = ClockedSink(8000, Path("/dev/null")), ClockedSink(8000, Path("/dev/null"))
        first.start()
        try:
            second.start()
            second.close()
            assert not held(Path("/dev/null"))
        finally:
            first.close()
        wav = tmp_path / "out.wav"
        one, other = ClockedSink(8000, wav), ClockedSink(8000, wav)
        one.start()
        try:
            assert held(wav)
            with pytest.raises(AudioFileError, match="being written by another process"):
                other.start()
        finally:
            one.close()
        assert not held(wav)

    asyncio.run(main())
