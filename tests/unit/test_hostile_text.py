"""Server text is hostile: whatever a frame holds — nesting thousands deep, numbers of
thousands of digits, lone surrogates, control characters, the wrong type in every field —
`parse_event` returns an event and never raises, and every string it carries prints as one
safe line (`bridge.inert`)."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.call.summary import outcome
from bridge.cli.transcript import transcript_printer
from bridge.inert import inert, is_inert, printable, shortened
from bridge.service.logsetup import JournalFormatter, TerminalFormatter
from bridge.vapi import messages, safejson
from bridge.vapi.api import response_message
from tests.unit.hostile import KEYS, TYPES, check, json_value, nasty_text


# what a hostile server can put in a string
def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TYPES),
       st.dictionaries(st.sampled_from(KEYS), json_value, max_size=len(KEYS)),
       st.booleans())
def test_every_field_of_every_type_may_hold_anything(kind: str, body: dict[str, Any],
                                                     wrapped: bool) -> None:
    frame: dict[str, Any] = {"type": kind, **body} if "type" not in body else body
    if wrapped:
        frame = {"message": frame}
    check(messages.parse_event(dumps(frame)))


@settings(max_examples=300)
@given(st.one_of(st.text(), st.binary(), json_value.map(dumps)))
def test_any_text_or_bytes_parses_without_raising(payload: str | bytes) -> None:
    check(messages.parse_event(payload))


@pytest.mark.parametrize("frame", [
    "[" * 5000 + "]" * 5000,
    '{"a":' * 5000 + "1" + "}" * 5000,
    '{"type":"transcript","transcript":"x","extra":' + "[" * 5000 + "]" * 5000 + "}",
    "[" * 100_000,  # unbalanced too
    '{"type":"status-update","status":"in-progress","n":' + "9" * 5000 + "}",
    '{"type":"status-update","status":"ended","cost":1e999999}',
    '{"type":"transcript","transcript":"' + "x" * (2**20 + 10) + '"}',
    b'{"type":"transcript","transcript":"\xff\xfe"}',
])
def test_frames_too_deep_too_big_or_broken_are_malformed(frame: str | bytes) -> None:
    event = messages.parse_event(frame)
    check(event)
    if "1e999999" not in str(frame[:80]):
        assert isinstance(event, messages.MalformedEvent), event


def test_nesting_within_bounds_still_parses() -> None:
    nested = json.loads("[" * 58 + "]" * 58)  # 62 levels in all, within MAX_DEPTH
    deep = {"type": "tool-calls", "toolCallList": [{"function": {"name": "x",
                                                                 "arguments": nested}}]}
    event = messages.parse_event(json.dumps(deep))
    assert isinstance(event, messages.ToolCalls)
    assert event.calls[0].arguments == json.dumps(nested, separators=(",", ":"))
    assert safejson.nesting('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [1]}') == 2


@pytest.mark.parametrize("extra", [0, 100], ids=["brackets-nested", "more-in-a-string"])
def test_the_depth_bound_holds_at_its_edge_however_many_brackets_a_message_has(
        extra: int) -> None:
    """64 levels parse and 65 do not, whether the message has only its nesting's brackets
    (counting them bounds the depth without the scan) or many more inside a string."""
    pad = '{"s": "' + "[{" * extra + '", "v": '
    for depth, parses in ((safejson.MAX_DEPTH, True), (safejson.MAX_DEPTH + 1, False)):
        text = pad + "[" * (depth - 1) + "]" * (depth - 1) + "}"
        try:
            safejson.loads(text)
            parsed = True
        except safejson.UnsafeJson:
            parsed = False
        assert parsed is parses, (depth, extra)


def test_a_transcript_ending_in_a_lone_surrogate_keeps_the_line() -> None:
    event = messages.parse_event('{"type":"transcript","role":"assistant",'
                                 '"transcriptType":"final","transcript":"Welcome! \\ud83c"}')
    assert isinstance(event, messages.Transcript) and event.final
    assert event.text == "Welcome! \\ud83c"
    print(event.text)  # stdout is strict UTF-8: this would raise with the raw surrogate


def test_forged_lines_and_escapes_are_made_inert() -> None:
    event = messages.parse_event(json.dumps({
        "type": "status-update", "status": "in-progress\n12:00:00 ERROR    disk on fire",
        "endedReason": "<3>\x1b[31mboom"}))
    assert isinstance(event, messages.StatusUpdate)
    assert event.status == "in-progress\\n12:00:00 ERROR    disk on fire"
    assert event.ended_reason == "<3>\\x1b[31mboom"


def test_wrong_types_read_as_empty() -> None:
    event = messages.parse_event('{"type":"speech-update","status":["started"],"role":7,'
                                 '"turn":true}')
    assert isinstance(event, messages.SpeechUpdate)
    assert (event.status, event.role, event.turn) == ("", "", None)
    assert messages.parse_event('{"type":"speech-update","turn":1e300}').turn is None  # type: ignore[attr-defined]
    assert messages.parse_event('{"type":7}').type == "malformed"


@given(st.text())
def test_inert_text_is_one_printable_line_and_keeps_what_is_safe(text: str) -> None:
    out = inert(text)
    assert is_inert(out) and len(out.splitlines()) <= 1
    out.encode("utf-8")
    assert printable(out) == out, "the journal, the terminal and the events change nothing"
    if is_inert(text) and "\\" not in text:
        assert out == text


LOOKALIKES = st.text(alphabet="\\nx1b\n\x1b", max_size=8)  # escapes and what they resemble
ESCAPE = re.compile(r"\\(\\|[nrt]|x[0-9a-f]{2}|u[0-9a-f]{4})")
NAMED = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def read_back(shown: str) -> str:
    """What a reader of the escapes (the kiosk page's script) takes the text to be."""
    return ESCAPE.sub(lambda m: NAMED.get(m[1]) or chr(int(m[1][1:], 16)), shown)


@given(LOOKALIKES | st.text())
def test_inert_text_reads_back_as_the_server_sent_it(text: str) -> None:
    """A backslash is escaped too: the two characters `\\n` a server sent (a path, an
    escape written out) read `\\\\n`, never as the escape of a line break."""
    assert read_back(inert(text)) == text


def test_a_backslash_reads_apart_from_the_escape_it_resembles() -> None:
    assert inert("C:\\new") == "C:\\\\new"
    assert inert("a\nb") == "a\\nb" and inert("a\\nb") == "a\\\\nb"
    assert inert("\\x1b") != inert("\x1b")
    assert printable("a\\nb\n") == "a\\nb\\n", "printable: controls only"


def test_inert_keeps_accents_emoji_and_scripts() -> None:
    text = "Grüß Gott — 你好 — مرحبا — 👩‍💻"
    assert inert(text) == text
    assert inert("a" * 10, limit=4) == "aaaa…"


@settings(max_examples=200)
@given(nasty_text, st.sampled_from([logging.DEBUG, logging.INFO, logging.WARNING,
                                    logging.ERROR]))
def test_any_message_is_one_inert_log_line(text: str, level: int) -> None:
    record = logging.LogRecord("bridge.call", level, __file__, 1, "call x: %s", (text,), None)
    for formatter in (JournalFormatter("%(message)s"), TerminalFormatter(colour=False)):
        line = formatter.format(record)
        assert len(line.splitlines()) == 1 and is_inert(line), repr(line)
        line.encode("utf-8")
    journal = JournalFormatter("%(message)s").format(record)
    assert journal[:1] == "<" and journal[2] == ">" and journal[3:4] != "<"


def test_a_traceback_keeps_its_lines_each_one_indented_with_its_priority() -> None:
    try:
        raise ValueError("bad\n<3>FORGED\n12:00:00 ERROR FORGED")
    except ValueError:
        record = logging.LogRecord("bridge", logging.WARNING, __file__, 1, "failed", None,
                                   sys.exc_info())
    lines = JournalFormatter("%(message)s").format(record).splitlines()
    assert lines[0] == "<4>failed" and len(lines) > 3
    assert all(line.startswith("<4>  ") for line in lines[1:]), lines
    terminal = TerminalFormatter(colour=False).format(record).splitlines()
    assert all(line.startswith("  ") for line in terminal[1:]), terminal


def test_the_transcript_printer_prints_one_inert_line_per_event(
        capsys: pytest.CaptureFixture[str]) -> None:
    show = transcript_printer("all")
    show(messages.Transcript("transcript", {}, role="<3>x\n", final=True,
                             text="a\nb \x1b[31m \ud83c"))
    show(messages.Transcript("transcript", {}, role="assistant", final=False, text="partial"))
    out = capsys.readouterr().out
    assert out == "[<3>x\\n]: a\\nb \\x1b[31m \\ud83c\nassistant: partial …\n"


def test_a_transcript_with_a_backslash_is_printed_and_logged_as_sent_once_escaped(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Inert once where it came in: the printer and the log add no second escape."""
    event = messages.parse_event(json.dumps({
        "type": "transcript", "role": "assistant", "transcriptType": "final",
        "transcript": "C:\\new\nline"}))
    assert isinstance(event, messages.Transcript)
    transcript_printer("finals")(event)
    assert capsys.readouterr().out == "assistant: C:\\\\new\\nline\n"
    record = logging.LogRecord("bridge.call", logging.INFO, __file__, 1, "said: %s",
                               (event.text,), None)
    assert TerminalFormatter(colour=False).format(record).endswith("said: C:\\\\new\\nline")


def test_the_calls_outcome_from_rest_is_inert_and_typed() -> None:
    assert outcome({"endedReason": "done\n<3>FORGED", "cost": 0.01}, "x") == \
        ("done\\n<3>FORGED", 0.01)
    for cost in (True, float("nan"), float("inf"), -1, "0.1", [1]):
        assert outcome({"cost": cost}, "ended") == ("ended", None)
    assert outcome({"endedReason": {"a": 1}}, "ended")[0] == "ended"


def test_rest_error_text_is_inert_whatever_its_shape() -> None:
    def said(**kwargs: Any) -> str:
        response = httpx.Response(400, **kwargs)
        return response_message(response.content, response.reason_phrase)

    assert said(json={"message": ["a\nb", "<3>c\x1b[2J"]}) == "a\\nb; <3>c\\x1b[2J"
    assert said(json={"error": "x\r\n12:00:00 ERROR FORGED"}) == "x\\r\\n12:00:00 ERROR FORGED"
    deep = said(content=b"[" * 5000 + b"]" * 5000)
    assert deep.startswith("[[[") and len(deep) <= 301
    assert said(text="plain\nbody") == "plain\\nbody"
    assert len(said(json={"message": ["x" * 1000] * 1000})) <= 301


def test_a_megabyte_of_escaped_quotes_costs_no_memory_to_measure() -> None:
    """The depth check skips string literals with a regular expression; on a megabyte of
    `\\"` never closed (the simulator's hostile frame) the engine kept its backtracking
    states: the process's peak memory rose 58 MB for a moment (soak helper). Measured in a
    process of its own, by the kernel's high-water mark."""
    import subprocess
    import sys

    probe = (
        "import resource\n"
        "from bridge.vapi import safejson\n"
        "from bridge.sim.hostile import HOSTILE_FRAMES\n"
        "big = max(HOSTILE_FRAMES, key=len)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "safejson.nesting(big)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n")
    grown = float(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                 text=True, check=True).stdout)
    assert grown < 8, f"{grown:.1f} MB more at the peak"


@given(st.text(max_size=60) | st.builds("{} — {}".format, st.text(max_size=40),
                                        st.text(max_size=12)), st.integers(0, 40))
def test_a_shortened_line_fits_its_room_at_any_limit(text: str, limit: int) -> None:
    """`shortened` keeps to `limit`: at 0, or with a `cause — fix` whose fix fills all but
    the dash, the cause's room came out 0 or less, and it was kept almost whole
    ("abcdefghi… — fix" for 6 characters)."""
    out = shortened(inert(text), limit)
    assert len(out) <= limit and is_inert(out), out
    assert shortened("abcdefghij — fix", 6) == " — fix"
