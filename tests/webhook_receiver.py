"""A webhook receiver on 127.0.0.1 that records what it got and can answer errors first."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Status codes to answer, in order, before answering 200 to everything.
    failures: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> list[Received]:
        """Requests answered 2xx (the ones a receiver acts on)."""
        return [r for r in self.requests if r.headers.get("x-test-answered") == "200"]


@contextmanager
def webhook_receiver(failures: list[int] | None = None) -> Iterator[Receiver]:
    lock = threading.Lock()
    receiver = Receiver(url="", failures=list(failures or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                status = receiver.failures.pop(0) if receiver.failures else 200
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers["x-test-answered"] = str(status)
                receiver.requests.append(Received(headers, body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook/secret-token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
