"""Evidence and labels for Allure, added while a check runs (allure-pytest picks them up for the current test)."""

from __future__ import annotations

from typing import Any

from healthgate.redact import redact

_ALLURE_SEVERITY = {"critical": "critical", "warning": "normal"}


def allure_labels(info: Any, record: Any, status: str, message: str) -> None:
    try:
        import allure
    except ImportError:  # pragma: no cover - allure is a dependency, but the engine must not need it
        return
    try:
        allure.dynamic.parent_suite(",".join(info.phases))
        allure.dynamic.suite(info.kind)
        allure.dynamic.sub_suite(info.target.id)
        allure.dynamic.severity(_ALLURE_SEVERITY[info.severity])
        allure.dynamic.tag(info.severity)
        allure.dynamic.link(info.runbook, name="runbook")
        allure.dynamic.label("target", info.target.id)
        for observation in record.observations:
            allure.attach(redact(observation.render()), name=f"observed: {observation.subject}",
                          attachment_type=allure.attachment_type.TEXT)
        for name, text in record.evidence:
            allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)
        for warning in record.warnings:
            allure.attach(warning, name="warning", attachment_type=allure.attachment_type.TEXT)
    except Exception:
        return
