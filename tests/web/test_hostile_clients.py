"""The kiosk's HTTP server against clients on the network that mean harm, through the real
daemon: a connection flood is turned away at one client's share (another is served beside
it) and at the cap, and the server answers again once it ends; a connection that never sends
a whole request is closed; floods of wrong tokens and of requests that do not parse leave a
few throttled lines, not one per request nor a traceback; a token that is no UTF-8 is a 401,
not a 500; `?token=` never redirects to another site; the screen's buttons work behind a TLS
proxy (an https Origin); an event stream is GET only."""

from __future__ import annotations

import re
import select
import socket
import time
from collections.abc import Callable

import httpx

from bridge.web.guard import FIRST_REQUEST_S, MAX_CONNECTIONS, PER_ADDRESS
from tests.web.conftest import CSRF, ProfileBuilder, free_port, wait_for, web_profile

TOKEN = "kiosk-token-0123456789abcdef"


def raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    """One request's bytes as sent, the answer's first line as read."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            return sock.recv(4096).split(b"\r\n", 1)[0]
        except ConnectionResetError:  # answered and closed with what it did not read
            return b""


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _answers(get: Callable[[str], httpx.Response], path: str) -> bool:
    try:
        return get(path).status_code == 200
    except httpx.TransportError:
        return False


def turned_away(socks: list[socket.socket], within: float, want: int) -> int:
    """How many of `socks` the server closes within `within` s (stops once `want` are)."""
    closed: set[socket.socket] = set()
    deadline = time.monotonic() + within
    while len(closed) < want and time.monotonic() < deadline:
        readable, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.2)
        for sock in readable:
            try:
                data = sock.recv(1)
            except ConnectionResetError:
                data = b""
            if data == b"":
                closed.add(sock)
    time.sleep(0.5)  # and no more than that
    readable, _, _ = select.select([s for s in socks if s not in closed], [], [], 0)
    return len(closed) + len(readable)


def test_hostile_clients_are_bounded_and_the_log_stays_short(
        profiles: ProfileBuilder, start_sim, start_web) -> None:
    sim = start_sim()
    port = free_port()
    profile = web_profile(profiles, sim, port, http={"token_env": "KIOSK_TOKEN"})
    daemon = start_web(profile, port, headers={"Authorization": f"Bearer {TOKEN}"},
                       KIOSK_TOKEN=TOKEN)
    base = daemon.base
    # a request never finished, its first-request time running while the rest goes on
    # (closed before the flood below: the cap counts it)
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and nothing more

    with httpx.Client(base_url=base) as client:  # 300 wrong tokens: 300 refusals
        for i in range(300):
            wrong = client.get("/state", headers={"Authorization": f"Bearer wrong-{i}"})
            assert wrong.status_code == 401
    not_utf8 = raw(port, b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                         b"\xff\xfe\r\nConnection: close\r\n\r\n")
    assert not_utf8.startswith(b"HTTP/1.1 401"), not_utf8
    for _ in range(100):  # a request line over aiohttp's limit: answered 400, logged once
        answer = raw(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.split(b" ")[1:2] == [b"400"] or answer == b"", answer

    away = httpx.get(f"{base}//evil.example/?token={TOKEN}")
    # back to this server's screen, relative (a proxy's sub-path kept), never another site
    assert away.status_code == 303 and away.headers["location"] == "../../", away.headers
    assert httpx.head(f"{base}/events", headers=daemon.headers).status_code == 405
    with slow:
        assert closed_by_server(slow, FIRST_REQUEST_S + 20), "a request never finished"

    def connect(source: str, n: int) -> list[socket.socket]:
        return [socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
                for _ in range(n)]

    flood: list[socket.socket] = []
    try:  # past a client's share or the cap, connections are closed as they open (whichever
        # the server took last); counted before the first request's time is up, which
        # would close them all
        flood += (first := connect("127.0.0.2", PER_ADDRESS + 8))
        assert turned_away(first, FIRST_REQUEST_S - 2, want=8) == 8, "one client's share"
        # another client is served beside the flood (and closes: counted no more)
        served = raw(port, b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                     + TOKEN.encode() + b"\r\nConnection: close\r\n\r\n")
        assert served.startswith(b"HTTP/1.1 200"), served
        flood += (second := connect("127.0.0.3", PER_ADDRESS + 8))
        assert turned_away(second, FIRST_REQUEST_S - 2, want=8) == 8
        assert turned_away(connect("127.0.0.4", 5), FIRST_REQUEST_S - 2, want=5) == 5, \
            f"all {MAX_CONNECTIONS} held: anyone more is turned away"
    finally:
        for sock in flood:
            sock.close()
    wait_for(lambda: _answers(daemon.get, "/state"), 10, "served again once the flood ends")

    proxied = daemon.post("/call", headers=CSRF | {"Origin": f"https://127.0.0.1:{port}"})
    assert proxied.status_code == 202, "behind a TLS proxy the page's Origin is https://"
    foreign = daemon.post("/call", headers=CSRF | {"Origin": f"https://evil.example:{port}"})
    assert foreign.status_code == 403
    broken = daemon.post("/call", headers=CSRF | {"Origin": "http://[::1"})
    assert broken.status_code == 403, "an Origin that does not parse is no origin of ours"

    logs = daemon.stop_and_logs()
    assert "Traceback" not in logs and "Error handling request" not in logs, logs[-3000:]
    refused = [line for line in logs.splitlines() if "http: refused" in line]
    # every refusal accounted for, a line per 10 s (2 on an idle machine): 300 wrong
    # tokens, the one that is no UTF-8, the foreign Origin (the broken one after it, held
    # back with nothing later to count it, may be missing)
    held = sum(int(m[1].replace(",", "")) for line in refused
               if (m := re.search(r"\(and ([\d,]+) more since\)$", line)))
    assert 302 <= len(refused) + held <= 303 and len(refused) <= 4, refused
    assert any("(403) from 127.0.0.1" in line for line in refused), refused
    unparsed = [line for line in logs.splitlines() if "does not parse" in line]
    assert 1 <= len(unparsed) <= 3, unparsed
    full = [line for line in logs.splitlines() if "one more turned away" in line]
    assert any(f"{PER_ADDRESS} connections open from 127.0.0.2:" in line for line in full)
    assert any(f"{MAX_CONNECTIONS} connections open: one" in line for line in full), full
    assert len(full) <= 4, full
