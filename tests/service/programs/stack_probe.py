"""What the daemon does at run time, each step printed as `ok STEP`; `ALL OK` at the end.

    python stack_probe.py TMPDIR

Run inside the unit's emulated sandbox (seccomp_launcher.py) by
tests/service/test_unit_files.py. Also reports what the sandbox refuses (`refused WHAT:`),
and, with PROBE_AUDIO_DEVICE and PROBE_AUDIO_INPUT set, runs PortAudio callback streams.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def step(name: str) -> None:
    print("ok", name, flush=True)


def dsp() -> None:
    import httpx  # noqa: F401
    import numpy as np
    import soxr
    import websockets  # noqa: F401
    import yaml  # noqa: F401

    step("imports")
    rs = soxr.ResampleStream(16000, 48000, 1, dtype="int16")
    assert rs.resample_chunk(np.zeros(320, dtype="int16")).dtype == np.int16
    step("numpy + soxr")


def cffi_callback() -> None:
    import sounddevice as sd

    cb = sd._ffi.callback("int(int)", lambda x: x * 2)
    assert cb(21) == 42
    step("cffi callback")


async def tcp() -> None:
    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(await r.read(5))
        await w.drain()
        w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"hello")
    await w.drain()
    assert await r.read(5) == b"hello"
    w.close()
    server.close()
    await server.wait_closed()
    step("asyncio tcp")


def sd_notify(directory: str) -> None:
    from bridge.service.notify import Notifier

    path = os.path.join(directory, "notify")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.settimeout(5)
    with Notifier(path) as n:
        assert n.ready("probe") and rx.recv(100) == b"READY=1\nSTATUS=probe"
    step("sd_notify")


def refusals() -> None:
    print("proc subset=pid:", not os.path.exists("/proc/cpuinfo"), flush=True)
    calls: tuple[tuple[str, Callable[[], Any]], ...] = (
        ("chroot", lambda: os.chroot("/")),
        ("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, 0, 0)),
        ("AF_PACKET", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW)),
    )
    for what, call in calls:
        try:
            call()
        except OSError as exc:
            print(f"refused {what}:", exc.strerror, flush=True)
        else:
            print(f"{what} ALLOWED", flush=True)


def audio_streams(output: str, input_device: str) -> None:
    import sounddevice as sd

    counts = [0, 0]

    def out_cb(outdata: Any, frames: int, t: Any, status: Any) -> None:
        outdata[:] = 0
        counts[0] += 1

    def in_cb(indata: Any, frames: int, t: Any, status: Any) -> None:
        counts[1] += 1

    with sd.OutputStream(device=output, samplerate=16000, channels=1, dtype="int16",
                         blocksize=320, callback=out_cb), \
         sd.InputStream(device=input_device, samplerate=16000, channels=1, dtype="int16",
                        blocksize=320, callback=in_cb):
        time.sleep(0.6)
    assert counts[0] > 5 and counts[1] > 5, counts
    step(f"PortAudio callback streams ({counts[0]} out, {counts[1]} in blocks)")


def main() -> None:
    dsp()
    cffi_callback()
    socket.getaddrinfo("localhost", 443)
    step("getaddrinfo")
    asyncio.run(tcp())
    sd_notify(sys.argv[1])
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    step("threads")
    refusals()
    device = os.environ.get("PROBE_AUDIO_DEVICE")
    if device:
        audio_streams(device, os.environ["PROBE_AUDIO_INPUT"])
    print("ALL OK", flush=True)


if __name__ == "__main__":
    main()
