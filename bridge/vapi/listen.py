"""Call listen: join a call's `listenUrl` and get its audio and JSON frames.

```python
from bridge.vapi.listen import AudioChunk, listen

async for item in listen(url):
    if isinstance(item, AudioChunk):
        customer, assistant = item.channel(0), item.channel(1)
    else:
        print(item.type, item.data)        # a JSON text frame, e.g. "start"
```

Vapi does not document the format. The default is interleaved stereo s16le at 16 kHz. The
stream may begin with a text frame like `{"type": "start", "encoding": "linear16",
"container": "raw", "sampleRate": 16000, "channels": 2}`: its `sampleRate` and `channels`
(a number, or a list of labels) are followed unless `channels=`/`rate=` are given, and a
start frame announcing another `encoding`, or channels or a rate outside what can be
played (`bridge.vapi.listen_format`), is refused rather than played as noise. Which party
is on which channel is not documented either: `vapi-bridge listen --verify` measures it
(see docs/control.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from bridge import USER_AGENT, redact
from bridge.errors import AuthError, NetworkError, ProfileError, Refused, UsageError
from bridge.vapi import connect_errors, safejson
from bridge.vapi.listen_format import Frames, announced, check_override
from bridge.vapi.net import untrusted, ws_options
from bridge.vapi.plaintext import check_plaintext
from bridge.vapi.proxies import proxy_for

log = logging.getLogger("bridge.listen")

DEFAULT_CHANNELS = 2
DEFAULT_RATE = 16000


@dataclass(frozen=True)
class AudioChunk:
    """Interleaved audio, as (frames, channels) int16."""

    samples: np.ndarray
    rate: int
    labels: tuple[str, ...] | None = None  # as announced by the server, if it did

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def channel(self, which: int | str) -> np.ndarray:
        """One channel by index, or by announced label ("customer", "assistant")."""
        if isinstance(which, str):
            if not self.labels or which not in self.labels:
                raise KeyError(f"no channel labelled {which!r} (labels: {self.labels})")
            which = self.labels.index(which)
        return self.samples[:, which]


@dataclass(frozen=True)
class ListenEvent:
    """A text frame: its JSON `type` (or "text" when it was not JSON) and body."""

    type: str
    data: dict[str, Any]


def _event(text: str) -> ListenEvent:
    try:
        data = safejson.loads(text)
    except ValueError:
        return ListenEvent("text", {"text": text[:2000]})
    if not isinstance(data, dict):
        return ListenEvent("text", {"value": data})
    return ListenEvent(str(data.get("type", "unknown")), data)


def _connect_error(exc: Exception, url: str, key_sent: bool = False) -> Exception:
    refusal = untrusted(exc, "the listenUrl")
    if refusal is not None:
        return refusal
    if connect_errors.proxy_login_refused(exc):
        return ProfileError(connect_errors.proxy_login(url))
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status == 401 and key_sent:
            return AuthError("the listenUrl refused the public key sent (401): set the "
                             "account's PUBLIC key (not the private one) where it was read: "
                             "VAPI_PUBLIC_KEY, or the profile's api.public_key_env or "
                             "api.public_key_file")
        if status == 401:
            return AuthError("the listenUrl refused this client (401): it needs the public key "
                             "(listen authentication is on) — use --auth and VAPI_PUBLIC_KEY")
        if status == 410:
            return Refused("the call has ended (410): there is nothing to listen to")
        if status == 404:
            return Refused("no such call to listen to (404), or listening is disabled "
                           "(monitorPlan.listenEnabled)")
        if 400 <= status < 500:
            return Refused(f"the listenUrl refused this client ({status})")
        return NetworkError(f"the listenUrl failed (HTTP {status})")
    if isinstance(exc, InvalidURI):
        return UsageError("that is not a usable listen URL (ws:// or wss://)")
    host = urlsplit(url).netloc.rpartition("@")[2]  # the host only: the path is a secret
    cause = connect_errors.describe(exc, host, proxy_for(url),
                                    setting="the listen URL")
    return NetworkError(f"cannot open the listen socket: {cause}")


def check_listen_url(url: str, allow_plaintext: bool) -> None:
    """Refuse a URL that cannot be a listenUrl before anything is started for it."""
    if urlsplit(url).scheme not in ("ws", "wss") or not urlsplit(url).hostname:
        raise UsageError("that is not a usable listen URL (ws:// or wss://)")
    check_plaintext(url, allow_plaintext, "the listenUrl")


async def listen(url: str, *, public_key: str | None = None, channels: int | None = None,
                 rate: int | None = None, allow_plaintext: bool = False,
                 open_timeout: float = 10.0) -> AsyncIterator[AudioChunk | ListenEvent]:
    """Yield the call's audio chunks and text frames until the call ends (the server
    closes the socket). `public_key` is sent as `Authorization: Bearer` when given."""
    redact.register_url(url, "listen URL")
    check_listen_url(url, allow_plaintext)
    check_override(channels, rate)
    headers = {"Authorization": f"Bearer {public_key}"} if public_key else None
    if public_key:
        redact.register(public_key, "public key")
    try:
        ws = await connect(url, additional_headers=headers, user_agent_header=USER_AGENT,
                           compression=None, max_size=2**22, open_timeout=open_timeout,
                           ping_interval=10, ping_timeout=20, close_timeout=1,
                           **ws_options(url))
    except (OSError, TimeoutError, InvalidStatus, InvalidURI) as exc:
        raise _connect_error(exc, url, bool(public_key)) from None
    except Exception as exc:  # other handshake failures
        raise _connect_error(exc, url, bool(public_key)) from None
    n_channels = int(channels) if channels is not None else None  # 2.0 taken as 2
    sample_rate = int(rate) if rate is not None else None
    labels = None
    frames: Frames | None = None  # cut to whole frames once the format is fixed
    try:
        async for message in ws:
            if isinstance(message, str):
                event = _event(message)
                said = announced(event.data, channels=channels, rate=rate)
                n_channels = n_channels or said.channels
                sample_rate = sample_rate or said.rate
                if said.labels and len(said.labels) == (n_channels or 0):
                    labels = said.labels
                yield event
                continue
            if frames is None:
                n_channels = n_channels or DEFAULT_CHANNELS
                sample_rate = sample_rate or DEFAULT_RATE
                frames = Frames(2 * n_channels)
            data = frames.take(message)
            if data:
                samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
                yield AudioChunk(samples.reshape(-1, n_channels), sample_rate, labels)
    except ConnectionClosed as exc:
        log.debug("listen socket closed (%s)", exc.rcvd.code if exc.rcvd else "no close frame")
    finally:
        await ws.close()
