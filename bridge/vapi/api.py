"""Vapi's REST API: create a call, read a call, with Vapi's errors mapped to ours.

400/401/402/403 are never retried: they need a person. 429, 5xx, timeouts and refused
connections are retried with bounded exponential backoff and full jitter.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from bridge import USER_AGENT, redact
from bridge.errors import ApiRequestError, AuthError, NetworkError, ProfileError
from bridge.vapi import connect_errors
from bridge.words import plural

log = logging.getLogger("bridge.api")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    rate_limit_delay: float = 20.0

    def delay(self, attempt: int, rate_limited: bool) -> float:
        base = self.rate_limit_delay if rate_limited else self.base_delay
        ceiling = min(self.max_delay, base * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class CallInfo:
    id: str
    websocket_url: str
    listen_url: str | None
    control_url: str | None
    raw: dict[str, Any]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> CallInfo:
        transport = body.get("transport") or {}
        monitor = body.get("monitor") or {}
        info = cls(
            id=str(body.get("id", "")),
            websocket_url=str(transport.get("websocketCallUrl") or ""),
            listen_url=monitor.get("listenUrl"),
            control_url=monitor.get("controlUrl"),
            raw=body,
        )
        redact.register_url(info.websocket_url, "call socket URL")
        redact.register_url(info.listen_url, "listen URL")
        redact.register_url(info.control_url, "control URL")
        return info


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_plaintext(url: str, allow_plaintext: bool, what: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme in ("http", "ws") and not allow_plaintext and not is_loopback(url):
        raise ProfileError(f"{what} uses unencrypted {scheme}:// to a non-loopback host; use "
                           f"https/wss, or set api.allow_plaintext: true if you really mean it")


def response_message(response: httpx.Response) -> str:
    """Vapi's error text from a response: NestJS `message` (joined when a list), or text."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        msg = body.get("message", body.get("error", ""))
        if isinstance(msg, list):
            return "; ".join(str(m) for m in msg)
        return str(msg)
    return str(body)[:300]


def _refusal(response: httpx.Response, what: str) -> Exception | None:
    """The error for a response that must not be retried, or None."""
    status, text = response.status_code, redact.mask(response_message(response))
    if status == 400:
        return ApiRequestError(f"Vapi refused {what} (400 Bad Request): {text} — fix the "
                               f"assistant/overrides in the profile")
    if status == 401:
        return AuthError(f"Vapi rejected the API key (401): {text} — use the PRIVATE API key "
                         f"(env VAPI_API_KEY, api.key_file or the systemd credential)")
    if status == 402:
        return AuthError(f"Vapi refused {what} for billing (402): {text} — add credits or "
                         f"check the plan in the Vapi dashboard")
    if status == 403:
        return AuthError(f"Vapi's front end blocked this client (403: {text}) — a proxy or "
                         f"firewall may be rewriting the User-Agent; this client sends "
                         f"'{USER_AGENT}'")
    if status == 404:
        return ApiRequestError(f"Vapi has no such resource for {what} (404): {text}")
    if 400 <= status < 500 and status != 429:
        return ApiRequestError(f"Vapi refused {what} ({status}): {text}")
    return None


class VapiApi:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0,
                 retry: RetryPolicy | None = None, allow_plaintext: bool = False) -> None:
        check_plaintext(base_url, allow_plaintext, "api.base_url")
        redact.register(api_key, "api key")
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.allow_plaintext = allow_plaintext
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            trust_env=False,
        )

    async def __aenter__(self) -> VapiApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    async def create_call(self, body: dict[str, Any], *, fault: str | None = None) -> CallInfo:
        params = {"fault": fault} if fault else None
        data = await self._request("POST", "/call", "the call", json=body, params=params)
        info = CallInfo.from_body(data)
        if not info.id or not info.websocket_url:
            raise ApiRequestError("Vapi's answer to POST /call had no call id or no "
                                  "transport.websocketCallUrl — is api.base_url a Vapi API?")
        check_plaintext(info.websocket_url, self.allow_plaintext, "the call socket URL")
        return info

    async def get_call(self, call_id: str, *, attempts: int | None = None) -> CallInfo:
        data = await self._request("GET", f"/call/{call_id}", "the call lookup",
                                   attempts=attempts)
        return CallInfo.from_body(data)

    async def get_assistant(self, assistant_id: str) -> dict[str, Any]:
        """`GET /assistant/{id}` (one attempt): 404 or 400 raise `ApiRequestError`."""
        return await self._request("GET", f"/assistant/{quote(assistant_id, safe='')}",
                                   "the assistant lookup", attempts=1)

    async def check_key(self) -> None:
        """A harmless authenticated request (list one call): raises if the key is refused."""
        await self._request("GET", "/call", "the key check", attempts=1, params={"limit": 1})

    async def _request(self, method: str, path: str, what: str, *, attempts: int | None = None,
                       **kwargs: Any) -> dict[str, Any]:
        total = attempts or self.retry.attempts
        last = ""
        server_failed = False  # the last attempt got an answer: Vapi's fault, not the network
        for attempt in range(1, total + 1):
            rate_limited = False
            try:
                response = await self._client.request(method, path, **kwargs)
            except httpx.TimeoutException:
                last, server_failed = "timed out", False
            except httpx.TransportError as exc:
                last, server_failed = connect_errors.describe(exc, self.host), False
            else:
                if response.status_code < 300:
                    try:
                        body = response.json()
                    except ValueError:
                        raise ApiRequestError(f"{method} {path}: the answer was not JSON — is "
                                              f"api.base_url a Vapi API?") from None
                    if isinstance(body, list):
                        return {"items": body}
                    if not isinstance(body, dict):
                        raise ApiRequestError(f"{method} {path}: unexpected answer shape")
                    return body
                refusal = _refusal(response, what)
                if refusal is not None:
                    raise refusal
                rate_limited = response.status_code == 429
                last = f"HTTP {response.status_code}" + (" rate limited" if rate_limited else "")
                server_failed = True
            if attempt == total:
                break
            delay = self.retry.delay(attempt, rate_limited)
            log.warning("%s %s: %s; retrying in %.1f s (attempt %d of %d)",
                        method, path, last, delay, attempt + 1, total)
            await asyncio.sleep(delay)
        if server_failed:
            raise NetworkError(f"Vapi at {self.host} kept failing ({what}): {last} after "
                               f"{plural(total, 'attempt')} — the fault is on Vapi's side, not the "
                               f"network; try again later")
        raise NetworkError(f"could not reach Vapi at {self.host} ({what}): {last} after "
                           f"{plural(total, 'attempt')} — check the network and api.base_url")

