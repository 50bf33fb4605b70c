"""A proxy that wants a login (407 Proxy Authentication Required) is said at once, in one
line naming the cause and the fix (the user and password in the proxy's variable), exit 2
as for any other setting to fix — not retried as a network failure and ended as one (exit
5, after every attempt's wait). Through the real `vapi-bridge run` process and a proxy on
loopback that answers every request 407; the password is never printed."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.conftest import wait_for
from tests.e2e.conftest import ROOT, StderrLines, bridge_cmd
from tests.faults.harness import Sim, write_profile
from tests.network.conftest import proxy_env, run, sim_with_cert

pytestmark = pytest.mark.timeout(120)
PASSWORD = "s3cretpw"
RETRIES = {"retry_attempts": 4, "retry_max_delay_seconds": 2}  # each would be waited out
ANSWER = (b"HTTP/1.1 407 Proxy Authentication Required\r\n"
          b'Proxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n'
          b"Connection: close\r\n\r\n")


class LoginProxy:
    """Answers every request 407, and notes each request line and whether it carried a
    Proxy-Authorization header."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, bool]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="login-proxy", daemon=True)

    def url(self, login: str = "") -> str:
        return f"http://{login}127.0.0.1:{self.port}"

    def _main(self) -> None:
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1"))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            login = any(h.lower().startswith("proxy-authorization:") for h in head)
            self.asked.append((head[0], login))
            writer.write(ANSWER)
            await writer.drain()
        writer.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[LoginProxy]:
        self._thread.start()
        self._ready.wait(10)
        try:
            yield self
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def said_once(result: subprocess.CompletedProcess[str], variable: str,
              proxy: LoginProxy) -> str:
    out, err, code = result.stdout, result.stderr, result.returncode
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("vapi-bridge: the proxy 127.0.0.1:"), err
    assert "(407 Proxy Authentication Required)" in last, last
    assert f"in {variable}, http://USER:PASSWORD@127.0.0.1:{proxy.port} " in last, last
    assert "retrying" not in err and "attempt" not in err, "no retry: a login fails each time"
    # the assistant's look-up and the call's creation at most, once each (retried: 5 and more)
    assert len(proxy.asked) <= 2, f"not retried: {proxy.asked}"
    assert PASSWORD not in out + err and "user:" not in out + err
    assert "Traceback" not in err
    return last


def test_a_proxy_that_wants_a_login_for_https_is_said_at_once(short_dir: Path) -> None:
    with sim_with_cert(short_dir, "127.0.0.1") as (sim, ca_pem), \
            LoginProxy().running() as proxy:
        profile = write_profile(short_dir, sim.base_url, api=RETRIES)
        none = run("run", "--profile", str(profile), env=proxy_env(
            None, ca_pem, HTTPS_PROXY=proxy.url(), https_proxy=proxy.url()))
        last = said_once(none, "HTTPS_PROXY", proxy)
        assert "requires a login" in last and "HTTPS_PROXY has none" in last, last
        assert proxy.asked and all(line.startswith(f"CONNECT 127.0.0.1:{sim.port} ") and
                                   not login for line, login in proxy.asked), proxy.asked

        proxy.asked.clear()
        wrong = proxy.url(f"user:{PASSWORD}@")
        refused = run("run", "--profile", str(profile), env=proxy_env(
            None, ca_pem, HTTPS_PROXY=wrong, https_proxy=wrong))
        last = said_once(refused, "HTTPS_PROXY", proxy)
        assert "refused its login" in last and "user or password in HTTPS_PROXY" in last
        assert proxy.asked and all(login for _, login in proxy.asked), "the login was sent"
        assert sim.simulator is not None and not sim.simulator.ctx.calls.calls, "no call"


def test_a_proxy_that_wants_a_login_for_plain_http_is_said_at_once(short_dir: Path) -> None:
    """A plain http:// API (a forward proxy): the 407 is the answer to the request itself,
    which was said as Vapi refusing the call."""
    with Sim() as sim, LoginProxy().running() as proxy:
        profile = write_profile(short_dir, sim.base_url, api=RETRIES)
        result = run("run", "--profile", str(profile), env=proxy_env(
            None, None, HTTP_PROXY=proxy.url(), http_proxy=proxy.url()))
        last = said_once(result, "HTTP_PROXY", proxy)
        assert "requires a login" in last and "Vapi" not in last, last
        assert sim.get("/_sim/calls")["calls"] == [], "nothing reached the API"


@pytest.mark.parametrize("variable", ["http_proxy", "ALL_PROXY", "all_proxy"])
def test_the_407_line_names_the_variable_that_named_the_proxy(short_dir: Path,
                                                               variable: str) -> None:
    """The proxy named by a lowercase variable (as curl and httpx read it first) or by
    ALL_PROXY: the line says to fix that variable, not HTTP_PROXY or HTTPS_PROXY, which
    the user never set."""
    with Sim() as sim, LoginProxy().running() as proxy:
        profile = write_profile(short_dir, sim.base_url, api=RETRIES)
        env = proxy_env(None, None)
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                     "all_proxy"):
            env.pop(name, None)  # (an empty lowercase one would hide an uppercase one)
        env[variable] = proxy.url()
        last = said_once(run("run", "--profile", str(profile), env=env), variable, proxy)
        assert f"({variable})" in last and f"and {variable} has none" in last, last
        assert "HTTP_PROXY" not in last.replace(variable, ""), last


def test_a_standby_kiosk_behind_a_proxy_that_wants_a_login_says_so_as_it_starts(
        short_dir: Path) -> None:
    """Said as the daemon starts (its look-up of the assistant meets the 407), as a refused
    key is, not first at a visitor's press, which ends the daemon (exit 2)."""
    with Sim() as sim, LoginProxy().running() as proxy:
        profile = write_profile(short_dir, sim.base_url, api=RETRIES,
                                service={"mode": "standby",
                                         "control_socket": str(short_dir / "ctl.sock")})
        proc = subprocess.Popen(bridge_cmd("run", "--profile", str(profile)), cwd=ROOT,
                                env=proxy_env(None, None, HTTP_PROXY=proxy.url(),
                                              http_proxy=proxy.url()),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        err = StderrLines(proc)
        try:
            wait_for(lambda: err.has("407") or proc.poll() is not None, 30,
                     "the daemon's word on the proxy")
            assert proc.poll() is None, "".join(err.lines)  # up, waiting for a press
        finally:
            proc.terminate()
            proc.wait(30)
            whole = err.join()
    said = next(line for line in err.lines if "407" in line)
    assert "WARNING" in said and "requires a login" in said and "HTTP_PROXY" in said, said
    assert "calls will be refused until it is fixed" in said, said
    assert PASSWORD not in whole
