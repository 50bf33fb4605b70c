"""The downlink pump: real-time pacing and Vapi-like chunking of the assistant's audio.

Bytes are due at exactly the wire byte rate since the socket connected; each send instant
sends what is due, so faults that move send instants (jitter, stalls) keep the average
rate. ``vapi`` chunking: an instant about every 50 ms, chunk sizes scaled from the
170-750 bytes seen for 8 kHz µ-law (x byte-rate/8000), never a frame multiple, odd byte
counts allowed; a backlog larger than one chunk goes out as back-to-back chunks.
``frames`` chunking: exact 20 ms frames every 20 ms. Fault ``no-bed``: a chunk that holds
no sample of an utterance (the near-silence between replies) is not sent at all, as from a
server that streams only speech; the stream's clock goes on as if it were.

``speed`` makes speech faster than real time, as a TTS engine produces it: while the
assistant has speech to send, the stream runs ahead of real time by ``speed - 1`` seconds
per second (``inf``: the whole of every reply is due the moment it starts). Between
replies the near-silence bed goes on in real time from wherever the stream stands, so the
lead is kept and every reply adds to it — the bridge must play the speech whole and shed
only the near-silence to keep its delay bounded.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable

import numpy as np

from bridge.sim.faults import FaultSet
from bridge.sim.mouth import Mouth
from bridge.sim.outbox import Outbox
from bridge.sim.wirecodec import WireFormat, encode

SampleSink = Callable[[np.ndarray], None]


class DownlinkPump:
    def __init__(
        self,
        fmt: WireFormat,
        mouth: Mouth,
        outbox: Outbox,
        *,
        chunking: str,
        faults: FaultSet,
        rng: random.Random,
        connected_mono: float,
        sink: SampleSink,
        speed: float = 1.0,
    ) -> None:
        self.fmt = fmt
        self.mouth = mouth
        self.outbox = outbox
        self.chunking = chunking
        self.faults = faults
        self.rng = rng
        self.connected_mono = connected_mono
        self.sink = sink  # receives every generated sample (recording, listen)
        self.speed = speed
        self.lead = 0.0  # bytes sent ahead of real time (faster-than-real-time speech)
        self.hold_until = 0.0  # loop time: nothing is sent before (interrupt-tail's @HOLD)
        self._pending = b""
        self._at = 0  # wire bytes produced so far (the next chunk's first byte)
        self._no_bed = "no-bed" in faults
        self._skipping, self._carry = False, b""  # `no-bed`: between utterances
        mouth.track_spoken = self._no_bed
        self._running = True
        scale = fmt.byte_rate / 8000.0
        self.min_chunk = max(2, int(170 * scale))
        self.max_chunk = max(self.min_chunk + 2, int(750 * scale))
        self.nominal = fmt.byte_rate * 0.05

    def stop(self) -> None:
        self._running = False

    def _produce(self, size: int) -> tuple[bytes, list[dict[str, object]]]:
        markers: list[dict[str, object]] = []
        bps = self.fmt.bytes_per_sample
        while len(self._pending) < size:
            n = math.ceil((size - len(self._pending)) / bps)
            samples, mk = self.mouth.take(n)
            self.sink(samples)
            for m in mk:
                pos = int(m.pop("streamPos"))
                m["streamSeconds"] = round(pos / self.fmt.rate, 6)
                m["scheduledMonotonic"] = self.connected_mono + pos / self.fmt.rate
                markers.append(m)
            self._pending += encode(samples, self.fmt)
        chunk, self._pending = self._pending[:size], self._pending[size:]
        start, self._at = self._at, self._at + size
        if not self._no_bed:
            return chunk, markers
        if not markers and not self.mouth.spoke_in(start // bps, -(-self._at // bps)):
            # near-silence, not sent (`no-bed`) but for what keeps the stream whole samples:
            # the rest of one the speech sent began, and (`_carry`) the start of one it
            # ends in, sent before the speech that goes on with it
            head = b"" if self._skipping else chunk[:-start % bps]
            self._skipping, self._carry = True, chunk[size - self._at % bps:size]
            return head, markers
        if self._skipping:
            self._skipping, chunk = False, self._carry + chunk
        return chunk, markers

    def _interval(self) -> float:
        if self.chunking == "frames":
            return 0.02
        r = self.rng.random()
        if r < 0.04:
            return 0.002  # back-to-back
        if r < 0.08:
            return self.rng.uniform(0.07, 0.1)
        return self.rng.uniform(0.0485, 0.0525)

    def _sizes(self, need: int) -> list[int]:
        odd = "odd-binary" in self.faults
        sizes: list[int] = []
        if "tiny-frames" in self.faults:  # 1-7 bytes each: tens of thousands of messages
            while need > 0:
                sizes.append(min(need, self.rng.randint(1, 7)))
                need -= sizes[-1]
            return sizes
        if "one-frame" in self.faults:
            size = need - 1 if odd and need % 2 == 0 else need
            return [size] if size >= self.min_chunk else []
        if self.chunking == "frames":
            frame = self.fmt.frame_bytes
            flip = 1
            while need >= frame:
                size = frame + flip if odd else frame
                flip = -flip
                sizes.append(size)
                need -= size
            return sizes
        frame = self.fmt.frame_bytes
        while need >= self.min_chunk:
            if need <= self.max_chunk:
                wobble = int(self.nominal * 0.08)
                size = need + self.rng.randint(-wobble, wobble)
            else:
                size = self.rng.randint(int(self.max_chunk * 0.8), self.max_chunk)
            size = max(self.min_chunk, min(self.max_chunk, size))
            if size % frame == 0:
                size += 1
            if odd and size % 2 == 0:
                size += 1
            sizes.append(size)
            need -= size
        return sizes

    def _advance_lead(self, dt: float, sent: int, realtime: float) -> None:
        """Speech is produced `speed` times faster than real time while there is any."""
        pending = self.mouth.pending_samples * self.fmt.bytes_per_sample
        if self.speed <= 1.0 or pending == 0:
            return
        if math.isinf(self.speed):
            self.lead = max(self.lead, sent + len(self._pending) + pending - realtime)
        else:
            self.lead += (self.speed - 1.0) * dt * self.fmt.byte_rate

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        stall = self.faults.get("stall")
        stall_at = stall.at(2.0) if stall else None
        stall_len = stall.number() / 1000.0 if stall else 0.0
        burst = self.faults.get("burst")
        burst_at = burst.number() if burst else None
        jitter = self.faults.get("jitter")
        jitter_s = jitter.number() / 1000.0 if jitter else 0.0
        sent, nominal_t, last = 0, t0, t0
        while self._running:
            nominal_t += self._interval()
            send_at = nominal_t + (self.rng.uniform(0, jitter_s) if jitter_s else 0.0)
            if stall_at is not None and t0 + stall_at <= send_at < t0 + stall_at + stall_len:
                send_at = t0 + stall_at + stall_len
                nominal_t = send_at
            delay = send_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            while (held := self.hold_until - loop.time()) > 0:  # set while it slept
                await asyncio.sleep(held)
            if not self._running:
                break
            now = loop.time()
            realtime = (now - t0) * self.fmt.byte_rate
            self._advance_lead(now - last, sent, realtime)
            last = now
            due = int(realtime + self.lead)
            if burst_at is not None and now - t0 >= burst_at:
                # the next second goes out now; nothing more until real time catches up
                due += self.fmt.byte_rate
                burst_at = None
            tiny: list[bytes] = []  # tiny-frames: written together, as a flood arrives
            for size in self._sizes(due - sent):
                chunk, markers = self._produce(size)
                sent += size
                if not chunk:  # `no-bed`: near-silence, not sent
                    continue
                if "tiny-frames" in self.faults:
                    tiny.append(chunk)
                else:
                    self.outbox.audio(chunk, markers)
            if tiny:
                self.outbox.frames(tiny)
            nominal_t = max(nominal_t, now - 0.2)  # don't try to replay a long pause
