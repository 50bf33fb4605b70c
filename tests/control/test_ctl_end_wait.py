"""`ctl end` waits for the daemon's answer however long the daemon may take to give it: an
end Vapi did not confirm is answered once the summary has looked at the call and, if need
be, ended it through the controlUrl (and looked again after a 400). With
`call.end_timeout_seconds: 30` that is up to 84 s; `ctl` waited 30 s and then said the
daemon did not answer (exit 5) instead of the daemon's answer."""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

from bridge.call.hangup import longest_answer
from bridge.cli.arguments import build_parser
from bridge.cli.ctl import timeout_of
from bridge.control.client import END_TIMEOUT_S
from bridge.profile.sections import CallSettings


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["ctl", "--socket", "/nonexistent", *argv])


def test_ctl_end_waits_longer_than_the_daemons_longest_end_answer() -> None:
    spec = next(f for f in dataclasses.fields(CallSettings)
                if f.name == "end_timeout_seconds").metadata["spec"]
    assert timeout_of(_args("end")) > longest_answer(spec.hi) > 60
    assert timeout_of(_args("say", "hi")) == 30  # the others: as before
    assert timeout_of(_args("end", "--timeout", "5")) == 5  # and a --timeout is a --timeout


def test_the_one_button_script_outwaits_ctl_end() -> None:
    """docs/examples/one-button.py ran `ctl end` under subprocess.run(timeout=60): an end ctl
    waits up to 90 s for killed the script (TimeoutExpired, a traceback, no more presses)
    instead of ctl answering. Its timeout (a literal, or the module's constant it names)
    is beyond ctl end's own wait."""
    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "one-button.py"
    tree = ast.parse(path.read_text())
    names = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    given = [k.value for node in ast.walk(tree) if isinstance(node, ast.Call)
             for k in node.keywords if k.arg == "timeout"]
    assert given, "one-button.py runs ctl with no timeout"
    for value in given:
        value = names.get(value.id, value) if isinstance(value, ast.Name) else value
        assert ast.literal_eval(value) > END_TIMEOUT_S, ast.unparse(value)
