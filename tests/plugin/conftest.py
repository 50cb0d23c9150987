"""Small real servers on loopback for the plugin's own tests: a healthy/unhealthy HTTP endpoint whose answers
a test can script, and a black hole that accepts TCP and never answers."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class LoopbackHTTP:
    """A threaded HTTP server on an ephemeral loopback port, answering with the given handler class."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ScriptedServer(LoopbackHTTP):
    def __init__(self) -> None:
        self.answers: list[int] = []  # statuses to give, in order; the last one repeats
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                status = server.answers[min(server.hits - 1, len(server.answers) - 1)] if server.answers else 200
                body = b'{"status": "ok"}' if status == 200 else b'{"status": "down"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.serve(Handler)


class SlowServer(LoopbackHTTP):
    """Answers every request after a set delay, and notes when each request arrived and was answered."""

    def __init__(self, delay_s: float) -> None:
        import time

        self.arrivals: list[tuple[float, float]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                arrived = time.monotonic()
                time.sleep(delay_s)
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                server.arrivals.append((arrived, time.monotonic()))

            def log_message(self, *args: object) -> None:
                pass

        self.serve(Handler)


class BlackHole:
    """Accepts connections and never answers, like a wedged service behind a load balancer."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self.conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._on_accept(conn)

    def _on_accept(self, conn: socket.socket) -> None:
        self.conns.append(conn)  # held open, never answered

    def close(self) -> None:
        self._stop = True
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def http_server():
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def black_hole():
    hole = BlackHole()
    yield hole
    hole.close()


class Resetter(BlackHole):
    """Accepts connections and resets them at once (RST), like a crashing proxy or a firewall reset."""

    def _on_accept(self, conn: socket.socket) -> None:
        import struct

        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


@pytest.fixture
def resetter():
    server = Resetter()
    yield server
    server.close()
