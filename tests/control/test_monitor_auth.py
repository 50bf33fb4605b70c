"""`call.control_auth: true` protects the call's live audio and its control: each call the
bridge places asks Vapi for listen and control authentication (assistantOverrides.
monitorPlan), so the listenUrl and controlUrl want the PUBLIC key, which the bridge sends.
Vapi's schema (MonitorPlan): "If `listenAuthenticationEnabled` is `true`, the
`call.monitor.listenUrl` will require an `Authorization: Bearer <vapi-public-api-key>`
header" (the same for the controlUrl)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from pathlib import Path
from urllib.error import HTTPError

import pytest

from bridge.profile import parse_profile
from tests.control.conftest import control_profile, wait_for
from tests.e2e.conftest import KEY, ROOT, ProfileBuilder, bridge_cmd, bridge_env

PUBLIC = "sim-public-key"  # the simulator's (bridge.sim.config.DEFAULT_PUBLIC_KEY)


def _post(url: str, key: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, json.dumps({"type": "control",
                                                  "control": "mute-assistant"}).encode(),
                                 headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return int(answer.status)
    except HTTPError as exc:
        return exc.code


# the assistant's own monitorPlan says nothing: Vapi's defaults leave both URLs open. Or a
# `monitorPlan:` left with its keys commented out (YAML's null; Vapi takes it as absent):
# it was sent as null, control_auth asked for nothing, and no warning said so
@pytest.mark.parametrize("plan", [{}, {"monitorPlan": None}], ids=["no-plan", "null-plan"])
def test_control_auth_asks_vapi_to_protect_the_live_audio(
        start_sim, profiles: ProfileBuilder, monkeypatch: pytest.MonkeyPatch,
        plan: dict[str, object]) -> None:
    from bridge.client import AuthError, ListenEvent, listen, open_call

    sim = start_sim(assistant="echo")
    monkeypatch.setenv("VAPI_API_KEY", KEY)
    monkeypatch.setenv("VAPI_PUBLIC_KEY", PUBLIC)
    profile = profiles.write(sim.base_url, call={"control_auth": True},
                             assistant={"id": "echo", "overrides": {"firstMessage": "", **plan}})

    async def scenario() -> tuple[int, int]:
        async with open_call(str(profile)) as call:
            url = await call.listen_url()
            # anyone holding the listenUrl: refused, the visitor is not heard
            with pytest.raises(AuthError, match="needs the public key"):
                async for _ in listen(url):
                    break  # heard: the stream is open
            async for item in call.listen():  # the bridge's own listener sends the key
                assert isinstance(item, ListenEvent) and item.type == "start"
                break
            control = (await call.call.api.get_call(call.id)).control_url
            assert control
            without, with_key = await asyncio.gather(
                asyncio.to_thread(_post, control, None), asyncio.to_thread(_post, control, PUBLIC))
            return without, with_key

    without, with_key = asyncio.run(scenario())
    assert (without, with_key) == (401, 200)


def _profile(**call: object) -> str:
    import yaml

    return yaml.safe_dump({"assistant": {"id": "echo", "overrides": {
        "monitorPlan": {"listenEnabled": True, "listenAuthenticationEnabled": False}}},
        "call": call})


def test_a_monitor_plan_that_undoes_control_auth_is_warned_about() -> None:
    p = parse_profile(_profile(control_auth=True))
    # keys written in the overrides are sent as written: the stream stays open, and says so
    assert p.create_body()["assistantOverrides"]["monitorPlan"] == {
        "listenEnabled": True, "listenAuthenticationEnabled": False,
        "controlAuthenticationEnabled": True}
    assert [w for w in p.warnings if "listenAuthenticationEnabled" in w] == [
        "assistant.overrides.monitorPlan.listenAuthenticationEnabled: false, with "
        "call.control_auth on: the call's live audio (monitor.listenUrl) is not protected: "
        "anyone holding its URL hears the visitor, with no key — remove it (the bridge then "
        "asks Vapi to require the PUBLIC key)"]
    assert "monitorPlan" not in parse_profile("assistant: {id: echo}\n").create_body().get(
        "assistantOverrides", {})


def test_authentication_the_bridge_sends_no_key_for_is_warned_about() -> None:
    """The assistant asks for the PUBLIC key on its URLs while call.control_auth is off: the
    bridge sends none, so its own `listen` and controlUrl commands are refused (401)."""
    p = parse_profile("assistant:\n  id: echo\n  overrides:\n    monitorPlan:\n"
                      "      listenAuthenticationEnabled: true\n"
                      "      controlAuthenticationEnabled: true\n")
    assert [w for w in p.warnings if "control_auth is off" in w] == [
        "assistant.overrides.monitorPlan.listenAuthenticationEnabled is on but call.control_auth "
        "is off: the bridge sends no PUBLIC key, so `vapi-bridge listen` is refused (401) "
        "unless given --auth — set call.control_auth: true",
        "assistant.overrides.monitorPlan.controlAuthenticationEnabled is on but "
        "call.control_auth is off: the bridge sends no PUBLIC key, so its controlUrl commands "
        "are refused (401) — set call.control_auth: true"]


def test_check_says_when_the_public_key_control_auth_needs_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.cli.check_api import public_key_present

    monkeypatch.delenv("VAPI_PUBLIC_KEY", raising=False)
    p = parse_profile("assistant: {id: echo}\ncall: {control_auth: true}\n")
    [item] = public_key_present(p)
    assert item.ok and item.warn and "set VAPI_PUBLIC_KEY" in item.detail
    monkeypatch.setenv("VAPI_PUBLIC_KEY", PUBLIC)
    assert [(i.ok, i.warn) for i in public_key_present(p)] == [(True, False)]


def test_listen_to_the_daemon_wants_the_public_key_and_says_so(
        start_sim, profiles: ProfileBuilder, short_dir: Path, start_daemon) -> None:
    """`listen -p PROFILE` needs no private key in this shell, but the PUBLIC key where the
    call asked for listen authentication: one line saying so, not "--auth" never typed."""
    sim = start_sim(assistant="echo")
    # ended below by `ctl end`: the cap only has to outlast three listeners on a loaded machine
    profile = control_profile(profiles, sim, short_dir / "ctl.sock", service={"mode": "once"},
                              call={"control_auth": True, "max_duration_seconds": 120})
    daemon = start_daemon(profile, VAPI_PUBLIC_KEY=PUBLIC)
    wait_for(lambda: "in-progress" in daemon.ctl("status").stdout, 10, "the call")

    def listen(*args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(bridge_cmd("listen", "-p", str(profile), "--out", "-",
                                           "--no-events", "--seconds", "0.5", *args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT, env=bridge_env(**env))

    def done(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
        out, err = proc.communicate(timeout=60)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    started = listen(), listen("--no-auth"), listen(VAPI_PUBLIC_KEY=PUBLIC)
    no_key, open_door, keyed = (done(proc) for proc in started)
    daemon.ok("end")
    assert no_key.returncode == 2, no_key.stderr
    assert no_key.stderr.strip().endswith(
        "the daemon's call wants the PUBLIC key on its listen stream (call.control_auth is "
        "on), which the daemon does not hand out: set VAPI_PUBLIC_KEY (or the profile's "
        "api.public_key_file) in this shell (no private key is needed)"), no_key.stderr
    assert open_door.returncode == 3, open_door.stderr  # 401: the stream wants the key
    assert keyed.returncode == 0, keyed.stderr
