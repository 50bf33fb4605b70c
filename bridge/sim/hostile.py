"""The ``hostile-text`` fault: frames a compromised or buggy server could send, to prove a
client parses everything without failing and prints none of it raw.

Each frame is raw text (not built with ``json.dumps``, which cannot even produce nesting
5,000 deep): forged log lines after a newline, a journald ``<3>`` priority, ANSI escapes,
a bidi override, a transcript ending in an escaped lone surrogate, numbers of thousands of
digits, the wrong type in every field, nesting far past any stack, NaN where JSON has
no such value, a megabyte of escaped quotes never closed, and (first) a text frame over
the client's 1 MiB limit. Tests look for the
word ``FORGED`` to find where the text ended up.
"""

from __future__ import annotations

import json

DEEP = 5000
ESCAPED_QUOTES = 500_000  # 1,000,001 bytes: under the client's 1 MiB JSON limit
FORGED_LOG = "\n12:00:00 ERROR   vapi-bridge: FORGED log line\n<3>FORGED journal error"
ANSI = "\x1b[2J\x1b[31mFORGED red\x1b[0m"
# `created-hostile-id`: the id in POST /call's answer
HOSTILE_ID = "../../../tmp/FORGED-id\n<0>FORGED" + ANSI
SURROGATE_LINE = "Your table is ready \\ud83c"  # JSON text: an escaped lone surrogate
BACKSLASH_LINE = "Saved in C:\\new\\x1b[2J, then a line\nbreak"


# sent first: a conversation-update over the client's 1 MiB text limit (a long call's whole
# history could grow so), dropped unread; dropped first, it hid every malformed frame after
# it below warning level
OVERSIZED = ('{"type":"conversation-update","messages":[{"role":"assistant","message":"'
             + "FORGED " * 160_000 + '"}]}')


def _frame(**fields: object) -> str:
    return json.dumps(fields)


HOSTILE_FRAMES: tuple[str, ...] = (
    '{"type":"conversation-update","messages":' + "[" * DEEP + "]" * DEEP + "}",
    "[" * DEEP + "]" * DEEP,
    '{"type":"status-update","status":"in-progress","n":' + "9" * DEEP + "}",
    _frame(type="status-update", status="in-progress" + FORGED_LOG),
    _frame(type="transcript", role="assistant", transcriptType="final",
           transcript="Welcome." + FORGED_LOG + " " + ANSI + " \u202eFORGED bidi\u202c"),
    _frame(type="transcript", role="<3>FORGED role\n", transcriptType="final",
           transcript="who am I"),
    '{"type":"transcript","role":"assistant","transcriptType":"final",'
    f'"transcript":"{SURROGATE_LINE}"}}',
    # backslashes as text (a path, an escape written out): they must read apart from the
    # escapes of a line break or a control
    _frame(type="transcript", role="assistant", transcriptType="final",
           transcript=BACKSLASH_LINE),
    _frame(type="speech-update", status="started", role="assistant", turn=True),
    '{"type":"speech-update","status":"stopped","role":"assistant","turn":1e400}',
    _frame(type="status-update", status={"FORGED": 1}, endedReason=["x"]),
    _frame(type="transcript", role=None, transcriptType="final", transcript=12),
    _frame(type="user-interrupted", turnId={"a": [1, 2]}),
    _frame(type="model-output" + FORGED_LOG, output=ANSI),
    _frame(type=["status-update"]),
    '{"type":"hang","x":"' + "\\u0000" * 64 + '"}',
    _frame(type="tool-calls", toolCallList=[
        {"id": "call_" + ANSI, "function": {"name": "open" + FORGED_LOG + ANSI,
                                            "arguments": "{}" + FORGED_LOG}},
        {"function": {"name": ["x"], "arguments": {"a": 1}}}, {"function": "x"}, 7]),
    _frame(type="tool-calls", toolWithToolCallList={"toolCall": 1}, toolCallList=None),
    # not JSON, but Python's json takes it: NaN and Infinity would print as no JSON reader
    # takes them
    '{"type":"tool-calls","toolCallList":[{"id":"call_nan","type":"function","function":'
    '{"name":"FORGED_nan","arguments":{"x":NaN,"y":Infinity}}}]}',
    # a string never closed, made of escaped quotes, just under a megabyte: a depth check
    # that searched for string literals from every quote took quadratic time (minutes)
    '"' + '\\"' * ESCAPED_QUOTES,
)
