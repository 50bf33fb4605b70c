"""Vapi's REST API: create a call, read a call, with Vapi's errors mapped to ours.

400/401/402/403 are never retried: they need a person; nor a TLS handshake answered in
plain text (https:// to a plain-http server: the same at every attempt). 429, 5xx,
timeouts, names not resolved and refused connections are retried with bounded exponential
backoff and full jitter — but a create whose answer was lost is first looked for
(`bridge/vapi/created.py`): never two calls.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from bridge import USER_AGENT, redact
from bridge.errors import ApiRequestError, AuthError, NetworkError, NotFound, ProfileError
from bridge.retry import RetryPolicy
from bridge.vapi import connect_errors, safejson
from bridge.vapi.callinfo import CallInfo
from bridge.vapi.created import find_created, marked_name
from bridge.vapi.failures import Failure, gave_up, in_the_way, unreachable
from bridge.vapi.net import (
    DEADLINE_FACTOR,
    Answer,
    http_client,
    read_answer,
    untrusted,
)
from bridge.vapi.plaintext import check_plaintext
from bridge.vapi.proxies import proxy_for
from bridge.vapi.said import MAX_BODY, body_refused, response_message

log = logging.getLogger("bridge.api")


def shown_path(path: str) -> str:
    """`path` as words may carry it: `/call/{id}`, never a call's id."""
    head, call, rest = path.partition("/call/")
    if head or not call:
        return path
    _, slash, tail = rest.partition("/")
    return "/call/{id}" + slash + tail
# failures before the request left: it cannot have been processed
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError,
            httpx.UnsupportedProtocol)


KEY_FIX = ("use the PRIVATE API key (env VAPI_API_KEY, api.key_file or the systemd "
           "credential)")  # where the key's origin is not known (bridge.profile.key_origin)


def _refusal(answer: Answer, what: str, key_fix: str = KEY_FIX) -> Exception | None:
    """The error for an answer that must not be retried, or None."""
    status, text = answer.status, response_message(answer.body, answer.reason)
    if status == 407:  # a proxy forwarding a plain http:// request wants its login
        return ProfileError(connect_errors.proxy_login(str(answer.request.url)))
    if status == 400:
        return body_refused(what, answer.body, answer.reason)
    if status == 401:
        return AuthError(f"Vapi rejected the API key (401): {text} — {key_fix}")
    if status == 402:
        return AuthError(f"Vapi refused {what} for billing (402): {text} — add credits or "
                         f"check the plan in the Vapi dashboard")
    if status == 403:
        return AuthError(f"Vapi's front end blocked this client (403: {text}) — a proxy or "
                         f"firewall may be rewriting the User-Agent; this client sends "
                         f"'{USER_AGENT}'")
    if status == 404 and answer.request.method == "POST":  # creating a call: no such path
        url = answer.request.url
        host = url.host + (f":{url.port}" if url.port else "")
        return ApiRequestError(f"Vapi has no such resource for {what} (404): {text} — check "
                               f"api.base_url: {host} answered 404 to creating a call; is it "
                               f"Vapi's API (https://api.vapi.ai)?")
    if status == 404:
        return NotFound(f"Vapi has no such resource for {what} (404): {text}")
    if 400 <= status < 500 and status != 429:
        return ApiRequestError(f"Vapi refused {what} ({status}): {text}")
    return None


RETRY_LOOK_S = 2.0  # after a last attempt cut short: the wait before looking for its call


