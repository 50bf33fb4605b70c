"""The client end of the control socket: find a daemon's socket, send one request.

```python
from bridge.control.client import find_socket, request
answer = request(find_socket(profile="frontdesk"), {"cmd": "say", "text": "One moment"})
```

`request` returns the answer dict (`ok` true or false) and raises `NoDaemon` (exit 5) when
nothing answers, `Refused` (exit 1) when the socket refuses this user. `stream` is the
same for `events`: the first answer, then the event lines as they come.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.control.paths import answers, client_candidates, default_dirs, discover
from bridge.control.request import MAX_LINE
from bridge.errors import BridgeError, NetworkError, NoDaemon, Refused, UsageError

if TYPE_CHECKING:
    from bridge.profile.model import Profile

DEFAULT_TIMEOUT_S = 30.0  # beyond the daemon's longest answer to a command by the
# controlUrl, 25 s (`bridge.vapi.commands.ANSWER_WITHIN_S`), whatever api.timeout_seconds
# `ctl end`'s: beyond the daemon's longest answer to an end, 84 s with the largest
# `call.end_timeout_seconds` (30 s: `bridge.call.hangup.longest_answer`); before, a 30 s
# wait here ran out first and said the daemon did not answer
END_TIMEOUT_S = 90.0
MAX_ANSWER = 1024 * 1024  # bytes of one line read from the daemon
START = "start it (vapi-bridge run --profile NAME, or systemctl start vapi-bridge@NAME)"
SEE_LOG = "see the daemon's log (journalctl -u vapi-bridge@NAME)"


def load_if_here(profile_arg: str) -> Profile | None:
    """The profile, or None for a bare name with no file here (a daemon may still run
    it); a path that does not load is an error. The loader is imported here, not above
    (yaml and the profile's declarations: ~0.1 s). It brings no numpy, httpx or soxr
    (tests/control/test_ctl_light.py): they took `ctl -p` from ~0.25 s to ~0.9 s."""
    from bridge.profile import load_profile

    try:
        return load_profile(profile_arg)
    except BridgeError:
        if os.sep in profile_arg or profile_arg.endswith((".yaml", ".yml")):
            raise
        return None  # a bare name whose file is not here: the socket may still be


def find_socket(profile: str | None = None, socket_path: str | None = None) -> Path:
    if socket_path:
        return Path(socket_path).expanduser()
    if profile:
        loaded = load_if_here(profile)
        name = loaded.name if loaded else profile
        candidates = client_candidates(loaded, name)
        present = [path for path in candidates if os.path.lexists(path)]
        for path in present:  # one a crash left behind does not hide a live one after it
            if len(present) == 1 or answers(path):
                return path
        if present:  # none answers: the request says the first is stale
            return present[0]
        raise NoDaemon(f"no vapi-bridge daemon is running for profile {name} (no control "
                       f"socket at {', '.join(map(str, candidates))}) — start it (vapi-bridge "
                       f"run --profile {name}, or systemctl start vapi-bridge@{name}), or give "
                       f"--socket PATH, from the `control socket:` line of its log")
    answering = functools.cache(answers)  # each socket asked once: `discover` may have
    found = discover(answering=answering)  # (before: twice, and a connection each time)
    if len(found) > 1:  # sockets a crash left behind (RuntimeDirectoryPreserve) are no daemon
        live = [path for path in found if answering(path)]
        if not live:
            raise NoDaemon(f"no vapi-bridge daemon is running (nothing answers on "
                           f"{', '.join(map(str, found))}: sockets left by daemons that "
                           f"stopped; remove them, or give --profile or --socket)")
        found = live
    if len(found) == 1:
        return found[0]
    if not found:
        looked = ", ".join(str(d) for d in default_dirs(for_client=True))
        raise NoDaemon(f"no vapi-bridge daemon found (no control socket in {looked}); give "
                       f"--profile or --socket")
    raise UsageError(f"several daemons are running ({', '.join(map(str, found))}); choose one "
                     f"with --profile or --socket")


@contextlib.contextmanager
def _in_words(path: Path, timeout: float, sock: socket.socket | None = None) -> Iterator[None]:
    """A socket error while talking to the daemon as `NetworkError` (no answer in time) or
    `NoDaemon`, closing `sock` first when given."""
    try:
        yield
    except TimeoutError:
        if sock is not None:
            sock.close()
        raise NetworkError(f"the daemon at {path} did not answer within {timeout:.0f} s — "
                           f"{SEE_LOG} for what holds it") from None
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise NoDaemon(f"the control socket {path} failed: {exc.strerror or exc} — "
                       f"{SEE_LOG}") from None


def connect(path: Path, req: dict[str, Any], timeout: float) -> socket.socket:
    """A socket to the daemon with `req` sent (NoDaemon, Refused as `request` says)."""
    try:
        line = (json.dumps(req, ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:  # argv bytes that are no UTF-8 (lone surrogates): escaped
        line = (json.dumps(req) + "\n").encode()
    if len(line) > MAX_LINE:  # the daemon would close on it unread: a broken pipe here
        raise UsageError(f"the request is {len(line) / 1024:,.0f} KiB; the control socket "
                         f"takes {MAX_LINE // 1024} KiB at most (a text of about "
                         f"{MAX_LINE // 1024 - 1},000 ASCII characters, a third of that in "
                         f"most other scripts)")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        sock.sendall(line)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        why, fix = (("no socket there", f" — {START}, or give --socket the path its log names")
                    if not os.path.lexists(path) else
                    ("a stale socket: the daemon is gone", f" — {START}: it replaces the socket")
                    if _is_socket(path) else
                    ("that is no socket: check --socket or --profile", ""))
        raise NoDaemon(f"no vapi-bridge daemon is running at {path} ({why}){fix}") from None
    except PermissionError:
        sock.close()
        raise Refused(f"permission denied on {path} — run this as the daemon's user") from None
    except (BrokenPipeError, ConnectionResetError):  # the daemon answered and closed before
        return sock  # reading (a peer of another uid, root too): its answer is read next
    except OSError:  # no answer in time, another socket error: in words
        with _in_words(path, timeout, sock):
            raise
    return sock


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.lstat().st_mode)
    except OSError:
        return False


def _parse_answer(path: Path, data: bytes) -> dict[str, Any]:
    if not data.strip():
        raise NoDaemon(f"the daemon at {path} closed the connection without an answer — "
                       f"{SEE_LOG}")
    try:
        answer = json.loads(data)
    except (ValueError, RecursionError):  # (nested past the stack: no answer either)
        raise NoDaemon(f"{path} did not answer with JSON — is it a vapi-bridge socket?"
                       ) from None
    if not isinstance(answer, dict):
        raise NoDaemon(f"{path} gave an unexpected answer — is it a vapi-bridge socket?")
    return answer


def request(path: Path, req: dict[str, Any], timeout: float = DEFAULT_TIMEOUT_S
            ) -> dict[str, Any]:
    """`req`'s answer, the whole exchange within `timeout` s."""
    deadline = time.monotonic() + timeout
    return read_answer(path, connect(path, req, timeout), timeout, deadline)


def read_answer(path: Path, sock: socket.socket, timeout: float,
                deadline: float | None = None) -> dict[str, Any]:
    """The daemon's one-line answer on `sock` (closed after), read up to MAX_ANSWER bytes,
    whole by `deadline` (time.monotonic(); `timeout` s from now when None) — not within
    `timeout` of each read: a daemon trickling a byte at a time held the reader for as
    long as it kept trickling (`ctl`, and a `run` or `check` probing a socket)."""
    deadline = time.monotonic() + timeout if deadline is None else deadline
    data = b""
    with _in_words(path, timeout), sock:
        while not data.endswith(b"\n") and len(data) < MAX_ANSWER:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return _parse_answer(path, data)


def stream(path: Path, req: dict[str, Any], timeout: float = DEFAULT_TIMEOUT_S
           ) -> tuple[dict[str, Any], Iterator[bytes]]:
    """A streaming request (`events`): the daemon's first answer, and its lines after it
    (each a JSON line, newline included) until the daemon closes the stream. The answer
    comes within `timeout` (whole, as `request`'s: a trickle held `ctl events` for as long
    as it lasted); the lines take as long as they take. A connection that breaks
    mid-stream raises `NoDaemon` from the iterator."""
    deadline = time.monotonic() + timeout
    sock = connect(path, req, timeout)
    first = bytearray()  # a byte at a time (a short line): what follows is the lines'
    with _in_words(path, timeout, sock):
        while not first.endswith(b"\n") and len(first) < MAX_ANSWER:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            if not (byte := sock.recv(1)):
                break
            first += byte
    reader = sock.makefile("rb")
    try:
        answer = _parse_answer(path, bytes(first))
    except BridgeError:
        reader.close()
        sock.close()
        raise
    if not answer.get("ok"):  # refused: nothing follows
        reader.close()
        sock.close()
        return answer, iter(())
    sock.settimeout(None)

    def lines() -> Iterator[bytes]:
        try:
            while line := reader.readline(MAX_ANSWER):
                yield line
        except OSError as exc:
            raise NoDaemon(f"the control socket {path} broke: {exc.strerror or exc}"
                           ) from None
        finally:
            reader.close()
            sock.close()

    return answer, lines()
