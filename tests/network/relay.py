"""A plain TCP relay on loopback, in threads, in front of the simulator: a kiosk's Wi-Fi
that can go silent (`hold`: nothing forwarded either way, no FIN, no reset — packets just
stop) and come back (`resume`: what was held goes through). The simulator names its call
socket by the Host a request came with, so the call socket goes through the relay too."""

from __future__ import annotations

import contextlib
import socket
import threading


class Relay:
    def __init__(self, target: int) -> None:
        self.target = target
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                self.flowing.wait()  # held: kept, and the rest waits in the kernel
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.resume()
        self.listener.close()
        for s in self._open:
            with contextlib.suppress(OSError):
                s.close()
