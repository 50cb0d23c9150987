"""What a tls check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class Certificate:
    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    sha256: str

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    def days_left(self, now: dt.datetime | None = None) -> float:
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).total_seconds() / 86400

    def names(self) -> list[str]:
        return [*self.dns_names, *self.ip_addresses]

    def describe(self) -> str:
        return (f"subject: {self.subject}\nissuer: {self.issuer}\nserial: {self.serial}\n"
                f"not before: {self.not_before.isoformat()}\nnot after: {self.not_after.isoformat()}\n"
                f"names: {', '.join(self.names()) or '(no subjectAltName)'}\nsha256: {self.sha256}")


@dataclass(frozen=True)
class Handshake:
    """What the server presented and whether it verifies. ``verify_error`` is OpenSSL's reason, or None."""

    certificate: Certificate
    protocol: str
    cipher: str
    trust: str
    verify_error: str | None

    @property
    def chain_verified(self) -> bool:
        return self.verify_error is None


def parse_certificate(der: bytes) -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_der_x509_certificate(der)
    dns: list[str] = []
    ips: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return Certificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        dns_names=tuple(dns),
        ip_addresses=tuple(ips),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def hostname_matches(name: str, dns_names: tuple[str, ...] | list[str], ip_addresses: tuple[str, ...] | list[str]
                     ) -> bool:
    """RFC 6125 as browsers apply it: subjectAltName only (no common-name fallback), case-insensitive, a
    wildcard only as the whole left-most label and matching exactly one label; an address matches IP entries only.
    """
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(ip) == address for ip in ip_addresses)
    wanted = name.rstrip(".").lower().split(".")
    for pattern in dns_names:
        labels = pattern.rstrip(".").lower().split(".")
        if len(labels) != len(wanted):
            continue
        if labels[0] == "*" and len(labels) > 2:
            if labels[1:] == wanted[1:] and wanted[0]:
                return True
        elif labels == wanted:
            return True
    return False
