"""Who may use the HTTP server: loopback only by default (and only under a loopback host
name: no DNS rebinding), a token off loopback, and the Call button safe from other sites'
pages (forms, foreign origins)."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.e2e.conftest import ROOT, bridge_env, run_bridge
from tests.web.conftest import CSRF, ProfileBuilder, free_port, wait_for, web_profile

REALM = 'Bearer realm="vapi-bridge"'
TOKEN = "q8+Zr/Yk3m+Hw1Pa9x/7LtQe=="  # as `openssl rand -base64 18` gives: a + in ?token= stays one


def test_listening_off_loopback_needs_a_token(profiles: ProfileBuilder, start_sim) -> None:
    sim = start_sim()
    port = free_port()
    profile = web_profile(profiles, sim, port, http={"listen": f"0.0.0.0:{port}"})
    result = run_bridge("run", "--profile", str(profile), timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "http.token_env: required" in lines[0], result.stderr
    assert "0.0.0.0" in lines[0] and "127.0.0.1" in lines[0], "it says the fix"

    profile = web_profile(profiles, sim, port, http={"listen": f"0.0.0.0:{port}",
                                                     "token_env": "KIOSK_TOKEN"})
    result = run_bridge("run", "--profile", str(profile), timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [  # alone: said before anything started
        "vapi-bridge: http.token_env: the environment variable KIOSK_TOKEN is not set — "
        "set it to a long random token (openssl rand -hex 32)"], result.stderr


def test_the_token_by_header_or_by_a_cookie_set_once(
        profiles: ProfileBuilder, start_sim, start_web) -> None:
    sim = start_sim()
    port = free_port()
    profile = web_profile(profiles, sim, port, http={"listen": f"0.0.0.0:{port}",
                                                     "token_env": "KIOSK_TOKEN"})
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    daemon = start_web(profile, port, headers=bearer, KIOSK_TOKEN=TOKEN)
    base = daemon.base
    for path in ("/", "/events", "/metrics", "/state"):
        none = httpx.get(base + path)
        assert none.status_code == 401 and "a token is required" in none.text, path
        wrong = httpx.get(base + path, headers={"Authorization": "Bearer wrong-token-but-"
                                                "long-enough"})
        assert wrong.status_code == 401, path
        assert "wrong token" in wrong.text, (path, wrong.text)  # not "a token is required"
        for refused in (none, wrong):  # RFC 9110: a 401 says how to authenticate
            assert refused.headers.get("www-authenticate") == REALM, (path, refused.headers)
    refused = httpx.post(base + "/call", headers=CSRF, content="{}")
    assert refused.status_code == 401 and refused.headers.get("www-authenticate") == REALM
    assert daemon.get("/metrics").status_code == 200
    assert "vapi_bridge_state" in daemon.get("/metrics").text

    refused = httpx.get(f"{base}/?token=wrong")
    assert refused.status_code == 401 and refused.headers.get("www-authenticate") == REALM
    with httpx.Client(base_url=base) as browser_like:
        first = browser_like.get(f"/?token={TOKEN}")
        assert first.status_code == 303 and first.headers["location"] == "./"
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = browser_like.get("/")
        assert page.status_code == 200 and TOKEN not in page.text
        assert browser_like.get("/metrics").status_code == 200
        answer = browser_like.post("/call", headers=CSRF, content="{}")
        assert answer.status_code == 202, answer.text
    wait_for(lambda: len(sim.calls()) == 1, 10, "the call")
    logs = daemon.stop_and_logs()
    assert TOKEN not in logs
    # on every address: the log names a URL a browser opens, not http://0.0.0.0:PORT/
    assert f"the kiosk screen is at http://127.0.0.1:{port}/ (every address" in logs, logs


def test_the_call_button_refuses_other_sites(profiles: ProfileBuilder, start_sim,
                                              start_web) -> None:
    sim = start_sim()
    port = free_port()
    daemon = start_web(web_profile(profiles, sim, port), port)
    own = daemon.base
    refusals = {
        "a form post": ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        "no custom header": ({"Content-Type": "application/json"}, 403),
        "another origin": (CSRF | {"Origin": "http://evil.example"}, 403),
        "a cross-site fetch": (CSRF | {"Sec-Fetch-Site": "cross-site"}, 403),
    }
    for what, (headers, status) in refusals.items():
        answer = daemon.post("/call", headers=headers)
        assert answer.status_code == status, f"{what}: {answer.status_code} {answer.text}"
    rebound = httpx.get(own + "/", headers={"Host": f"evil.example:{port}"})
    assert rebound.status_code == 403, "a name rebound to 127.0.0.1 is not this kiosk"
    assert httpx.get(f"http://localhost:{port}/state").status_code == 200
    assert sim.calls() == [], "no refused request placed a call"

    answer = daemon.post("/call", headers=CSRF | {"Origin": own,
                                                  "Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 202, answer.text
    assert daemon.post("/call").status_code == 409, "one call at a time"


def test_without_the_http_extra_the_daemon_says_how_to_install_it(
        profiles: ProfileBuilder, start_sim) -> None:
    """A copy installed without [http] (aiohttp hidden from this process) and http.listen
    set: one line naming the extra and the pip command, exit 2, and that line alone: before,
    the daemon bound its control socket and logged it ("control socket: …") first."""
    sim = start_sim()
    profile = web_profile(profiles, sim, free_port())
    code = ("import sys; sys.modules['aiohttp'] = None; from bridge.cli.main import main; "
            f"raise SystemExit(main(['run', '--profile', {str(profile)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=bridge_env(), cwd=ROOT)
    assert result.returncode == 2, result.stderr
    said = result.stderr.strip().splitlines()
    last = said[-1]
    assert "http.listen" in last and "[http] extra" in last and "pip install" in last, last
    assert said == [last], "refused before anything started"


def test_http_listen_is_checked_when_the_profile_is_read() -> None:
    import pytest
    import yaml

    from bridge.errors import ProfileError
    from bridge.profile.loader import parse_profile

    def load(http: dict[str, object]) -> object:
        return parse_profile(yaml.safe_dump({"assistant": {"id": "a"}, "http": http}),
                             origin="kiosk.yaml").http

    assert load({}).listen is None  # type: ignore[attr-defined]
    assert load({"listen": "[::1]:8080"}).listen == "[::1]:8080"  # type: ignore[attr-defined]
    assert load({"listen": "localhost:8080"}).token_env is None  # type: ignore[attr-defined]
    for listen, said in (("8080", "expected HOST:PORT, e.g. 127.0.0.1:8080"),
                         ("127.0.0.1:0", "the port must be 1..65535"),
                         ("::1:8080", "in brackets, e.g. [::1]:8080")):
        with pytest.raises(ProfileError, match=r"kiosk.yaml:\d+: http.listen: ") as err:
            load({"listen": listen})
        assert said in str(err.value)
    with pytest.raises(ProfileError) as err:
        load({"listen": "kiosk.local:8080"})  # a name: not assumed to be loopback
    assert "http.token_env: required when http.listen is not a loopback address" in \
        str(err.value)


def test_two_kiosks_on_one_box_keep_their_own_cookie(
        profiles: ProfileBuilder, start_sim, start_web) -> None:
    """A browser keeps cookies per host name, whatever the port: a page opened on one
    kiosk's port and then on another's held the second one's token only, and the first
    page then told its visitor "wrong token" at the Call button (operator helper). The
    cookie is named for the port now. (httpx's jar, like a browser's, ignores the port.)"""
    sim = start_sim()
    daemons, tokens = [], [TOKEN, TOKEN[::-1] + "-second"]
    for name, token in zip(("front", "back"), tokens, strict=True):
        port = free_port()
        profile = web_profile(profiles, sim, port, name=name, http={"token_env": "KIOSK_TOKEN"})
        daemons.append(start_web(profile, port, headers={"Authorization": f"Bearer {token}"},
                                 KIOSK_TOKEN=token))
    with httpx.Client() as browser_like:
        for daemon, token in zip(daemons, tokens, strict=True):
            opened = browser_like.get(f"{daemon.base}/?token={token}")
            assert opened.status_code == 303, opened.text
        for daemon in daemons:
            assert browser_like.get(f"{daemon.base}/state").status_code == 200, daemon.base
    # a screen that kept the one cookie name of before is not logged out by the upgrade
    old = httpx.get(f"{daemons[0].base}/state", cookies={"vapi_bridge_token": tokens[0]})
    assert old.status_code == 200, old.text
