"""TLS endpoints: the certificate a server presents, how long it has left, whom it names, and who vouches for it.

Two handshakes per target, once per run: one that accepts any certificate, so an expired or untrusted one can
still be read and reported, and one that verifies the chain against the system store or ``ca_file``. Hostname
matching is judged from the certificate's names, apart from the chain, so each check reports one cause.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from healthgate.errors import BadResponse, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Model, TargetSettings, Timeouts


class TlsThresholds(Model):
    expiry_warning_days: float = Field(30, ge=0, description="warn when fewer days are left (seeds: 30)")
    expiry_critical_days: float = Field(7, ge=0, description="critical when fewer days are left (seeds: 7)")


class Settings(TargetSettings):
    host: str = Field(description="host name or address to connect to")
    port: int = Field(443, ge=1, le=65535)
    server_name: str | None = Field(None, description="name sent as SNI and matched against the certificate "
                                                      "(defaults to host)")
    ca_file: str | None = Field(None, description="CA bundle to verify against instead of the system store")
    thresholds: TlsThresholds = TlsThresholds()

    @property
    def expected_name(self) -> str:
        return self.server_name or self.host

    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


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


class Client(BaseClient):
    def __init__(self, settings: Settings, timeouts: Timeouts) -> None:
        super().__init__(settings, timeouts)
        self._handshake: Handshake | None = None
        self._refused: BadResponse | None = None

    def _connect(self, context: Any) -> Any:
        import ssl

        settings = self.settings
        self.connect_attempts += 1
        try:
            raw = socket.create_connection((settings.host, settings.port), timeout=self.timeouts.connect)
        except TimeoutError:
            raise Unreachable(f"TCP connect to {settings.address()} timed out after {self.timeouts.connect:.1f}s",
                              hint="is the port open from here (firewall, load balancer)?") from None
        except OSError as exc:
            raise Unreachable(f"TCP connect to {settings.address()} failed: {exc}",
                              hint="is the service up, and host and port right?") from None
        raw.settimeout(self.timeouts.read)
        try:
            return context.wrap_socket(raw, server_hostname=settings.expected_name)
        except ssl.SSLCertVerificationError:
            raw.close()
            raise
        except ssl.SSLError as exc:
            raw.close()
            raise BadResponse(f"TLS handshake with {settings.address()} failed: {exc.reason or exc}",
                              hint="is this a TLS port? (a plain-HTTP port answers 'wrong version number')") from None
        except TimeoutError:
            raw.close()
            raise Unreachable(f"TLS handshake with {settings.address()} got no answer within "
                              f"{self.timeouts.read:.1f}s", hint="is this a TLS port?") from None
        except OSError as exc:
            raw.close()
            raise Unreachable(f"TLS handshake with {settings.address()} failed: {exc}",
                              hint="the server closed the connection: does it serve this server_name?") from None

    def handshake(self) -> Handshake:
        """The presented certificate and the chain verdict, observed once per client."""
        if self._handshake is not None:
            return self._handshake
        if self._refused is not None:
            raise self._refused  # a port that is not TLS stays so: the other checks need not ask again
        try:
            self._handshake = self._observe()
        except BadResponse as exc:
            self._refused = exc
            raise
        return self._handshake

    def _observe(self) -> Handshake:
        import ssl

        accept_any = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        accept_any.check_hostname = False
        accept_any.verify_mode = ssl.CERT_NONE
        with self._connect(accept_any) as tls:
            der = tls.getpeercert(binary_form=True)
            protocol, cipher = tls.version() or "?", (tls.cipher() or ("?",))[0]
        if not der:
            raise BadResponse(f"{self.settings.address()} presented no certificate")

        verifying = ssl.create_default_context(cafile=self.settings.ca_file)
        verifying.check_hostname = False  # judged separately from the names, see hostname_matches
        trust = f"ca_file {self.settings.ca_file}" if self.settings.ca_file else "the system trust store"
        verify_error: str | None = None
        try:
            with self._connect(verifying):
                pass
        except ssl.SSLCertVerificationError as exc:
            verify_error = str(exc.verify_message or exc.reason or exc)
        return Handshake(parse_certificate(der), protocol, cipher, trust, verify_error)

    def close(self) -> None:
        self._handshake = None
        self._refused = None
