"""`vapi-bridge check`: a checklist against the simulator, each ✗ with its fix."""

from __future__ import annotations

from tests.e2e.conftest import ProfileBuilder, run_bridge


def test_check_passes_against_the_simulator(start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    result = run_bridge("check", "--profile", str(profiles.write(sim.base_url)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ API key accepted" in result.stdout
    assert "✓ input device null opens" in result.stdout
    assert result.stdout.strip().endswith("ready: all checks passed")


def test_check_shows_each_failure_with_its_fix(start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url)
    wrong_key = run_bridge("check", "--profile", str(profile), VAPI_API_KEY="sk-wrong")
    assert wrong_key.returncode == 3
    assert "✗ API key accepted — Vapi rejected the API key (401)" in wrong_key.stdout
    assert "use the PRIVATE API key" in wrong_key.stdout
    assert "sk-wrong" not in wrong_key.stdout + wrong_key.stderr

    missing = run_bridge("check", "--profile", str(profile), "--set",
                         "audio.input=Front Desk USB Mic")
    assert missing.returncode == 4
    assert "✗ input device Front Desk USB Mic opens — no input device named" in missing.stdout
    assert "✓ output device null opens" in missing.stdout

    down = profiles.write("http://127.0.0.1:9", name="down")
    unreachable = run_bridge("check", "--profile", str(down))
    assert unreachable.returncode == 5
    assert ("✗ API key accepted — could not reach Vapi at 127.0.0.1:9" in unreachable.stdout
            and "check the network and api.base_url" in unreachable.stdout)
    for result in (wrong_key, missing, unreachable):
        assert "Traceback" not in result.stderr
