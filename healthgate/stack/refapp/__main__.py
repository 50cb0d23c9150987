"""``python -m healthgate.stack.refapp --host 0.0.0.0 --port 8000`` (in the image: ``python3 -m refapp``)."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .telemetry import OtlpConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="refapp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (off by default: Prometheus scrapes every 2 s)")
    args = parser.parse_args(argv)
    # OTLP is configured as an OpenTelemetry SDK is, by OTEL_* variables (see telemetry.py); none, no telemetry.
    app = create_app(telemetry=OtlpConfig.from_environ())
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                access_log=args.access_log, lifespan="off")


if __name__ == "__main__":
    main()
