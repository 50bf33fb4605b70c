"""`audio.input: file:PATH` naming a file that is not a 16-bit PCM WAV (and an `audio.output:
file:` that cannot be written), through the real
`vapi-bridge run` against the simulator: one line naming the file, the cause and the sox
command that converts it, exit 2 as for a missing file (a profile problem), no call placed."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import ProfileBuilder, run_bridge

PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_*


def riff(fmt: bytes, data: bytes) -> bytes:
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + \
        struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def extensible_24bit(rate: int = 16000) -> bytes:
    """What `sox -n -b 24 x.wav synth 1 sine 440` writes: WAVE_FORMAT_EXTENSIBLE, 24-bit."""
    samples = (np.sin(np.arange(rate) * 2 * np.pi * 440 / rate) * 2**22).astype("<i4")
    data = b"".join(int(s).to_bytes(3, "little", signed=True) for s in samples)
    fmt = struct.pack("<HHIIHH", 0xFFFE, 1, rate, rate * 3, 3, 24) + \
        struct.pack("<HHI", 22, 24, 4) + struct.pack("<H", 1) + PCM_GUID_TAIL
    return riff(fmt, data)


def float_32bit(rate: int = 16000) -> bytes:
    data = np.zeros(rate, dtype="<f4").tobytes()
    return riff(struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32), data)


CASES = {
    "notes.wav": (b"these are my notes, not audio\n", "is not a WAV file"),
    "empty.wav": (b"", "is not a WAV file"),
    "hifi.wav": (extensible_24bit(), "has 24-bit samples in a WAVE_FORMAT_EXTENSIBLE header"),
    "float.wav": (float_32bit(), "has 32-bit float samples"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_file_that_is_no_16bit_pcm_wav_is_one_line_and_exit_2(
        start_sim, profiles: ProfileBuilder, tmp_path: Path, name: str) -> None:
    content, cause = CASES[name]
    wav = tmp_path / name
    wav.write_bytes(content)
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, audio={"input": f"file:{name}"})  # beside it
    result = run_bridge("run", "--profile", str(profile), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("vapi-bridge: ")]
    assert errors == [
        f"vapi-bridge: audio.input: {wav} {cause}; only plain 16-bit PCM WAV is read — "
        f"convert it: sox {wav} -b 16 -e signed-integer -c 1 {wav.with_name(wav.stem)}"
        f"-16bit.wav"], result.stderr
    assert sim.calls() == [], "no call is placed with an input that cannot be read"


def test_a_missing_file_is_exit_2_too(start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, audio={"input": "file:gone.wav"})
    result = run_bridge("run", "--profile", str(profile), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "audio.input: no such file: " in result.stderr and "gone.wav" in result.stderr


@pytest.mark.parametrize("where", ["/proc/out.wav", "DIR"])
def test_an_output_file_that_cannot_be_written_is_exit_2_as_well(
        start_sim, profiles: ProfileBuilder, tmp_path: Path, where: str) -> None:
    """The same profile problem on the other side: `audio.output: file:` in a place that
    cannot be written (or a directory) is one line, exit 2 (was 4, a device's), no call."""
    target = str(tmp_path) if where == "DIR" else where
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, audio={"output": f"file:{target}"})
    result = run_bridge("run", "--profile", str(profile), timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"vapi-bridge: cannot write output file {target}: "), result.stderr
    assert result.stderr.strip().endswith("— give audio.output a file:PATH in a directory "
                                          "you may write"), result.stderr
    assert sim.calls() == [], "no call is placed with an output that cannot be written"
