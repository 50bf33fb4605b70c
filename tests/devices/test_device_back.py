"""A standby kiosk started while its devices are missing (a USB card plugged in late, the
sound server not up yet at boot) stays up, and finds them once they are there: PortAudio
lists the devices once, as it starts, so every call after they came back failed with "no
input device named 'vb_mic'" until someone restarted the daemon (reread helper). Through
real PortAudio devices: the rig's sound server taken away before the daemon starts, and
brought back before `ctl call`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.devices.conftest import (
    ROOT,
    BridgeProcess,
    PulseRig,
    boost_child,
    bridge,
    rig_env,
    wait_streaming,
    write_profile,
)


def test_a_device_missing_at_start_is_found_once_it_is_back(fresh_rig: PulseRig, start_sim,
                                                            tmp_path: Path) -> None:
    sim = start_sim("echo")
    sock = tmp_path / "ctl.sock"
    profile = write_profile(tmp_path / "kiosk.yaml", sim.base_url,
                            service={"mode": "standby", "control_socket": str(sock)},
                            call={"max_duration_seconds": 60})
    fresh_rig.unplug()
    proc = subprocess.Popen(bridge("run", "--profile", str(profile)), env=rig_env(fresh_rig),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=boost_child)
    bp = BridgeProcess(proc)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the daemon is up"
            time.sleep(0.05)
        fresh_rig.replug()
        ctl = subprocess.run(bridge("ctl", "--socket", str(sock), "call"), env=rig_env(
            fresh_rig), cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert ctl.returncode == 0, ctl.stderr
        wait_streaming(sim, bp)
        status = subprocess.run(bridge("ctl", "--socket", str(sock), "--json", "status"),
                                env=rig_env(fresh_rig), cwd=ROOT, capture_output=True,
                                text=True, timeout=30)
        assert json.loads(status.stdout)["call"]["status"] == "in-progress", status.stdout
    finally:
        bp.stop()  # SIGTERM: the call ends, the daemon exits
        bp.finish(timeout=20)
    assert "the daemon waits, and opens it again for the next call" in bp.err, bp.err
    assert "no call placed" not in bp.err, bp.err
