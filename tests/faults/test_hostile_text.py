"""Server text is hostile, end to end: the simulator's `hostile-text` fault sends forged log
lines, a `<3>` journal priority, ANSI escapes, a bidi override, a transcript ending in a
lone surrogate, huge numbers, wrong types and nesting 5,000 deep, mid-call. The real
`vapi-bridge run` process must carry on to the normal end, print no traceback, and print
every piece of that text inert: escaped, on the line of the event that carried it — in a
terminal and under systemd's journal (priority prefixes) alike."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable

import pytest

from tests.faults.harness import (
    Result,
    Sim,
    assert_clean,
    case_dir,
    parallel,
    run_once,
    write_profile,
)

pytestmark = pytest.mark.timeout(180)

LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S")
JOURNAL_LINE = re.compile(r"^<([0-7])>[^<]")
ESCAPES = ("\\n", "\\x1b", "\\u202e")


Recorded = tuple[Result, list[dict[str, object]], str]  # the run, its JSONL parsed and raw


def run(journal: bool, verbose: bool) -> Callable[[], Recorded]:
    def job() -> Recorded:
        with Sim() as sim, case_dir() as d:
            profile = write_profile(d, sim.base_url, record={"path": str(d / "rec")})
            # under the journal transcripts are off by default: printed here on purpose
            result = run_once(profile, "--fault", "hostile-text=0.3", "--set",
                              "transcript.print=finals", *(["-v"] if verbose else []),
                              journal=journal)
            raw = (d / "rec.jsonl").read_text()
        return result, [json.loads(line) for line in raw.splitlines()], raw
    return job


def forged_only_escaped(text: str) -> None:
    """Every line carrying the forged words holds them after an escape, never at its start."""
    for line in text.splitlines():
        if "FORGED" not in line:
            continue
        head = line[:line.index("FORGED")]
        assert any(e in head for e in ESCAPES) or head.endswith(("[<3>", "'")), line
        assert not line.startswith(("12:00:00 ERROR", "<3>FORGED")), line


@pytest.fixture(scope="module")
def results() -> dict[tuple[bool, bool], Recorded]:
    jobs = {(j, v): run(j, v) for j in (False, True) for v in (False, True)}
    with parallel({str(k): job for k, job in jobs.items()}) as futures:
        return {k: futures[str(k)].result(timeout=150) for k in jobs}


@pytest.mark.parametrize("journal", [False, True], ids=["terminal", "journal"])
@pytest.mark.parametrize("verbose", [False, True], ids=["default", "verbose"])
def test_hostile_server_text_is_printed_inert(results: dict, journal: bool,
                                              verbose: bool) -> None:
    result, jsonl, raw = results[(journal, verbose)]
    assert result.code == 0, result.err
    assert "ended: exceeded-max-duration" in result.out, "the call went on to its normal end"
    assert_clean(result)
    printed = result.out + result.err
    assert "\x1b" not in printed and "\u202e" not in printed
    forged_only_escaped(printed)
    # the transcript: one line per event, the lone surrogate shown, never a traceback
    assert "assistant: Your table is ready \\ud83c\n" in result.out
    assert "[<3>FORGED role\\n]: who am I\n" in result.out
    # a backslash the server wrote reads apart from an escaped line break or control
    assert "assistant: Saved in C:\\\\new\\\\x1b[2J, then a line\\nbreak\n" in result.out
    assert "assistant: Welcome.\\n12:00:00 ERROR   vapi-bridge: FORGED log line\\n<3>FORGED" \
        in result.out
    assert "tool call: open\\n12:00:00 ERROR   vapi-bridge: FORGED log line\\n<3>FORGED " \
        "journal error\\x1b[2J" in result.out, "a client-side tool's call: one line, inert"
    assert result.out.count("tool call: ") == 1, "the malformed tool calls are skipped"
    assert "FORGED_nan" not in printed, "NaN is not JSON: that tool call is dropped"
    for line in result.out.splitlines():
        assert not line.startswith("<"), line
    for line in result.err.splitlines():
        if journal:
            match = JOURNAL_LINE.match(line)
            assert match and int(match.group(1)) >= 4, f"not a safe journal line: {line!r}"
        else:
            assert LOG_LINE.match(line), f"not a log line: {line!r}"
    # the first dropped frame is said once, at warning level, even without -v, whatever its
    # kind (an oversized one, first, hid every malformed one after it at debug level), and
    # the summary counts them all
    assert result.err.count("ignored an oversized text message (1120077 bytes); the call "
                            "goes on, more are logged with -v") == 1, result.err
    assert result.err.count("the call goes on") == 1, "the malformed ones after it: -v only"
    ignored = re.search(r"; (\d+) messages from Vapi ignored \(malformed or oversized\)",
                        result.out)
    assert ignored and int(ignored[1]) >= 4, result.out  # oversized, two too deep, quotes
    if verbose:
        assert "ignored a malformed message (nested 5001 deep, more than 64)" in result.err
        assert "ignored a malformed message (nested 5000 deep, more than 64)" in result.err
        assert "in-progress\\n12:00:00 ERROR   vapi-bridge: FORGED log line\\n<3>FORGED" \
            in result.err, "the forged status was logged, inert"
    # the recording's transcript keeps the lines as Vapi sent them, read back by any JSON
    # reader, while the file itself stays inert to a terminal (cat, less)
    texts = [line["text"] for line in jsonl if "text" in line]
    # a lone surrogate (no UTF-8 text holds one) as U+FFFD: escaped, jq refused the line
    assert "Your table is ready \ufffd" in texts, texts
    assert "Saved in C:\\new\\x1b[2J, then a line\nbreak" in texts, "kept as sent"
    if shutil.which("jq"):
        read = subprocess.run(["jq", "-c", "select(.ended)"], input=raw, text=True,
                              capture_output=True, timeout=30)
        assert read.returncode == 0 and '"ended"' in read.stdout, read.stderr
    assert any("Welcome.\n12:00:00 ERROR" in str(t) for t in texts), texts
    assert not any(c in raw for c in "\x1b\u202e\x9b\r"), "the file shows inert"
    assert all(line.startswith("{") for line in raw.splitlines())
    tools = [line for line in jsonl if "tool" in line]
    assert len(tools) == 1 and "\x1b" not in json.dumps(tools, ensure_ascii=False)
    assert "\n" not in tools[0]["tool"] + tools[0]["arguments"] + tools[0]["id"]
