"""The guardrails smoke sends real attack prompts; re-running a gate must not page the security team. The probes
announce themselves, the reference app counts them apart, and the runbook's alert expressions leave them out."""

from __future__ import annotations

import time

import httpx
import pytest

from checks import test_http as http_checks
from healthgate.testing import make_target, run_check

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack-refapp")]


def _query(prometheus: str, expr: str) -> float:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    return sum(float(sample["value"][1]) for sample in answer["data"]["result"])


def test_repeated_guardrail_smokes_are_counted_as_synthetic_and_raise_no_alert(stack):
    env = stack.env()
    target = make_target("http", {"url": env["STACK_REFAPP_URL"], "guardrails": {"path": "/chat"}})
    for _ in range(3):  # 12 injection prompts: more than twice the runbook's threshold of 5 in 5 minutes
        assert run_check(http_checks.test_guardrails, target).status == "passed"
    prometheus = env["STACK_PROMETHEUS_URL"]
    deadline = time.monotonic() + 20
    synthetic = 0.0
    while time.monotonic() < deadline:
        synthetic = _query(prometheus, 'sum(ai_prompt_injection_detected_total{synthetic="true"})')
        if synthetic >= 12:
            break
        time.sleep(1)
    assert synthetic >= 12, "the smoke's refusals are still counted, as synthetic"
    real = _query(prometheus, 'sum(increase(ai_prompt_injection_detected_total{synthetic!="true"}[5m]))')
    assert real == 0
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    states = {r["name"]: r["state"] for g in rules for r in g["rules"] if r["name"] == "PromptInjectionDetected"}
    assert states == {"PromptInjectionDetected": "inactive"}
