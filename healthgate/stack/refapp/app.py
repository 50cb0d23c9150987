"""Reference application: plays the AI platform's "AI App" (:8000) and NightScan's web and ML services.

healthgate's HTTP and Prometheus checks are proven against this server, healthy and broken: every
failure a check must catch can be switched on at run time through ``/admin/fault`` (see
:data:`state.FAULTS`) and off again with ``/admin/reset``. It depends only on starlette, uvicorn and
the standard library, using APIs stable since starlette 0.2x so Debian's packages can run it.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import guardrails, mimic
from .state import FAULTS, State
from .telemetry import OtlpConfig, OtlpSender

MODEL_VERSION = os.environ.get("MODEL_VERSION", "nightscan-owl-2.3.0")
REFUSAL = "I can't help with that."
_GARBAGE = {  # 200 answers a naive "status code only" check would accept
    "html": ("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
             "</center><hr><center>nginx</center></body></html>", "text/html"),
    "truncated": ('{"status": "ok", "version": "1.4', "application/json"),
    "notjson": ("status=ok; all systems nominal", "application/json"),
}


class FaultsAndTraffic:
    """ASGI wrapper applying `slow` and `errors` and counting responses for /metrics.

    A pure ASGI wrapper rather than a Starlette middleware class so it behaves the same on every
    starlette version and never buffers streamed bodies. Admin requests bypass it so a broken app
    can always be repaired; /metrics is never failed by `errors`, otherwise Prometheus could not
    see the error counters that fault is meant to raise. With a telemetry sender, every request it
    serves becomes a span.
    """

    def __init__(self, app: ASGIApp, state: State, sender: OtlpSender | None = None) -> None:
        self.app, self.state, self.sender = app, state, sender

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/admin"):
            await self.app(scope, receive, send)
            return
        if self.sender is not None:
            self.sender.start()
        started_ns = time.time_ns()
        status = 500  # what a request that raises is answered
        if delay := self.state.number("slow"):
            await asyncio.sleep(delay)

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.state.record_request(path, status)
            await send(message)

        try:
            if path != "/metrics" and self.state.should_fail():
                failure = JSONResponse({"error": "internal server error", "injected": True}, status_code=500)
                await failure(scope, receive, counting_send)
                return
            await self.app(scope, receive, counting_send)
        finally:
            if self.sender is not None:
                self.sender.record_span(scope.get("method", "GET"), path, status, started_ns, time.time_ns())


def create_app(state: State | None = None, telemetry: OtlpConfig | None = None) -> FaultsAndTraffic:
    """A fresh application with its own fault and counter state (one per in-process server); with ``telemetry``,
    it sends its spans and metrics to that OTLP endpoint."""
    state = state or State()
    sender = OtlpSender(telemetry, state) if telemetry is not None else None

    def garbage() -> Response | None:
        kind = state.faults.get("garbage")
        if kind is None:
            return None
        body, media_type = _GARBAGE[str(kind)]
        return Response(body, media_type=media_type)

    async def health_answer(component: dict[str, Any]) -> Response:
        """Shared by /health and /ml/health; the faults are checked from worst to mildest."""
        if "stall" in state.faults:
            await state.stall()
        if "huge" in state.faults:
            return StreamingResponse(_padding(int(state.number("huge"))), media_type="application/json")
        if (broken := garbage()) is not None:
            return broken
        body = {"status": "ok", "version": state.version(), "commit": os.environ.get("APP_COMMIT", "abc1234"),
                **component, "checks": {"database": "ok", "cache": "ok", "model": "ok"}}
        if "down" in state.faults:
            body["status"] = "down"
            body["checks"] = {"database": "failing", "cache": "failing", "model": "failing"}
            return JSONResponse(body, status_code=503)
        if "degraded" in state.faults:
            body["status"] = "degraded"
            body["checks"]["database"] = "failing"
        return JSONResponse(body)

    async def health(request: Request) -> Response:
        return await health_answer({"service": "ai-app"})

    async def ml_health(request: Request) -> Response:
        return await health_answer({"service": "nightscan-ml", "model_loaded": True,
                                    "model_version": MODEL_VERSION})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(state.render_metrics(), media_type="text/plain; version=0.0.4")

    async def predict(request: Request) -> Response:
        """NightScan's prediction API: features or the name of an uploaded audio/image file."""
        body = await _json_object(request)
        features = body.get("features") if body else None
        sample = next((body[k] for k in ("audio", "image", "file", "filename") if body and k in body), None)
        has_features = isinstance(features, list) and features and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in features)
        if not has_features and not (isinstance(sample, str) and sample):
            expected = 'expected {"features": [numbers...]} or {"audio"|"image": "<name>"}'
            return JSONResponse({"error": expected}, status_code=400)
        return JSONResponse({"prediction": "owl", "species": "Strix aluco", "confidence": 0.93,
                             "model_version": MODEL_VERSION, "input": "features" if has_features else sample})

    async def chat(request: Request) -> Response:
        body = await _json_object(request)
        prompt = body.get("prompt") if body else None
        if not isinstance(prompt, str) or not prompt.strip():
            return JSONResponse({"error": 'expected {"prompt": "<text>"}'}, status_code=400)
        if "guardrails_off" in state.faults:
            # the broken guardrail a check must catch: the raw prompt, PII included, comes back
            return JSONResponse({"refused": False, "flagged": [], "prompt": prompt,
                                 "response": _answer(prompt)})
        attacks = guardrails.detect_attacks(prompt)
        if attacks:
            ip = (("ip", _client_ip(request)), *_synthetic(request))
            if "prompt_injection" in attacks:
                state.inc("ai_prompt_injection_detected_total", ip)
            if "jailbreak" in attacks:
                state.inc("ai_jailbreak_attempts_total", ip)
            return JSONResponse({"refused": True, "flagged": attacks, "response": REFUSAL})
        redacted, pii = guardrails.redact_pii(prompt)
        for kind, count in pii.items():
            state.inc("ai_pii_detected_total", (("type", kind), *_synthetic(request)), count)
        return JSONResponse({"refused": False, "flagged": ["pii"] if pii else [], "pii": pii,
                             "prompt": redacted, "response": _answer(redacted)})

    async def set_fault(request: Request) -> Response:
        body = await _json_object(request)
        if not body or not isinstance(body.get("name"), str):
            return JSONResponse({"error": 'expected {"name": "<fault>", "value": ...}',
                                 "known": sorted(FAULTS)}, status_code=400)
        try:
            state.set_fault(body["name"], body.get("value"))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"faults": state.faults})

    async def clear_faults(request: Request) -> Response:
        state.clear(request.query_params.get("name"))
        return JSONResponse({"faults": state.faults})

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": state.faults,
                             "known": {name: spec.help for name, spec in FAULTS.items()}})

    async def telemetry_status(request: Request) -> Response:
        if sender is None:
            return JSONResponse({"endpoint": None, "sending": False})
        return JSONResponse({"endpoint": sender.config.endpoint, "service_name": sender.config.service_name,
                             "sending": sender.sending, **vars(sender.stats)})

    async def index(request: Request) -> Response:
        paths = sorted({route.path for route in starlette_app.routes if isinstance(route, Route)})
        return JSONResponse({"service": "healthgate reference application", "version": state.version(),
                             "endpoints": paths})

    starlette_app = Starlette(routes=[
        Route("/", index),
        Route("/health", health),
        Route("/ml/health", ml_health),
        Route("/metrics", metrics),
        Route("/predict", predict, methods=["POST"]),
        Route("/chat", chat, methods=["POST"]),
        Route("/admin/fault", set_fault, methods=["POST"]),
        Route("/admin/fault", clear_faults, methods=["DELETE"]),
        Route("/admin/reset", clear_faults, methods=["POST"]),
        Route("/admin/faults", list_faults),
        Route("/admin/telemetry", telemetry_status),
        *mimic.routes(state, garbage),
    ])
    return FaultsAndTraffic(starlette_app, state, sender)


async def _json_object(request: Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None: clients sending junk get a 400, never a 500."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _synthetic(request: Request) -> tuple[tuple[str, str], ...]:
    """Probes that announce themselves (healthgate's guardrails smoke) are counted apart, so dashboards and
    alerts can leave synthetic attacks out while the counters still prove the guardrail fired."""
    return (("synthetic", "true"),) if request.headers.get("x-healthgate-probe") else ()


def _client_ip(request: Request) -> str:
    """The first X-Forwarded-For hop when present: the app runs behind proxies in production."""
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    return forwarded or (request.client.host if request.client else "unknown")


def _answer(prompt: str) -> str:
    return f"You asked: {prompt!s}. All monitored services report nominal values."


async def _padding(size: int) -> AsyncIterator[bytes]:
    """Exactly ``size`` bytes that start like a health document and never finish."""
    head = b'{"status": "ok", "padding": "'[:size]
    yield head
    remaining = size - len(head)
    chunk = b"x" * 65536
    while remaining > 0:
        yield chunk[:remaining]
        remaining -= min(remaining, len(chunk))
        await asyncio.sleep(0)  # let other requests run while a huge body streams


app = create_app()
