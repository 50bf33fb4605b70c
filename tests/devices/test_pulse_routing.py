"""`audio.input: pulse:NAME`: a PulseAudio source or sink named directly, as people set up
the sound server's own echo cancelling. On the rig, `module-echo-cancel` makes `ec_mic` (the
echo-cancelled vb_mic) and `ec_speaker` (playing into vb_speaker); PortAudio, which sees only
ALSA devices, cannot open them by name — `pulse:` routes through the ALSA pulse plugin."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.conftest import finals
from tests.devices.conftest import (
    list_devices_json,
    require_espeak,
    run_bridge,
    running_bridge,
    summary_of,
    wait_streaming,
    write_profile,
)
from tests.rig.pulse import PulseRig, RigError
from tests.rig.signals import (
    align_and_correlate,
    envelope_correlation,
    espeak,
    resample,
    write_wav,
)


@pytest.fixture
def echo_cancel(fresh_rig: PulseRig) -> Iterator[PulseRig]:
    try:
        module = fresh_rig.pactl(
            "load-module", "module-echo-cancel", "source_name=ec_mic", "sink_name=ec_speaker",
            f"source_master={fresh_rig.mic_source}", f"sink_master={fresh_rig.speaker_sink}",
            "aec_method=webrtc",
            # cancel echo only: no gain control or noise suppression reshaping the voice
            'aec_args="analog_gain_control=0 digital_gain_control=0 noise_suppression=0"'
        ).strip()
    except RigError as exc:
        pytest.skip(f"module-echo-cancel with webrtc is not available: {exc}")
    yield fresh_rig
    fresh_rig.pactl("unload-module", module)


def _stream_targets(rig: PulseRig, pid: int) -> dict[str, set[str]]:
    """The source/sink names each of the process's streams is connected to."""
    names = {kind: {int(i["index"]): i["name"]
                    for i in json.loads(rig.pactl("-f", "json", "list", kind))}
             for kind in ("sources", "sinks")}
    found: dict[str, set[str]] = {"source": set(), "sink": set()}
    for kind, key, target in (("source-outputs", "source", "sources"),
                              ("sink-inputs", "sink", "sinks")):
        for item in json.loads(rig.pactl("-f", "json", "list", kind)):
            if item["properties"].get("application.process.id") == str(pid):
                found[key].add(names[target][int(item[key])])
    return found


def test_devices_lists_sources_and_sinks_to_name_with_pulse(echo_cancel: PulseRig) -> None:
    listed = {d["name"]: d for d in list_devices_json(echo_cancel)}
    assert listed["pulse:ec_mic"]["inputs"] > 0 and listed["pulse:ec_mic"]["outputs"] == 0
    assert listed["pulse:ec_speaker"]["outputs"] > 0
    assert listed["pulse:ec_mic"]["hostapi"] == "PulseAudio"
    assert not any(name.endswith(".monitor") for name in listed)
    table = run_bridge(echo_cancel, "devices")
    assert "pulse:ec_mic" in table.stdout and "audio.input: pulse:" in table.stdout


def test_a_call_through_the_echo_cancelled_source_and_sink(echo_cancel: PulseRig, start_sim,
                                                           tmp_path: Path) -> None:
    rig = echo_cancel
    require_espeak()
    speech = espeak("Hello, I am here to see Doctor Lee", 16000)
    sim = start_sim("echo")
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            call={"max_duration_seconds": 10}, audio={
                                "input": "pulse:ec_mic", "output": "pulse:ec_speaker",
                                "echo": "off"})
    rig.start_speaker_recording()
    with running_bridge(rig, profile) as bp:
        wait_streaming(sim, bp)
        targets = _stream_targets(rig, bp.proc.pid)
        rig.play_into_mic(speech, 16000)
        rig.wait_mic_idle()
        code = bp.finish()
    played, rate, _t0 = rig.stop_speaker_recording()
    assert code == 0, bp.err
    assert targets == {"source": {"ec_mic"}, "sink": {"ec_speaker"}}, targets
    assert "microphone: pulse:ec_mic at " in bp.err, bp.err
    summary = summary_of(bp.out)
    assert summary["reason"] == "exceeded-max-duration", summary["line"]
    # the visitor went in through ec_mic: the simulator heard all of the speech
    heard = finals(sim.only_call(), "user")
    spoken = len(speech) / 16000
    seconds = [float(m[1]) for t in heard if (m := re.match(r"\(speech ([\d.]+) s\)", t))]
    assert seconds and max(seconds) >= 0.7 * spoken, (heard, spoken)
    # and its echo came out through ec_speaker, the same sentence. The canceller suppresses
    # and reshapes the near end while its filter adapts (its far end is this very sink), the
    # more so on a loaded machine: the waveform's correlation spans 0.2-0.9 from run to run,
    # so the sentence is recognised by its loudness contour, against another one's
    reference = resample(speech, 16000, rate)
    other = resample(espeak("Please take a seat, someone will be with you shortly", 16000),
                     16000, rate)
    _lag, corr = align_and_correlate(reference, played, rate)
    same, unlike = envelope_correlation(reference, played, rate), envelope_correlation(
        other, played, rate)
    print(f"\nthrough module-echo-cancel: contour {same:.3f} (another sentence {unlike:.3f}),"
          f" waveform {corr:.3f}, heard {heard}")
    write_wav(tmp_path / "played.wav", played, rate)
    assert same >= 0.6 and same >= unlike + 0.25, (same, unlike)


def test_a_wrong_pulse_name_lists_the_real_ones(echo_cancel: PulseRig, tmp_path: Path) -> None:
    profile = write_profile(tmp_path / "p.yaml", "http://127.0.0.1:9",
                            audio={"input": "pulse:ec_mik"})
    result = run_bridge(echo_cancel, "run", "--profile", str(profile))
    assert result.returncode == 4
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("vapi-bridge: audio.input: no PulseAudio source named 'ec_mik'; "
                           "available sources: "), line
    assert "ec_mic" in line and ".monitor" not in line
    bare = run_bridge(echo_cancel, "run", "--profile", str(profile), "--set",
                      "audio.input=ec_mic")
    assert bare.returncode == 4
    assert "did you mean pulse:ec_mic?" in bare.stderr, bare.stderr
