"""Alertmanager's delivery counters, read from its /metrics as 0.25 (Debian 12) and 0.27 serve them."""

from __future__ import annotations

import pytest

from healthgate.errors import BadResponse
from healthgate.targets.alertmanager.facts import Delivery, parse_deliveries

# As Alertmanager 0.25.0 served them on the stack after a webhook to a closed port failed (trimmed).
AM_025 = """\
# HELP alertmanager_notification_requests_failed_total The total number of failed notification requests.
# TYPE alertmanager_notification_requests_failed_total counter
alertmanager_notification_requests_failed_total{integration="email"} 0
alertmanager_notification_requests_failed_total{integration="webhook"} 8
alertmanager_notification_requests_total{integration="email"} 0
alertmanager_notification_requests_total{integration="webhook"} 8
alertmanager_notifications_failed_total{integration="email"} 0
alertmanager_notifications_failed_total{integration="webhook"} 1
alertmanager_notifications_total{integration="email"} 0
alertmanager_notifications_total{integration="webhook"} 2
process_start_time_seconds 1.76463894e+09
"""

# 0.27 splits the failed counter by reason; the reasons are summed per integration.
AM_027 = """\
alertmanager_notifications_failed_total{integration="webhook",reason="clientError"} 2
alertmanager_notifications_failed_total{integration="webhook",reason="other"} 1
alertmanager_notifications_failed_total{integration="webhook",reason="serverError"} 0
alertmanager_notifications_total{integration="webhook"} 5
"""


def test_counters_per_integration() -> None:
    read = parse_deliveries(AM_025)
    assert read.by_integration == {
        "email": Delivery("email"),
        "webhook": Delivery("webhook", notifications=2, failed=1, requests=8, requests_failed=8),
    }
    assert read.started_at == 1.76463894e9
    assert [d.integration for d in read.failing] == ["webhook"]
    assert read.failing[0].failures == 8


def test_failure_reasons_are_summed() -> None:
    (webhook,) = parse_deliveries(AM_027).by_integration.values()
    assert (webhook.failed, webhook.notifications, webhook.failures) == (3, 5, 3)


def test_increase_between_reads_and_a_restart() -> None:
    before = parse_deliveries(AM_025)
    same, restarted = before.increase(before)
    assert not restarted
    assert same.by_integration == {"email": Delivery("email"), "webhook": Delivery("webhook")}
    assert not same.failing
    later = parse_deliveries(AM_025.replace('"webhook"} 8', '"webhook"} 11'))
    grown, restarted = before.increase(later)
    assert not restarted
    assert grown.by_integration["webhook"] == Delivery("webhook", requests=3, requests_failed=3)
    # Fewer than before: the process restarted, and all it counts now happened since.
    after_restart = parse_deliveries(AM_025.replace('"webhook"} 8', '"webhook"} 2'))
    grown, restarted = before.increase(after_restart)
    assert restarted
    assert grown.by_integration["webhook"] == after_restart.by_integration["webhook"]


def test_no_notification_series_means_nothing_attempted() -> None:
    read = parse_deliveries('alertmanager_build_info{version="0.19.0"} 1\n')
    assert (read.by_integration, read.attempted, read.failing) == ({}, 0, [])


@pytest.mark.parametrize("text", ["", "<html>Sign in</html>", "go_goroutines 12\nup 1\n"])
def test_an_answer_without_alertmanager_metrics_could_not_be_checked(text: str) -> None:
    with pytest.raises(BadResponse, match="serves no alertmanager_\\* metric"):
        parse_deliveries(text, "GET http://am:9093/metrics")
