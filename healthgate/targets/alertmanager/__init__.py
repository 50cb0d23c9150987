"""Alertmanager: healthy and ready, and the alerts firing now (a deployment must not start during an incident).

The client reads ``/-/healthy``, ``/-/ready``, ``/api/v2/alerts`` and ``/api/v2/silences``; sorting alerts into
blocking, silenced and inhibited is done by pure functions, tested from recorded API payloads.
"""