class VapiApi:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0,
                 retry: RetryPolicy | None = None, allow_plaintext: bool = False,
                 create_within: float | None = None, key_fix: str = KEY_FIX) -> None:
        check_plaintext(base_url, allow_plaintext, "api.base_url")
        redact.register(api_key, "api key")
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.create_within = create_within  # s: no retry of POST /call starts later
        self.allow_plaintext = allow_plaintext
        self.key_fix = key_fix  # what a 401 asks for: the key's own place
        self.deadline = DEADLINE_FACTOR * timeout  # a whole answer, however it trickles
        self.client_messages: dict[str, tuple[str, ...]] = {}  # by assistant id (get_assistant)
        self._client = http_client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )

    async def __aenter__(self) -> VapiApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def closed(self) -> bool:
        """`aclose()` was called: a request cut by it failed for that, not for the network."""
        return self._client.is_closed

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    async def create_call(self, body: dict[str, Any], *, fault: str | None = None) -> CallInfo:
        """POST /call, never billing twice: each attempt carries its own marker in `name`,
        and after a failure the request may have survived (a timeout, a dropped connection,
        a 5xx) the calls created since are looked up by marker before any new attempt.
        No retry starts `create_within` seconds or more after the first attempt (someone
        waits for the call); a create that may have landed is still looked for then."""
        params = {"fault": fault} if fault else None
        total = self.retry.attempts
        since, started = time.time(), time.monotonic()
        until = started + self.create_within if self.create_within else None
        sent: list[str] = []
        last = Failure("")
        for attempt in range(1, total + 1):
            sent.append(marked_name(body.get("name"), secrets.token_hex(4)))
            outcome = await self._attempt("POST", "/call", "the call", params=params,
                                          json={**body, "name": sent[-1]})
            if isinstance(outcome, dict):
                return await self._usable(CallInfo.from_body(outcome))
            last = outcome
            delay = self.retry.delay(attempt, outcome.rate_limited)
            if until is not None and time.monotonic() + delay >= until:
                total = attempt  # no time for another: the last attempt
                delay = min(delay, max(0.0, until - time.monotonic()), RETRY_LOOK_S)
            if outcome.maybe_processed:
                await asyncio.sleep(delay)  # let a slow create land before looking
                delay = 0.0
                look = partial(self.list_calls, until=until)  # (its retries bounded too)
                found = await find_created(look, sent, since, outcome.text)
                if found is not None:
                    log.warning("POST /call: %s, but Vapi had created the call: using it",
                                outcome.text)
                    return await self._usable(CallInfo.from_body(found))
            if attempt == total:
                break
            log.warning("POST /call: %s; retrying%s (attempt %d of %d)", outcome.text,
                        f" in {delay:.1f} s" if delay else " (Vapi lists no call it created)",
                        attempt + 1, total)
            await asyncio.sleep(delay)
        raise gave_up(self.host, "the call", last, total,
                      time.monotonic() - started if total < self.retry.attempts else None)

    async def _usable(self, info: CallInfo) -> CallInfo:
        if not info.websocket_url:  # a listed call may lack it: read it whole
            info = await self.get_call(info.id, attempts=2)
        if not info.websocket_url:
            raise ApiRequestError("Vapi's answer to POST /call had no "
                                  "transport.websocketCallUrl — is api.base_url a Vapi API?")
        check_plaintext(info.websocket_url, self.allow_plaintext, "the call socket URL")
        return info

    async def get_call(self, call_id: str, *, attempts: int | None = None) -> CallInfo:
        data = await self._request("GET", f"/call/{quote(call_id, safe='')}",
                                   "the call lookup", attempts=attempts)
        return CallInfo.from_body(data, "GET /call/{id}")

    async def list_calls(self, what: str, *, until: float | None = None,
                         **params: Any) -> list[Any]:
        """GET /call with the schema's filters (createdAtGt, limit, ...); no retry starts at
        or after `until` (monotonic), as for the create it looks for."""
        items = (await self._request("GET", "/call", what, params=params,
                                     until=until)).get("items")
        if not isinstance(items, list):
            raise ApiRequestError("GET /call: the answer was not a list of calls — is "
                                  "api.base_url a Vapi API?")
        return items

    async def get_assistant(self, assistant_id: str) -> dict[str, Any]:
        """`GET /assistant/{id}` (one attempt): 404 or 400 raise `ApiRequestError`. Its
        clientMessages are kept in `client_messages` (by id) for the calls that name it."""
        found = await self._request("GET", f"/assistant/{quote(assistant_id, safe='')}",
                                    "the assistant lookup", attempts=1)
        listed = found.get("clientMessages")
        if isinstance(listed, list):
            self.client_messages[assistant_id] = tuple(m for m in listed[:64]
                                                       if isinstance(m, str))
        return found

    async def check_key(self) -> None:
        """A harmless authenticated request (list one call): raises if the key is refused."""
        await self._request("GET", "/call", "the key check", attempts=1, params={"limit": 1})

    async def _request(self, method: str, path: str, what: str, *, attempts: int | None = None,
                       until: float | None = None, **kwargs: Any) -> dict[str, Any]:
        total = attempts or self.retry.attempts
        last = Failure("")
        for attempt in range(1, total + 1):
            outcome = await self._attempt(method, path, what, **kwargs)
            if isinstance(outcome, dict):
                return outcome
            last = outcome
            delay = self.retry.delay(attempt, outcome.rate_limited)
            if until is not None and time.monotonic() + delay >= until:
                total = attempt  # a visitor waits: a dead link is said within the bound
            if attempt == total:
                break
            log.warning("%s %s: %s; retrying in %.1f s (attempt %d of %d)",
                        method, shown_path(path), outcome.text, delay, attempt + 1, total)
            await asyncio.sleep(delay)
        raise gave_up(self.host, what, last, total)

    async def _attempt(self, method: str, path: str, what: str,
                       **kwargs: Any) -> dict[str, Any] | Failure:
        """One request: its JSON body, or why not (refusals raise: they need a person)."""
        shown = shown_path(path)  # in words: a call's id is a secret while it runs, and an
        try:  # error's text outlives the masking (the error event, lastError)
            answer = await read_answer(self._client, method, path, cap=MAX_BODY,
                                       deadline=self.deadline, **kwargs)
        except NOT_SENT as exc:
            refusal = untrusted(exc, self.host)
            if refusal is not None:
                raise refusal from None
            if connect_errors.proxy_login_refused(exc):  # a login fails at every attempt
                raise ProfileError(connect_errors.proxy_login(self.base_url)) from None
            cause = connect_errors.describe(exc, self.host,
                                            proxy_for(self.base_url))
            if connect_errors.answered_in_plain_text(exc):  # and so does this (none was sent)
                raise NetworkError(f"{unreachable(self.host, what)}: {cause}") from None
            return Failure(cause)
        except httpx.TimeoutException:
            return Failure("timed out", maybe_processed=True)
        except TimeoutError:  # the answer kept coming, too slowly to finish
            return Failure(f"the answer took longer than {self.deadline:g} s",
                           maybe_processed=True)
        except httpx.TransportError as exc:
            return Failure(f"connection lost ({exc.__class__.__name__})", maybe_processed=True)
        if (portal := in_the_way(answer, method, shown)) is not None:
            raise portal
        if answer.status < 300:
            if answer.cut:  # too large, or undecodable: not Vapi's answer
                raise ApiRequestError(f"{method} {shown}: the answer was {answer.cut} — is "
                                      f"api.base_url a Vapi API?")
            try:
                body = safejson.loads(answer.body, max_bytes=MAX_BODY)
            except ValueError:
                raise ApiRequestError(f"{method} {shown}: the answer was not JSON — is "
                                      f"api.base_url a Vapi API?") from None
            if isinstance(body, list):
                return {"items": body}
            if not isinstance(body, dict):
                raise ApiRequestError(f"{method} {shown}: unexpected answer shape")
            return body
        refusal = _refusal(answer, what, self.key_fix)
        if refusal is not None:
            raise refusal
        if answer.status == 429:
            return Failure("HTTP 429 rate limited", rate_limited=True, answered=True)
        return Failure(f"HTTP {answer.status}", maybe_processed=True, answered=True)
