"""A state file the disk has no room for (`spending-PROFILE.json`, `last-ok-PROFILE`): one
warning naming the consequence and the fix, no half-written temporary file left beside
the old one, and the spending totals kept in memory until the file can take them. A file
size limit (RLIMIT_FSIZE, SIGXFSZ ignored: the write fails with EFBIG) stands in for the
full disk, in a child process of its own (about 0.3 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, logging, resource, signal, sys
from pathlib import Path
from bridge.service.day_store import DayStore
from bridge.service.day_totals import OpenCall, Totals
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
path = Path(sys.argv[1]) / "spending-kiosk.json"
store = DayStore(lambda: path, lambda: "2026-12-06")
A, B, C = ("a" * 8 + "-aaaa-4aaa-8aaa-" + "a" * 12, "b" * 8 + "-bbbb-4bbb-8bbb-" + "b" * 12,
           "c" * 8 + "-cccc-4ccc-8ccc-" + "c" * 12)
store.write(Totals("2026-12-06", 1.0, 0.01, 1, [OpenCall(A), OpenCall(B)]))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (16, resource.RLIM_INFINITY))
totals = store.read()
totals.take(A)  # counted: off the list in memory, still in the file
totals.add(60, 0.02)
totals.opened(OpenCall(C))  # placed with the disk full
print("first", store.write(totals), flush=True)
again = store.read()
print("read", json.dumps([again.minutes, again.cost, again.calls, [e.id[0] for e in again.open]]))
again.add(30, 0.01)
print("second", store.write(again), flush=True)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
print("retry", store.retry(), flush=True)
"""


def test_totals_the_disk_cannot_take_count_from_memory_and_catch_up(tmp_path: Path) -> None:
    """Before, `spending-kiosk.json.tmp` stayed behind, and the totals were read back from
    the file: the call counted was lost from them (the limit no longer held), and one
    placed with the disk full was off the open list (its end never counted it)."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    out = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert out["first"] == "False" and out["second"] == "False"
    minutes, cost, calls, open_calls = json.loads(out["read"])
    assert (minutes, cost, calls) == (2.0, 0.03, 2), out["read"]
    assert open_calls == ["b", "c"], "the call placed kept, the one counted not back"
    assert out["retry"] == "True"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spending-kiosk.json"]
    kept = json.loads((tmp_path / "spending-kiosk.json").read_text())
    assert (kept["minutes"], kept["calls"]) == (2.5, 3), kept
    assert [e["id"][0] for e in kept["open"]] == ["b", "c"], kept

    [line] = [x for x in done.stderr.splitlines() if "cannot save" in x]  # said once
    assert line.startswith("WARNING ")
    assert f"cannot save the spending totals to {tmp_path}/spending-kiosk.json (File too " \
           f"large): today's calls are counted in memory until it can be" in line, line
    assert line.endswith("— raise the file size limit (ulimit -f; under systemd, "
                         "LimitFSIZE=)"), line
    assert f"the spending totals are saved to {tmp_path}/spending-kiosk.json again" \
        in done.stderr
