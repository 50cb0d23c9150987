"""Running the reference application: in a background thread for tests and benchmarks, or as a process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp

from .app import FaultsAndTraffic, create_app


def serve_in_thread(host: str = "127.0.0.1", port: int = 0, app: ASGIApp | None = None,
                    timeout: float = 10.0) -> tuple[str, Callable[[], None]]:
    """Start a fresh application on ``host:port`` (0 = a free port) and return ``(base_url, stop)``.

    The socket is bound here rather than by uvicorn so port 0 works and the real port is known
    before the server starts. ``stop`` first releases requests held by the `stall` fault, then
    forces the exit if a request (e.g. under `slow`) still keeps the graceful shutdown waiting.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says so, and without it every keep-alive request waits ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    app = app or create_app()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"refapp-{bound_port}")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"reference application did not start on {host}:{bound_port} in {timeout}s")
        time.sleep(0.01)

    def stop() -> None:
        if isinstance(app, FaultsAndTraffic):
            app.state.faults.pop("stall", None)
        server.should_exit = True
        thread.join(2.0)
        server.force_exit = True
        thread.join(timeout)
        sock.close()

    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    return f"http://{url_host}:{bound_port}", stop
