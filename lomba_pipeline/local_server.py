"""Serve an ASGI app on 127.0.0.1 from a background thread (the offline demo's sites, test fakes).

uvicorn rather than ``http.server``: the latter stalls ~44 ms per request on kept-alive
connections, which would swamp benchmark figures.
"""

import socket
import threading
import time

import uvicorn


class LocalServer:
    """``with LocalServer(app) as server: server.url``; ``port=0`` picks a free port."""

    def __init__(self, app, port: int = 0, name: str = "local server"):
        self.app = app
        self.port = port
        self.name = name
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "LocalServer":
        port = self.port or _free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} could not start on 127.0.0.1:{port}")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=2)
            if self._thread.is_alive():
                # a client that died mid-request (a SIGKILLed run) leaves its connection open;
                # uvicorn would wait for it: stop without it
                self._server.force_exit = True
                self._thread.join(timeout=8)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
