"""Small pieces of the simulator, its isolation from the client side, and its CLI."""

from __future__ import annotations

import ast
import itertools
import os
import random
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from bridge.sim.cli import main
from bridge.sim.config import SimConfig
from bridge.sim.faults import FAULTS, parse_faults
from bridge.sim.vad import EnergyVad
from bridge.sim.wirecodec import StreamDecoder, WireFormat, decode
from bridge.sim.wirecodec import encode as sim_encode
from tests.sim import conftest as tc

SIM_DIR = Path(__file__).resolve().parents[2] / "bridge" / "sim"


def test_bridge_sim_imports_nothing_from_the_client_side() -> None:
    files = sorted(SIM_DIR.glob("*.py"))
    assert len(files) > 10
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative imports would reach bridge/* from bridge/sim
                    assert node.level == 1, f"{path.name}: relative import beyond bridge.sim"
                    continue
                names = [node.module or ""]
                if node.module == "bridge":
                    names = [f"bridge.{a.name}" for a in node.names]
            for name in names:
                if name == "bridge" or name.startswith("bridge."):
                    assert name.startswith("bridge.sim"), f"{path.name} imports {name}"


def test_modules_stay_small() -> None:
    for path in SIM_DIR.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 350, path.name


def test_mulaw_matches_g711_and_the_tests_codec() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    x = np.arange(-32768, 32768, 7, dtype=np.int16)
    fmt = WireFormat("mulaw", 8000)
    assert sim_encode(x, fmt) == tc.encode(x, "mulaw") == audioop.lin2ulaw(x.tobytes(), 2)
    data = bytes(range(256))
    assert np.array_equal(decode(data, fmt), tc.decode(data, "mulaw"))


def test_stream_decoder_carries_odd_bytes() -> None:
    x = (np.arange(1000) * 37 % 20000 - 10000).astype(np.int16)
    raw = x.astype("<i2").tobytes()
    dec = StreamDecoder(WireFormat("pcm_s16le", 16000))
    cuts = [0, 1, 4, 171, 172, 743, 1200, 1999, 2000]
    out = np.concatenate([dec.feed(raw[a:b]) for a, b in itertools.pairwise(cuts)])
    assert np.array_equal(out, x) and dec.pending == 0


def test_vad_ignores_silence_and_near_silence_and_hears_voice() -> None:
    vad = EnergyVad(16000)
    rng = np.random.default_rng(0)
    assert vad.feed(np.zeros(32000, dtype=np.int16)) == []
    assert vad.feed(rng.integers(-3, 4, 32000).astype(np.int16)) == []
    events = vad.feed(np.concatenate([tc.voiced(1.0), np.zeros(16000, dtype=np.int16)]))
    assert [e.kind for e in events] == ["start", "stop"]
    start, stop = events
    assert abs(start.start - 64000) < 400 and abs(stop.end - 80000) < 400
    assert stop.at - stop.end >= 0.6 * 16000


def test_vapi_chunk_sizes() -> None:
    from bridge.sim.downlink import DownlinkPump
    from bridge.sim.faults import FaultSet

    pump = DownlinkPump.__new__(DownlinkPump)
    pump.fmt, pump.chunking, pump.faults = WireFormat("mulaw", 8000), "vapi", FaultSet()
    pump.rng = random.Random(3)
    pump.min_chunk, pump.max_chunk, pump.nominal = 170, 750, 400.0
    sizes = [s for need in (400, 380, 420, 800, 1500, 399) for s in pump._sizes(need)]
    assert all(170 <= s <= 750 and s % 160 for s in sizes)
    assert len(pump._sizes(1500)) >= 2  # a backlog goes out back-to-back


def test_fault_parsing() -> None:
    got = parse_faults(["http-500=2,stall=300@1.5", "jitter=20"])
    assert [f.raw for f in got] == ["http-500=2", "stall=300@1.5", "jitter=20"]
    assert got[1].number() == 300 and got[1].at(2.0) == 1.5
    for bad in ("nope", "stall", "odd-binary=3", "jitter=abc", "end-close=1234"):
        with pytest.raises(ValueError):
            parse_faults([bad])
    assert {"http-hang", "ws-close-1006", "ws-drop", "malformed-json", "odd-binary", "stall",
            "burst", "delay-in-progress", "jitter"} <= set(FAULTS)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SimConfig(assistant="parrot")
    with pytest.raises(ValueError):
        SimConfig(assistant="script:/no/such/file.yaml")
    with pytest.raises(ValueError):
        SimConfig(downlink_chunking="bytes")
    assert SimConfig(faults=("burst=1",)).parsed_faults[0].name == "burst"


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fault", "bogus"]) == 2
    assert "unknown fault" in capsys.readouterr().err
    assert main(["--assistant", "replay:/missing.json"]) == 2


def test_cli_runs_prints_its_url_and_stops_cleanly_on_sigterm() -> None:
    env = {**os.environ, "VAPI_SIM_API_KEY": "from-env-key", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bridge.sim", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=SIM_DIR.parents[1])
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.match(r"simulator listening on (http://127\.0\.0\.1:\d+) — API key: (\S+)", line)
        assert m, line
        assert m.group(2) == "from-env-key"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "Traceback" not in err and "from-env-key" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
