"""A TCP door in front of the embedded Postgres (which listens on a unix socket only) that a test
can close and open again: ``cut()`` drops every open connection and refuses new ones, as a
stopped or crashed database server does; ``restore()`` lets connections through again.

Only this test's connections go through it, so other tests sharing the server are not affected.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import parse_qs, urlsplit, urlunsplit


def unix_socket_of(database_url: str) -> str:
    parts = urlsplit(database_url)
    host = parse_qs(parts.query)["host"][0]
    return f"{host}/.s.PGSQL.{parts.port or 5432}"


class PostgresDoor:
    def __init__(self, database_url: str):
        self.target = unix_socket_of(database_url)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        parts = urlsplit(database_url)
        self.url = urlunsplit((parts.scheme, f"{parts.username}@127.0.0.1:{self.port}",
                               parts.path, "connect_timeout=3", ""))
        self.open = True
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.open:
                client.close()  # refused: the server is "down"
                continue
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.open = False
        with self.lock:
            for sock in self.connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass
            self.connections.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()
