"""TLS endpoints: certificate expiry, hostname and chain.

Expiry is two checks, not one whose severity depends on what it saw: severity is a fixed property of a check in
healthgate (the gate, ``--gate``, per-check profile overrides and report labels all key on it), so a certificate
with 20 days left fails the warning check only and a deploy still goes through, while one with 3 days left fails
both and blocks. Every check needs nothing but a TCP connection to the port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthgate.check import ALL, DAILY, PRE, check
from healthgate.expect import evidence, expect, fail

if TYPE_CHECKING:
    from healthgate.targets.tls import TlsTarget


def _observe(tls):
    handshake = tls.client.handshake()
    evidence("certificate", f"{tls.settings.address()} ({handshake.protocol}, {handshake.cipher})\n"
                            f"{handshake.certificate.describe()}")
    return handshake


def _expiry(tls, days):
    __tracebackhide__ = True
    cert = _observe(tls).certificate
    left = cert.days_left()
    when = cert.not_after.strftime("%Y-%m-%d %H:%M UTC")
    state = f"expired on {when}" if left < 0 else f"expires on {when}"
    expect(tls, "days_left", round(left, 1), ">=", days, unit="d",
           hint=f"{state} ({cert.subject}, issuer {cert.issuer}): renew and deploy the certificate")


@check(phases=(PRE, DAILY), severity="warning", runbook="certificate-expiry-warning")
def test_certificate_expiry_warning(tls: TlsTarget):
    """The certificate has at least ``expiry_warning_days`` days left (seeds: renew before 30 days)."""
    _expiry(tls, tls.thresholds.expiry_warning_days)


@check(phases=ALL, severity="critical", runbook="certificate-expiry-critical")
def test_certificate_expiry_critical(tls: TlsTarget):
    """The certificate has at least ``expiry_critical_days`` days left (seeds: critical below 7 days)."""
    _expiry(tls, tls.thresholds.expiry_critical_days)


@check(phases=ALL, severity="critical", runbook="certificate-hostname")
def test_certificate_hostname(tls: TlsTarget):
    """The certificate names the host clients use (``server_name``, else ``host``) in its subjectAltName."""
    cert = _observe(tls).certificate
    name = tls.settings.expected_name
    if not cert.names():
        fail(tls, f"certificate has no subjectAltName ({cert.subject}): clients no longer accept the common "
                  f"name, so no client can verify {name!r} — reissue it with the name as a SAN")
    from healthgate.targets.tls.facts import hostname_matches

    if not hostname_matches(name, cert.dns_names, cert.ip_addresses):
        names = ", ".join(cert.names())
        fail(tls, f"certificate names ({names}) do not include {name!r} — the wrong certificate is deployed on "
                  "this endpoint, or SNI picks another virtual host's certificate")


@check(phases=ALL, severity="critical", runbook="certificate-chain")
def test_certificate_chain(tls: TlsTarget):
    """The certificate chain verifies against the system trust store, or ``ca_file`` when set."""
    handshake = _observe(tls)
    if not handshake.chain_verified:
        cert = handshake.certificate
        self_signed = " (self-signed)" if cert.self_signed else ""
        fail(tls, f"chain does not verify against {handshake.trust}: {handshake.verify_error} — issuer "
                  f"{cert.issuer}{self_signed}; serve the full chain (leaf + intermediates) signed by a trusted CA")
