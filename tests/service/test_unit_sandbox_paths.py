"""`vapi-bridge unit` warns when the unit's own sandbox would hide the installation it
points at (PrivateTmp= hides /tmp, ProtectHome= /home and /root): the service would fail
with 203/EXEC. Through a real venv made under /tmp."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.e2e.conftest import ROOT


def test_an_installation_under_tmp_is_warned_of() -> None:
    tmp_path = Path(tempfile.mkdtemp(prefix="vb-unit-", dir="/tmp"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pure = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    (Path(pure.stdout.strip()) / "bridge-under-test.pth").write_text(
        "\n".join([str(ROOT), *site.getsitepackages()]) + "\n")
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    result = subprocess.run([str(python), "-m", "bridge", "unit"], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"ExecStart={python} -m bridge run" in result.stdout, "the unit is still printed"
    warning = result.stderr.strip()
    assert warning.startswith("vapi-bridge: warning: ") and "\n" not in warning, warning
    assert f"{python} is under /tmp, which the unit's PrivateTmp=yes hides from the " \
        "service" in warning, warning
    assert "sudo python3 -m venv /opt/vapi-bridge/venv" in warning, warning
    shutil.rmtree(tmp_path, ignore_errors=True)
