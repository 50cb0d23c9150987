"""The run's heartbeat: a URL pinged when a health run starts and ends, so a monitor outside this machine notices
a daily run that no longer happens (a removed crontab, an expired credential, a full disk) or that stops halfway.

It follows the healthchecks.io convention, which Cronitor, Better Stack and self-hosted Healthchecks also accept:
``<url>/start`` when the run starts, the bare ``<url>`` when the gate is green, ``<url>/<exit status>`` otherwise
(1 red, 4 bad profile or option, 5 nothing selected, ...). A ``rid`` parameter pairs a start with its end, so the
monitor measures the run's duration even when runs overlap.

The URL is a credential (anyone holding it can report the run healthy): it is registered as a secret when the
profile is read, so every output masks it, and no message here ever contains it. A ping is bounded by a short
timeout and never changes the run's exit status: the monitor, not the run, reports a missing ping.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from healthgate.redact import redact, register_secret
from healthgate.targets.base import Model
from healthgate.units import Duration

START = "start"
TOKEN_MIN_LENGTH = 16  # a UUID is 36 characters, a healthchecks.io ping key 22


def _url_or_mapping(schema: dict[str, Any]) -> None:
    """Editors reading the JSON Schema accept the short form too: the URL alone."""
    mapping = dict(schema)
    schema.clear()
    schema["anyOf"] = [{"type": "string", "description": "the ping URL alone"}, mapping]


class Heartbeat(Model):
    """``heartbeat: ${HEALTHCHECK_URL}`` or ``heartbeat: {url: ..., timeout: 5s}``."""

    model_config = ConfigDict(json_schema_extra=_url_or_mapping)

    url: SecretStr = Field(description="ping URL, e.g. https://hc-ping.com/<uuid>; a secret: never printed")
    timeout: Duration = Field(5.0, gt=0, le=30, description="time limit of each ping (default 5s); a ping that "
                                                             "fails is reported and never fails the run")

    @model_validator(mode="before")
    @classmethod
    def _bare_url(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # the value itself stays out of the message: it is a credential
            raise ValueError("not an http(s) URL: write the ping URL your monitor gives, e.g. "
                             "https://hc-ping.com/<uuid>, from an environment variable: ${HEALTHCHECK_URL}")
        register_secret(url)
        # The path alone is the token (hc-ping.com/<uuid>, hc-ping.com/<ping key>/<slug>): mask it wherever it
        # appears, with or without the host in front. A short path (/ping) is a word, not a token: masking it
        # would garble every message that contains the word.
        token = parts.path.strip("/")
        if len(token) >= TOKEN_MIN_LENGTH:
            register_secret(token)
        return SecretStr(url)

    def ping_url(self, event: str | int) -> str:
        """``/start``, the bare URL for exit status 0, ``/<status>`` for any other exit status."""
        base = self.url.get_secret_value().rstrip("/")
        if event == START:
            return f"{base}/start"
        return base if event == 0 else f"{base}/{int(event)}"


def ping(heartbeat: Heartbeat, event: str | int, run_id: str) -> str:
    """Ping once; return what happened, in words that never contain the URL. Never raises."""
    import httpx

    what = "start" if event == START else f"end (exit status {event})"
    try:
        response = httpx.get(heartbeat.ping_url(event), params={"rid": run_id}, timeout=heartbeat.timeout,
                             follow_redirects=True)
    except Exception as exc:  # any failure of the ping is reported, none may end the run
        return redact(f"heartbeat: {what} not delivered ({type(exc).__name__}: {exc}; limit "
                      f"{heartbeat.timeout:g}s): the monitor will report this run late or down")
    if response.status_code >= 300:
        return redact(f"heartbeat: {what} refused by the monitor (HTTP {response.status_code}): check the ping URL "
                      "in the profile's heartbeat")
    return f"heartbeat: {what} delivered"
