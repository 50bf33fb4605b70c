"""Fixtures for the simulator tests: plain HTTP (httpx) and WebSocket (websockets) clients
against a real simulator on 127.0.0.1, port 0. Nothing here imports the bridge's client side."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import wave
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soxr
from websockets.asyncio.client import ClientConnection, connect

from bridge.sim import SimConfig, Simulator

API_KEY = "sim-private-key"
PUBLIC_KEY = "sim-public-key"
UA = "sim-tests/1.0"
AUTH = {"Authorization": f"Bearer {API_KEY}", "User-Agent": UA}
FIXTURES = Path(__file__).parent / "fixtures"
RECORDING = FIXTURES / "transport_ack_dropped_by_vapi.json"
SPEECH_TEXT = "Hello, this is a test of the echo."

Event = dict[str, Any]


def run(coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
    """Run an async test body on a fresh event loop."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_body(fmt: str = "pcm_s16le", rate: int | None = 16000, **overrides: Any) -> dict[str, Any]:
    """The body from Vapi's docs (assistantId + vapi.websocket transport) plus overrides."""
    audio: dict[str, Any] = {"format": fmt, "container": "raw"}
    if rate is not None:
        audio["sampleRate"] = rate
    body: dict[str, Any] = {
        "assistantId": "5b0a4a08-133c-4146-9315-0984f8c6be80",
        "transport": {"provider": "vapi.websocket", "audioFormat": audio},
    }
    if overrides:
        body["assistantOverrides"] = overrides
    return body


@pytest.fixture
def client(sim: Any) -> Iterator[httpx.Client]:
    """A plain HTTP client of the module's ``sim`` fixture (a simulator in a thread)."""
    with httpx.Client(base_url=sim.base_url, timeout=10) as c:
        yield c


@contextlib.asynccontextmanager
async def simulator(**cfg: Any) -> AsyncIterator[Simulator]:
    cfg.setdefault("port", 0)
    cfg.setdefault("seed", 7)
    async with Simulator(SimConfig(**cfg)) as sim:
        yield sim


async def create_call(
    sim: Simulator,
    body: dict[str, Any] | None = None,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as client:
        r = await client.post(
            "/call", json=body or ws_body(firstMessage=""), params=params,
            headers={**AUTH, **(headers or {})},
        )
    assert r.status_code == 201, r.text
    return r.json()


async def get_json(sim: Simulator, path: str, auth: bool = False) -> Any:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as client:
        r = await client.get(path, headers=AUTH if auth else {"User-Agent": UA})
    assert r.status_code == 200, r.text
    return r.json()


async def sim_report(sim: Simulator, call_id: str) -> dict[str, Any]:
    return await get_json(sim, f"/_sim/calls/{call_id}")


async def monitor(sim: Simulator, call_id: str) -> dict[str, str]:
    """The call's `monitor` (listenUrl, controlUrl), as `GET /call/{id}` gives it."""
    return (await get_json(sim, f"/call/{call_id}", auth=True))["monitor"]


async def post_control(url: str, payload: Any, headers: dict[str, str] | None = None,
                       raw: bytes | None = None) -> httpx.Response:
    """POST a control message (JSON, or `raw` bytes as they are) to a call's controlUrl."""
    async with httpx.AsyncClient(timeout=5) as c:
        hdrs = {"User-Agent": UA, **(headers or {})}
        if raw is not None:
            return await c.post(url, content=raw, headers=hdrs)
        return await c.post(url, json=payload, headers=hdrs)


def sent_at(report: dict[str, Any], type_: str, **fields: Any) -> list[float]:
    """When (the simulator's clock, s) each event of `type_` with `fields` was sent."""
    return [e["at"] for e in report["eventsSent"] if e["event"].get("type") == type_
            and all(e["event"].get(k) == v for k, v in fields.items())]


async def wait_until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


class Peer:
    """A plain websockets client of the call socket, acting like a kiosk: a "microphone"
    task streams 20 ms frames in real time (digital silence unless something is queued),
    a receiver collects audio and JSON events."""

    def __init__(self, ws: ClientConnection, fmt: str, rate: int) -> None:
        self.ws, self.fmt, self.rate = ws, fmt, rate
        self.events: list[Event] = []
        self.event_times: list[float] = []
        self.texts: list[str] = []
        self.audio = bytearray()
        self.chunks: list[tuple[float, int]] = []
        self.connected = time.monotonic()
        self._pending = np.zeros(0, dtype=np.int16)
        self._tasks: list[asyncio.Task[Any]] = []
        self.mic_on = False

    @classmethod
    async def open(cls, url: str, fmt: str = "pcm_s16le", rate: int = 16000,
                   mic: bool = True) -> Peer:
        ws = await connect(url, max_size=None, ping_interval=None)
        peer = cls(ws, fmt, rate)
        peer._tasks.append(asyncio.create_task(peer._rx()))
        if mic:
            peer.start_mic()
        return peer

    def start_mic(self) -> None:
        self.mic_on = True
        self._tasks.append(asyncio.create_task(self._mic()))

    async def _rx(self) -> None:
        with contextlib.suppress(Exception):
            async for msg in self.ws:
                now = time.monotonic()
                if isinstance(msg, bytes):
                    self.audio += msg
                    self.chunks.append((now, len(msg)))
                else:
                    self.texts.append(msg)
                    with contextlib.suppress(ValueError):
                        parsed = json.loads(msg)
                        if isinstance(parsed, dict):
                            self.events.append(parsed)
                            self.event_times.append(now - self.connected)

    async def _mic(self) -> None:
        n = self.rate // 50
        t0 = time.monotonic()
        k = 0
        with contextlib.suppress(Exception):
            while self.mic_on:
                frame = self._pending[:n]
                self._pending = self._pending[n:]
                if len(frame) < n:
                    frame = np.concatenate([frame, np.zeros(n - len(frame), dtype=np.int16)])
                await self.ws.send(encode(frame, self.fmt))
                k += 1
                delay = t0 + k * 0.02 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

    def speak(self, samples: np.ndarray) -> float:
        """Queue audio (int16 at the call rate) on the microphone; returns its duration."""
        self._pending = np.concatenate([self._pending, samples.astype(np.int16)])
        return len(samples) / self.rate

    async def send_json(self, obj: Any) -> None:
        await self.ws.send(json.dumps(obj))

    def received(self) -> np.ndarray:
        return decode(bytes(self.audio), self.fmt)

    def find(self, type_: str, **fields: Any) -> list[Event]:
        return [e for e in self.events if e.get("type") == type_
                and all(e.get(k) == v for k, v in fields.items())]

    async def wait_event(self, type_: str, timeout: float = 8.0, **fields: Any) -> Event:
        await wait_until(lambda: bool(self.find(type_, **fields)), timeout,
                         f"event {type_} {fields}")
        return self.find(type_, **fields)[0]

    async def wait_closed(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.ws.wait_closed(), timeout)
        assert self.ws.close_code is not None or self._tasks[0].done()

    async def close(self) -> None:
        self.mic_on = False
        with contextlib.suppress(Exception):
            await self.ws.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)



