"""A fleet of HTTP services in one process: N ports on 127.0.0.1, one asyncio loop answering all of them.

    python -m bench.httpfleet N              # every port answers GET /health with {"status": "ok"}
    python -m bench.httpfleet N --blackhole  # every port accepts TCP and never answers
    python -m bench.httpfleet N --delay 0.05 # every answer leaves 50 ms after its request arrived (a WAN)

Prints the ports as one JSON line once listening, then serves until stdin closes or it is terminated. A
bare protocol (no framework) keeps the server far cheaper than the checks it answers, so the numbers measure
the gate and not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

BODY = b'{"status":"ok"}'
OK = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + str(len(BODY)).encode()
      + b"\r\n\r\n" + BODY)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


class Health(asyncio.Protocol):
    """HTTP/1.1 keep-alive; answers each complete request head (bodies are read by Content-Length).

    ``delay`` holds each answer back in the server, as a long network path would: the client sees the latency
    without spending CPU on it, and nothing between them (no traffic shaping) has to be set up or torn down.
    """

    delay = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip() or 0)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            path = head.split(" ", 2)[1] if head.count(" ") >= 2 else "/"
            answer = OK if path.split("?")[0] in ("/health", "/") else NOT_FOUND
            if self.delay > 0:
                # a timer per answer keeps pipelined answers in order (same delay, FIFO timers)
                asyncio.get_running_loop().call_later(self.delay, self._write, answer)
            else:
                self.transport.write(answer)

    def _write(self, answer: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(answer)


class Blackhole(asyncio.Protocol):
    """Accepts and reads, never answers: what a hung process behind a live listener looks like."""

    def data_received(self, data: bytes) -> None:
        pass


async def serve(count: int, blackhole: bool, delay: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    Health.delay = delay
    protocol = Blackhole if blackhole else Health
    servers = [await loop.create_server(protocol, "127.0.0.1", 0, backlog=512) for _ in range(count)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps(ports), flush=True)
    closed = asyncio.Event()
    stdin = sys.stdin.fileno()
    # the parent closing our stdin (or dying) is the signal to stop: no server outlives its benchmark
    loop.add_reader(stdin, lambda: closed.set() if not os.read(stdin, 1) else None)
    await closed.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.httpfleet")
    parser.add_argument("count", type=int)
    parser.add_argument("--blackhole", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0, metavar="SECONDS",
                        help="hold every answer back this long (default 0)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.count, args.blackhole, args.delay))


if __name__ == "__main__":
    main()
