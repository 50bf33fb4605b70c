"""Client commands to one live call: over the call socket, or POSTed to its controlUrl.

`call.commands_via: control-url` in the profile sends every command as a POST; a command
Vapi takes only there (`messages.COMMANDS`: `handoff`) always goes that way. The controlUrl
is fetched with `GET /call/{id}` when the create response lacked it, and sent the public
key when `call.control_auth` is on. 2xx means accepted, not spoken: Vapi may speak a `say`
seconds later or never. 4xx is a refusal; Vapi answers 400 (not 404) once the call is over.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from bridge import USER_AGENT, redact
from bridge.errors import NetworkError, NoCall, ProfileError, Refused, Unsure
from bridge.inert import inert
from bridge.vapi import messages
from bridge.vapi.api import VapiApi, response_message
from bridge.vapi.callinfo import CallInfo
from bridge.vapi.net import DEADLINE_FACTOR, http_client, read_answer, untrusted
from bridge.vapi.plaintext import check_plaintext
from bridge.vapi.socket import SEND_TIMEOUT_S, LinkDown

log = logging.getLogger("bridge.control")  # the log category users know these lines by

# An operator's command by the controlUrl (`send`: its lookup and POST) is answered within
# this, whatever `api.timeout_seconds` (a POST's whole answer may take 3 times it): `ctl`
# waits 30 s (`bridge.control.client.DEFAULT_TIMEOUT_S`). Before, a slow controlUrl kept
# the answer past it: ctl said the daemon did not answer, and the command landed later.
ANSWER_WITHIN_S = 25.0

SocketSend = Callable[[dict[str, Any]], Awaitable[None]]


def _no_check() -> None:
    pass


class CallCommands:
    """One call's commands out, with what that takes: the controlUrl (fetched once) and
    the record of the mutes asked of the call (`sent_controls`, for `ctl status`).

    `send_socket` sends a command on the call socket (raising `NetworkError` when the call
    is over, `ConnectionClosed` or `TimeoutError`; `LinkDown`, nothing sent, while the link
    is down: then, as when it is closed, the command goes by the controlUrl); `check`
    raises `Refused` when the call cannot take commands now; `public_key` gives the key for
    an authenticated controlUrl (None: `call.control_auth` off), read when a POST needs it;
    `sent` is told of each command delivered (a `say` to the controlUrl as it is POSTed;
    `refused`, of such a say Vapi refused or the POST never reached: not of one `Unsure`,
    whose answer did not come, told by its type, not its words, which quote the server's);
    `down_wait` bounds a command by the controlUrl while the call's link carries nothing
    (None while it carries: a request's own timeout and retries then). `info` is the
    call's, set once it is created."""

    def __init__(self, api: VapiApi, send_socket: SocketSend, *, via: str,
                 public_key: Callable[[], str] | None, allow_plaintext: bool,
                 timeout: float, check: Callable[[], None] = _no_check,
                 sent: Callable[[dict[str, Any]], None] | None = None,
                 refused: Callable[[dict[str, Any]], None] | None = None,
                 down_wait: Callable[[], float | None] = lambda: None) -> None:
        self.api = api
        self.info: CallInfo | None = None
        self.sent_controls: dict[str, bool] = {}  # "assistant"/"customer" → muted
        self._send_socket = send_socket
        self._via = via
        self._public_key = public_key
        self._allow_plaintext = allow_plaintext
        self._timeout = timeout
        self._check = check
        self._sent = sent  # told of each command delivered (the call acts on its own side)
        self._refused = refused  # ... and of a say told early that was not done after all
        self._down_wait = down_wait
        self._control_url: str | None = None

    @property
    def _label(self) -> str:
        return self.info.id[-8:] if self.info else "--------"

    def route(self, command: dict[str, Any]) -> str:
        return "control-url" if messages.control_url_only(command) else self._via

    async def send(self, command: dict[str, Any]) -> str:
        """Deliver `command` to the call; returns the path used ("socket" or
        "control-url"). Raises `Refused` (the call is over, or Vapi said 4xx) or
        `NetworkError` (`Unsure`: sent, its answer not had in time)."""
        try:
            return await self._send(command)
        except ReferenceError:  # the call itself let go (its callbacks are weak): over
            raise NoCall(f"no call in progress (call {self._label} is over)") from None

    async def _send(self, command: dict[str, Any]) -> str:
        self._check()
        via = self.route(command)
        if via == "socket" and not await self._over_socket(command):
            via = "control-url"  # the link is down or closed: Vapi may go on with the call
        if via == "control-url":
            early = command.get("type") == "say"  # Vapi may speak it before the POST's
            if early:  # answer is back: told first, or its start would be cut
                self._tell(command)
            down = self._down_wait()  # (a link that carries nothing: one lookup, no retry)
            try:
                await self.post_control(command, within=down or ANSWER_WITHIN_S,
                                        attempts=None if down else 2)
            except (Refused, NetworkError, ProfileError) as exc:  # (a plain http:// URL)
                if early and self._refused is not None and not isinstance(exc, Unsure):
                    self._refused(command)  # not done: no reply will speak it
                raise
            if not early:  # a mute Vapi refused: nothing done on our side either
                self._tell(command)
        else:
            self._tell(command)
        self._note(command)
        return via

    def _tell(self, command: dict[str, Any]) -> None:
        if self._sent is not None:
            self._sent(command)

    async def _over_socket(self, command: dict[str, Any]) -> bool:
        """True once sent on the call socket; False when the link is down or closed (nothing
        sent there: the controlUrl reaches a call Vapi goes on with, and says if it is over)."""
        try:
            await self._send_socket(command)
            return True
        except NetworkError:
            raise NoCall(f"no call in progress (call {self._label} is over)") from None
        except (ConnectionClosed, LinkDown) as exc:
            why = "is closed" if isinstance(exc, ConnectionClosed) else "carries nothing"
            log.info("call %s: the call socket %s: %s goes by the controlUrl", self._label,
                     why, command.get("type"))
            return False
        except TimeoutError:
            raise NetworkError(f"call {self._label}: the call socket did not take the "
                               f"command within {SEND_TIMEOUT_S:.0f} s") from None

    def _note(self, command: dict[str, Any]) -> None:
        name = name_of(command) if command.get("type") == "control" else ""
        if name.endswith(("-assistant", "-customer")):
            party = name.removeprefix("un").removeprefix("mute-")
            self.sent_controls[party] = not name.startswith("un")

    async def control_url(self, attempts: int = 2) -> str:
        if self._control_url:
            return self._control_url
        assert self.info is not None
        url = self.info.control_url
        if not url:
            url = (await self.api.get_call(self.info.id, attempts=attempts)).control_url
        if not url:
            raise Refused(f"Vapi gave no controlUrl for call {self._label} (is the "
                          f"assistant's monitorPlan.controlEnabled off?)")
        redact.register_url(url, "control URL")
        check_plaintext(url, self._allow_plaintext, "the call's controlUrl")
        self._control_url = url
        return url

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        if self._public_key is not None:
            key = self._public_key()
            redact.register(key, "public key")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def post_control(self, command: dict[str, Any], within: float | None = None,
                           attempts: int | None = None) -> None:
        """POST `command` to the controlUrl, whatever the call's state; `within`: seconds
        for it all, the controlUrl's lookup (`attempts` of it: by default two, one within
        `within`) and the POST (None: each its own timeouts). A link that carries nothing:
        its answer comes when the call is lost or kept, not retries later; an operator's
        command (`send`): within `ANSWER_WITHIN_S`, before `ctl` stops waiting."""
        kind = name_of(command)
        loop = asyncio.get_running_loop()
        ends = None if within is None else loop.time() + within
        try:
            async with asyncio.timeout_at(ends):
                url = await self.control_url(attempts or (2 if within is None else 1))
        except NetworkError as exc:  # (the lookup's own words name the cause and the fix)
            raise exc.__class__(f"call {self._label}: {kind} not sent: Vapi could not be "
                                f"asked for the call's controlUrl: {exc}") from None
        except TimeoutError:
            raise NetworkError(f"call {self._label}: {kind} not sent: Vapi could not be asked "
                               f"for the call's controlUrl: no answer within {within:.1f} s"
                               ) from None
        deadline = DEADLINE_FACTOR * self._timeout
        if ends is not None:  # what is left of `within`, half a second at least
            deadline = round(min(deadline, max(0.5, ends - loop.time())), 1)
        timeout = min(self._timeout, deadline)
        try:  # a 2xx is all it takes: its body is not read
            async with http_client(url, timeout=timeout) as client:
                answer = await read_answer(client, "POST", url, cap=0, deadline=deadline,
                                           content=json.dumps(command), headers=self.headers())
        except (httpx.ConnectTimeout, httpx.PoolTimeout):  # nothing went out: not done
            raise NetworkError(f"call {self._label}: cannot reach the controlUrl for {kind} "
                               f"(no connection within {timeout:g} s): not done — check the "
                               f"kiosk's network, then try again") from None
        except httpx.TimeoutException:
            raise Unsure(f"call {self._label}: the controlUrl did not answer {kind} "
                         f"within {timeout:g} s: {UNSURE}") from None
        except TimeoutError:
            raise Unsure(f"call {self._label}: the controlUrl's answer to {kind} took "
                         f"longer than {deadline:g} s: {UNSURE}") from None
        except httpx.TransportError as exc:
            refusal = untrusted(exc, "the controlUrl")
            if refusal is not None:
                raise refusal from None
            raise NetworkError(f"call {self._label}: cannot reach the controlUrl for {kind} "
                               f"({exc.__class__.__name__}): not done — check the kiosk's "
                               f"network, then try again") from None
        if answer.status < 300:
            log.info("call %s: %s accepted by the controlUrl", self._label, kind)
            return
        detail = response_message(answer.body, answer.reason)
        raise _refusal(kind, answer.status, redact.scrub_urls(detail))


UNSURE = ("Vapi may or may not have taken it — the network to Vapi is slow or down: check "
          "the call (`ctl status`) before trying again")


def name_of(command: dict[str, Any]) -> str:
    """What an operator calls `command`: its type, or a control's own name (`mute-assistant`,
    not `control`), inert."""
    name = command.get("control") if command.get("type") == "control" else command.get("type")
    return inert(str(name or "?"), 40)


class ControlRefused(Refused):
    """The controlUrl answered `status` (4xx) to a command: 400 is Vapi's answer for a bad
    command and for a call it no longer runs alike, so only a look at the call tells which."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _refusal(kind: str, status: int, detail: str) -> Refused | NetworkError:
    if status == 401:
        return ControlRefused(f"the controlUrl refused {kind} (401 {detail}) — it needs the "
                              f"public key: set call.control_auth: true and VAPI_PUBLIC_KEY",
                              status)
    if status in (400, 404, 409, 410):
        # Vapi answers 400 for a call it no longer runs as well as for a bad command
        return ControlRefused(f"the controlUrl refused {kind} ({status}: {detail}) — the "
                              f"call may have ended, or Vapi does not take this command", status)
    if 400 <= status < 500:
        return ControlRefused(f"the controlUrl refused {kind} ({status}): {detail}", status)
    return NetworkError(f"the controlUrl failed on {kind} (HTTP {status})")
