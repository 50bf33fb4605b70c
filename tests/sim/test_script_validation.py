"""A `script:` or `replay:` file with an error is refused before the simulator listens: one
line naming the file and its line (exit 2 from the CLI, ValueError in-process, 400 for a
per-call `?assistant=`), never a traceback on the first call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bridge.sim import SimConfig, run_in_thread
from bridge.sim.scripts import load_script
from tests.sim.conftest import AUTH, ws_body

ROOT = Path(__file__).resolve().parents[2]

# (file name, its text, what the one line must say)
BAD_FILES = [
    ("typo.yaml", "- say: Hello.\n- say: Goodbye.\n  endcall: true\n",
     ["typo.yaml: line 2", "unknown keys ['endcall']", "did you mean endCall?"]),
    ("tone.yaml", "- Hello.\n- tone: abc\n",
     ["tone.yaml: line 2", "'tone' must be a finite number"]),
    ("wait.yaml", "- Hello.\n- say: Next.\n  wait: maybe\n",
     ["wait.yaml: line 2", "'wait' must be true or false"]),
    ("syntax.yaml", "- say: Hello.\n- say: [oops\n", ["syntax.yaml: not valid YAML at line"]),
    ("empty.yaml", "", ["empty.yaml: expected a non-empty list of lines"]),
    ("replay.json", '{"events": [{"at_s": 0, "event": {}}, {"event": {}}]}',
     ["replay.json: event 2", "at_s"]),
    ("broken.json", '{"events": [\n', ["broken.json: not valid JSON at line 2"]),
]


def _spec(path: Path) -> str:
    return f"{'replay' if path.suffix == '.json' else 'script'}:{path}"


@pytest.mark.parametrize(("name", "text", "said"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_the_cli_refuses_to_start_with_one_line(tmp_path: Path, name: str, text: str,
                                                said: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    try:
        done = subprocess.run([sys.executable, "-m", "bridge", "sim", "--port", "0",
                               "--assistant", _spec(path)],
                              capture_output=True, text=True, timeout=20, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the simulator started with a broken {name}")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # it never listened
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("vapi-bridge sim: ")
    for words in said:
        assert words in lines[0], lines[0]


def test_sim_config_refuses_a_broken_script_in_process(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(BAD_FILES[0][1])
    with pytest.raises(ValueError, match=r"typo\.yaml: line 2: unknown keys \['endcall'\]"):
        SimConfig(port=0, assistant=f"script:{path}")
    with pytest.raises(ValueError, match=r"typo\.yaml: line 2"):
        run_in_thread(SimConfig(port=0, assistant=f"script:{path}"))


def test_a_per_call_assistant_with_a_broken_script_is_a_400(tmp_path: Path) -> None:
    bad = tmp_path / "tone.yaml"
    bad.write_text(BAD_FILES[1][1])
    good = tmp_path / "good.yaml"
    good.write_text("- Hello.\n- say: Goodbye.\n  wait: false\n  endCall: true\n")
    with run_in_thread(SimConfig(port=0, assistant=f"script:{good}")) as sim, \
            httpx.Client(base_url=sim.base_url, timeout=10) as client:
        r = client.post("/call", json=ws_body(), headers=AUTH,
                        params={"assistant": f"script:{bad}"})
        assert r.status_code == 400, r.text
        assert "tone.yaml: line 2: 'tone' must be a finite number" in r.text
        r = client.post("/call", json=ws_body(), headers=AUTH)
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(("line", "words"), [
    ("- say: Hi\n  delay: .inf\n", "'delay' must be a finite number"),
    ("- tone: .inf\n", "'tone' must be a finite number"),
    ("- say: Hi\n  arguments: {a: 1}\n", "'arguments' belong to a 'tool'"),
    ("- say: Hi\n  tone: 440\n  transfer: '+15551234567'\n", "no 'tone' or 'endCall' with it"),
    ("- say: Hi\n  endCall: true\n  transfer: '+15551234567'\n", "no 'tone' or 'endCall'"),
    ("- tool: open_door\n  endCall: true\n", "'endCall' ends the call once the line is "
                                              "spoken"),
])
def test_combinations_a_line_cannot_act_on_are_refused(tmp_path: Path, line: str,
                                                        words: str) -> None:
    """An endless delay would surface as a timeout much later; a key the line would ignore
    is a mistake to name now."""
    path = tmp_path / "s.yaml"
    path.write_text(line)
    with pytest.raises(ValueError) as err:
        load_script(path)
    assert words in str(err.value) and str(path) in str(err.value)
