"""Serving the HTTP API locally: uvicorn in a background thread that starts and stops cleanly."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import uvicorn


class ServerError(RuntimeError):
    """The API could not start; the message says what to change."""


class ApiServer:
    """uvicorn on `host:port` in a daemon thread (port 0 picks a free port)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.host, self.port = host, port
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        # uvicorn installs signal handlers only on the main thread, so Ctrl-C stays ours.
        self.thread = threading.Thread(target=self._serve, name="nebula-api", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"the API could not listen on {self.host}:{self.port} "
                    "(is the port in use?): pass --port to pick another."
                )
            time.sleep(0.02)

    def _serve(self) -> None:
        # uvicorn exits on a startup failure; start() reports it.
        with contextlib.suppress(SystemExit):
            self.server.run()

    @property
    def url(self) -> str:
        port = self.port
        for server in getattr(self.server, "servers", []):
            for sock in server.sockets:
                port = sock.getsockname()[1]
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)  # noqa: S104
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 literal in a URL needs brackets
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
