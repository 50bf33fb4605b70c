"""`audio.output: file:PATH`: a directory that does not exist is one line at load time,
exit 2, naming audio.output and the `mkdir -p` (nothing is created for it, as `listen
--out` creates none); a name not ending .wav gets a warning, as what is written is a
WAV whatever its name — through the real `check` and `run` against the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ProfileBuilder, run_bridge


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_missing_directory_is_refused_not_made(start_sim, profiles: ProfileBuilder,
                                                 tmp_path: Path, command: str) -> None:
    sim = start_sim(assistant="echo")
    missing = tmp_path / "nonexist" / "dir"
    profile = profiles.write(sim.base_url, audio={"output": f"file:{missing}/out.wav"},
                             assistant={"overrides": {"maxDurationSeconds": 2}})
    done = run_bridge(command, "-p", str(profile), timeout=60)
    said = done.stderr if command == "run" else done.stdout  # (check: its ✗ line)
    lines = [line for line in said.strip().splitlines() if "audio.output" in line]
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(lines) == 1, said
    if command == "run":
        assert said.strip() == lines[0], "one line"
    assert "audio.output: there is no directory " + str(missing) in lines[0], lines[0]
    assert f"mkdir -p {missing}" in lines[0], lines[0]
    assert not (tmp_path / "nonexist").exists(), "nothing is created for it"
    assert sim.calls() == [], "no call is placed"


def test_a_name_not_ending_wav_gets_a_warning(start_sim, profiles: ProfileBuilder,
                                              tmp_path: Path) -> None:
    sim = start_sim(assistant="echo")
    out = tmp_path / "out.mp3"
    profile = profiles.write(sim.base_url, audio={"output": f"file:{out}"},
                             assistant={"overrides": {"firstMessage": "Hello.",
                                                      "maxDurationSeconds": 2}})
    done = run_bridge("run", "-p", str(profile), timeout=60)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert any("audio.output" in line and "out.mp3" in line and "WAV" in line
               and "name it .wav" in line for line in warned), done.stderr
    assert out.read_bytes()[:4] == b"RIFF"
    checked = run_bridge("check", "-p", str(profile), timeout=60)
    assert "name it .wav" in checked.stdout, checked.stdout
