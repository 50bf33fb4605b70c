"""A state file the disk has no room for (`spending-PROFILE.json`, `last-ok-PROFILE`): one
warning naming the consequence and the fix, and no half-written temporary file left beside
the old one. A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: the write fails with EFBIG)
stands in for the full disk, in a child process of its own (about 0.3 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = """
import logging, resource, signal, sys
from pathlib import Path
from bridge.service import day_totals
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
path = Path(sys.argv[1]) / "spending-kiosk.json"
day_totals.write(path, day_totals.Totals("2026-12-06", 1.0, 0.01, 1))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))
day_totals.write(path, day_totals.Totals("2026-12-06", 2.0, 0.02, 2))
"""


def test_a_state_file_that_cannot_be_written_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Before, `spending-kiosk.json.tmp` stayed behind, and the line was "cannot save the
    spending totals to PATH (File too large)": nothing said that the daily limits no longer
    counted the calls, nor what to do."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spending-kiosk.json"]
    assert '"calls": 1' in (tmp_path / "spending-kiosk.json").read_text(), "the old one kept"
    [line] = [x for x in done.stderr.splitlines() if x.startswith("WARNING")]
    assert f"cannot save the spending totals to {tmp_path}/spending-kiosk.json (File too " \
           f"large): calls are not counted towards call.max_daily_minutes/max_daily_cost " \
           f"until it can be — raise the file size limit (ulimit -f; under systemd, " \
           f"LimitFSIZE=)" in line, line