async def open_call(sim: Simulator, body: dict[str, Any] | None = None, *,
                    params: dict[str, str] | None = None) -> tuple[dict[str, Any], Peer]:
    """A call created, its socket opened by a `Peer` (microphone on), once in progress."""
    call = await create_call(sim, body, params=params)
    peer = await Peer.open(call["transport"]["websocketCallUrl"])
    await peer.wait_event("status-update", status="in-progress")
    return call, peer

def encode(frame: np.ndarray, fmt: str) -> bytes:
    """The tests' own wire encoder (G.711 µ-law after the Sun reference code, 14-bit domain)."""
    if fmt == "pcm_s16le":
        return frame.astype("<i2").tobytes()
    x14 = frame.astype(np.int32) >> 2
    mask = np.where(x14 < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(x14), 8159) + 33
    seg = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), mag)
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> (seg + 1)) & 0x0F))
    return (uval ^ mask).astype(np.uint8).tobytes()


def decode(data: bytes, fmt: str) -> np.ndarray:
    if fmt == "pcm_s16le":
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exp, mant = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    mag = ((mant << 3) + 0x84 << exp) - 0x84
    return np.where(sign != 0, -mag, mag).astype(np.int16)


def best_corr(haystack: np.ndarray, needle: np.ndarray) -> tuple[float, int]:
    """Peak normalized cross-correlation of needle inside haystack, and its lag."""
    h, x = haystack.astype(np.float64), needle.astype(np.float64)
    if len(h) < len(x) or not np.any(x):
        return 0.0, 0
    n = 1 << int(np.ceil(np.log2(len(h) + len(x))))
    dots = np.fft.irfft(np.fft.rfft(h, n) * np.conj(np.fft.rfft(x, n)), n)[: len(h) - len(x) + 1]
    c = np.concatenate([[0.0], np.cumsum(h * h)])
    energy = np.sqrt(np.maximum(c[len(x):] - c[: len(h) - len(x) + 1], 1e-9))
    score = dots / (energy * np.linalg.norm(x))
    k = int(np.argmax(score))
    return float(score[k]), k


def rms_dbfs(x: np.ndarray) -> float:
    if len(x) == 0:
        return -120.0
    r = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return 20 * np.log10(max(r, 1e-3) / 32768.0)


def voiced(seconds: float, rate: int = 16000, f0: float = 140.0, seed: int = 1) -> np.ndarray:
    """Speech-like test audio without espeak: harmonics with syllable modulation."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave_ = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2
    x = wave_ * envelope
    return (x / np.max(np.abs(x)) * 12000).astype(np.int16)


@pytest.fixture(scope="session")
def speech16k(espeak_ng: None, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """espeak-ng speech, resampled to 16 kHz mono int16 (skipped without espeak-ng, except
    in CI: the `espeak_ng` fixture)."""
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SPEECH_TEXT], check=True, capture_output=True)
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return np.asarray(soxr.resample(x, rate, 16000), dtype=np.int16)
