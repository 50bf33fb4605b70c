"""The API key's settings through the real `vapi-bridge run` and `check` against the
simulator: a key written where its variable's name belongs is refused without being shown,
an empty key is called empty, the example's placeholder assistant is refused before Vapi
is asked."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import ProfileBuilder, run_bridge

KEY_IN_PROFILE = "3f2a9c1e-7b4d-4e8a-9f10-2c3d4e5f6a7b"
KEY_ENV_FIX = ("api.key_env: must name an environment variable (e.g. VAPI_API_KEY), not hold "
               "the key itself: put the key in that variable or in api.key_file")


@pytest.mark.parametrize("given", ["file", "set"])
def test_a_key_in_key_env_is_refused_and_never_printed(start_sim, profiles: ProfileBuilder,
                                                       given: str) -> None:
    sim = start_sim(assistant="echo")
    if given == "file":
        profile, extra = profiles.write(sim.base_url, api={"key_env": KEY_IN_PROFILE}), []
        where = f"{profile}:4: "  # the line of api.key_env
    else:
        profile, extra = profiles.write(sim.base_url), ["--set",
                                                        f"api.key_env={KEY_IN_PROFILE}"]
        where = "--set "
    results = [run_bridge(*command, "-p", str(profile), *extra) for command in
               (("run",), ("-v", "run"), ("check",), ("check", "--json"))]
    for result in results:
        assert result.returncode == 2, result.stdout + result.stderr
        printed = result.stdout + result.stderr
        for part in (KEY_IN_PROFILE, KEY_IN_PROFILE[:8], KEY_IN_PROFILE[-12:]):
            assert part not in printed, printed
        assert "Traceback" not in printed
    for result in results[:2]:
        assert result.stderr.strip().splitlines()[-1] == f"vapi-bridge: {where}{KEY_ENV_FIX}"
    assert f" ✗ profile valid — {where}{KEY_ENV_FIX}" in results[2].stdout
    (only,) = json.loads(results[3].stdout)["checks"]
    assert only["detail"] == f"{where}{KEY_ENV_FIX}"
    assert sim.calls() == [], "nothing was asked of Vapi"


def test_an_empty_key_is_called_empty(start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url)
    empty = "set but empty — put the Vapi API key in it"
    run = run_bridge("run", "-p", str(profile), VAPI_API_KEY="")
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"vapi-bridge: the environment variable VAPI_API_KEY is set but empty — put the Vapi "
        f"API key in it, or unset it and use api.key_file in {profile} or a systemd "
        f"credential named vapi-api-key")
    check = run_bridge("check", "-p", str(profile), VAPI_API_KEY="")
    assert check.returncode == 2
    assert f" ✗ API key present — the environment variable VAPI_API_KEY is {empty}" \
        in check.stdout, check.stdout
    assert sim.calls() == []


PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
PLACEHOLDER_FIX = ("is still the example's placeholder — copy the assistant's id from the Vapi "
                   "dashboard (Assistants), or use assistant.inline")


def test_the_examples_placeholder_assistant_is_refused_before_vapi_is_asked(
        start_sim, profiles: ProfileBuilder) -> None:
    sim = start_sim(assistant="echo")
    profile = profiles.write(sim.base_url, assistant={"id": PLACEHOLDER})
    run = run_bridge("run", "-p", str(profile))
    assert run.returncode == 2, run.stderr
    said = f"assistant.id in {profile} {PLACEHOLDER_FIX}"
    assert run.stderr.strip().splitlines()[-1] == f"vapi-bridge: {said}", run.stderr
    assert "Couldn't Get Assistant" not in run.stderr and "Traceback" not in run.stderr
    check = run_bridge("check", "-p", str(profile))
    assert check.returncode == 2
    assert f" ✗ assistant '{PLACEHOLDER}' found — {said}" in check.stdout.splitlines()
    # not asked of Vapi: the same with no API to ask (it would be exit 5, unreachable)
    down = profiles.write("http://127.0.0.1:9", name="down", assistant={"id": PLACEHOLDER})
    assert run_bridge("run", "-p", str(down)).returncode == 2
    by_set = run_bridge("run", "-p", str(profiles.write(sim.base_url, name="other")),
                        "--set", f"assistant.id={PLACEHOLDER}")
    assert by_set.returncode == 2
    assert by_set.stderr.strip().splitlines()[-1] == \
        f"vapi-bridge: --set assistant.id {PLACEHOLDER_FIX}"
    assert sim.calls() == []
