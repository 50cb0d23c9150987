"""TLS checks against a real TLS server on loopback, with certificates made for each case by a throw-away CA.

One server for the module; a test swaps the certificate it presents (as a renewal deploy would) to go from
healthy to broken and back. No Docker needed: the server is the standard library's, in a thread.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import checks.test_http as http_checks
import checks.test_tls as checks
from healthgate.check import spec_of
from healthgate.targets.base import Timeouts
from healthgate.testing import Outcome, make_target, run_check

ALL_CHECKS = [getattr(checks, name) for name in dir(checks) if spec_of(getattr(checks, name)) is not None]
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)


# ------------------------------------------------------------------------------------------ certificates


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        return cert_path, key_path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "healthgate tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca() -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    cert = (x509.CertificateBuilder()
            .subject_name(_name("healthgate test CA")).issuer_name(_name("healthgate test CA"))
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY).not_valid_after(NOW + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def make_leaf(issuer: Issued | None, *, names: tuple[str, ...] = ("localhost", "127.0.0.1"),
              valid_from: dt.datetime = NOW - DAY, valid_until: dt.datetime = NOW + 90 * DAY) -> Issued:
    """A server certificate signed by ``issuer``, or self-signed when ``issuer`` is None."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    common_name = names[0] if names else "no-san"
    signer_name = issuer.cert.subject if issuer else _name(common_name)
    signer_key = issuer.key if issuer else key
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name)).issuer_name(signer_name)
               .public_key(public).serial_number(x509.random_serial_number())
               .not_valid_before(valid_from).not_valid_after(valid_until)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
                              critical=False))
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return Issued(builder.sign(signer_key, hashes.SHA256()), key)


@dataclass
class Pki:
    ca_file: Path
    contexts: dict[str, ssl.SSLContext]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    ca_file, _ = ca.write(directory, "ca")
    leaves = {
        "valid": make_leaf(ca),
        "expiring_3d": make_leaf(ca, valid_from=NOW - 87 * DAY, valid_until=NOW + 3 * DAY),
        "expiring_20d": make_leaf(ca, valid_from=NOW - 70 * DAY, valid_until=NOW + 20 * DAY),
        "expired": make_leaf(ca, valid_from=NOW - 91 * DAY, valid_until=NOW - DAY),
        "wrong_host": make_leaf(ca, names=("other.example.net",)),
        "self_signed": make_leaf(None),
    }
    contexts = {}
    for name, issued in leaves.items():
        cert_file, key_file = issued.write(directory, name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        contexts[name] = context
    return Pki(ca_file, contexts)


# ------------------------------------------------------------------------------------------ TLS server


class HealthHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "version": "1.4.2"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: handshakes are aborted on purpose
        pass


class TlsServer(ThreadingHTTPServer):
    """HTTPS on loopback presenting a swappable certificate; counts accepted TCP connections.

    The handshake happens in the connection's own thread, so a client that aborts it blocks nobody."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), HealthHandler)
        self.context = context
        self.accepted = 0

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        request, address = super().get_request()
        self.accepted += 1
        return request, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5)
        tls = self.context.wrap_socket(request, server_side=True)
        super().finish_request(tls, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that refuse our certificate abort the handshake: expected here


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[TlsServer]:
    tls_server = TlsServer(pki.contexts["valid"])
    thread = threading.Thread(target=tls_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield tls_server
    finally:
        tls_server.shutdown()
        tls_server.server_close()


@pytest.fixture
def presenting(server: TlsServer, pki: Pki) -> Iterator[Any]:
    """``presenting("expired")`` swaps the served certificate; the valid one is back after the test."""

    def use(name: str) -> None:
        server.context = pki.contexts[name]

    try:
        yield use
    finally:
        use("valid")


def run(check: Any, server: TlsServer, pki: Pki | None = None, **settings: Any) -> Outcome:
    """A fresh target per run, as a new health run would have: the client caches its handshake."""
    if pki is not None:
        settings.setdefault("ca_file", str(pki.ca_file))
    target = make_target("tls", {"host": "127.0.0.1", "port": server.port, "server_name": "localhost", **settings})
    try:
        return run_check(check, target)
    finally:
        target.close()


def outcomes(server: TlsServer, pki: Pki, **settings: Any) -> dict[str, str]:
    return {fn.__name__: run(fn, server, pki, **settings).status for fn in ALL_CHECKS}


HEALTHY = {fn.__name__: "passed" for fn in ALL_CHECKS}


# ------------------------------------------------------------------------------------------ tests


def test_every_check_passes_on_a_valid_certificate(server: TlsServer, pki: Pki) -> None:
    target = make_target("tls", {"host": "127.0.0.1", "port": server.port, "server_name": "localhost",
                                 "ca_file": str(pki.ca_file)})
    try:
        statuses = {fn.__name__: run_check(fn, target).status for fn in ALL_CHECKS}
        assert statuses == HEALTHY
        assert target.connect_attempts == 2, "one reading and one verifying handshake serve every check"
        evidence = dict(run_check(checks.test_certificate_chain, target).record.evidence)
        assert "subject: CN=localhost,O=healthgate tests" in evidence["certificate"]
    finally:
        target.close()


def test_expiring_in_3_days_fails_warning_and_critical_then_renewed(server: TlsServer, pki: Pki,
                                                                     presenting: Any) -> None:
    presenting("expiring_3d")
    critical = run(checks.test_certificate_expiry_critical, server, pki)
    warning = run(checks.test_certificate_expiry_warning, server, pki)
    assert (critical.status, warning.status) == ("failed", "failed")
    assert critical.message.startswith("tls:test: days_left (3 d) >= 7 d — expires on ")
    assert "renew and deploy the certificate" in critical.message
    assert warning.message.startswith("tls:test: days_left (3 d) >= 30 d — expires on ")
    assert run(checks.test_certificate_chain, server, pki).status == "passed"
    presenting("valid")
    assert outcomes(server, pki) == HEALTHY


def test_expiring_in_20_days_fails_only_the_warning(server: TlsServer, pki: Pki, presenting: Any) -> None:
    presenting("expiring_20d")
    assert run(checks.test_certificate_expiry_critical, server, pki).status == "passed"
    warning = run(checks.test_certificate_expiry_warning, server, pki)
    assert warning.status == "failed"
    assert warning.message.startswith("tls:test: days_left (20 d) >= 30 d")
    assert spec_of(checks.test_certificate_expiry_warning).severity == "warning"  # type: ignore[union-attr]
    assert spec_of(checks.test_certificate_expiry_critical).severity == "critical"  # type: ignore[union-attr]


def test_thresholds_come_from_the_profile(server: TlsServer, pki: Pki, presenting: Any) -> None:
    presenting("expiring_20d")
    outcome = run(checks.test_certificate_expiry_critical, server, pki, thresholds={"expiry_critical_days": 21})
    assert outcome.status == "failed"
    assert outcome.message.startswith("tls:test: days_left (20 d) >= 21 d")


def test_expired_certificate_fails_expiry_and_chain(server: TlsServer, pki: Pki, presenting: Any) -> None:
    presenting("expired")
    critical = run(checks.test_certificate_expiry_critical, server, pki)
    assert critical.status == "failed"
    assert critical.message.startswith("tls:test: days_left (-1 d) >= 7 d — expired on ")
    chain = run(checks.test_certificate_chain, server, pki)
    assert chain.status == "failed"
    assert "chain does not verify against ca_file" in chain.message
    assert "certificate has expired" in chain.message
    assert run(checks.test_certificate_hostname, server, pki).status == "passed"
    presenting("valid")
    assert outcomes(server, pki) == HEALTHY


def test_wrong_hostname_fails_only_the_hostname_check(server: TlsServer, pki: Pki, presenting: Any) -> None:
    presenting("wrong_host")
    statuses = outcomes(server, pki)
    assert statuses == {**HEALTHY, "test_certificate_hostname": "failed"}
    outcome = run(checks.test_certificate_hostname, server, pki)
    assert outcome.message.startswith("tls:test: certificate names (other.example.net) do not include 'localhost'")
    # the name that is checked is server_name, not the address connected to
    assert run(checks.test_certificate_hostname, server, pki, server_name="other.example.net").status == "passed"
    presenting("valid")
    assert outcomes(server, pki) == HEALTHY


def test_self_signed_certificate_fails_the_chain(server: TlsServer, pki: Pki, presenting: Any) -> None:
    presenting("self_signed")
    outcome = run(checks.test_certificate_chain, server, pki)
    assert outcome.status == "failed"
    assert outcome.message.startswith(f"tls:test: chain does not verify against ca_file {pki.ca_file}: "
                                      "self-signed certificate")
    assert "(self-signed)" in outcome.message
    assert run(checks.test_certificate_expiry_critical, server, pki).status == "passed"
    presenting("valid")
    assert run(checks.test_certificate_chain, server, pki).status == "passed"


def test_without_ca_file_the_system_store_is_used(server: TlsServer) -> None:
    outcome = run(checks.test_certificate_chain, server)
    assert outcome.status == "failed"
    assert "chain does not verify against the system trust store: unable to get local issuer certificate" \
        in outcome.message


def test_closed_port_is_broken_and_fails_the_other_checks_fast() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = make_target("tls", {"host": "127.0.0.1", "port": port}, timeouts=Timeouts(connect=1, read=1))
    first = run_check(checks.test_certificate_chain, target)
    assert first.status == "broken"
    assert first.message.startswith(f"TCP connect to 127.0.0.1:{port} failed")
    second = run_check(checks.test_certificate_expiry_critical, target)
    assert second.status == "broken"
    assert "found unreachable earlier in this run" in second.message
    assert target.connect_attempts == 1


def test_plain_tcp_port_is_broken_with_a_hint() -> None:
    from healthgate.stack.refapp import serve_in_thread

    url, stop = serve_in_thread()
    try:
        port = int(url.rsplit(":", 1)[1])
        target = make_target("tls", {"host": "127.0.0.1", "port": port})
        outcome = run_check(checks.test_certificate_chain, target)
        others = [run_check(fn, target) for fn in (checks.test_certificate_hostname,
                                                   checks.test_certificate_expiry_critical)]
    finally:
        stop()
    assert outcome.status == "broken"
    assert outcome.message.startswith(f"TLS handshake with 127.0.0.1:{port} failed: ")
    assert "is this a TLS port?" in outcome.message
    assert [o.status for o in others] == ["broken", "broken"]
    assert target.connect_attempts == 1, "a port found not to speak TLS is not asked again"


# ------------------------------------------------------------------------------ HTTP targets over TLS


def test_http_target_without_verification_passes_with_a_warning(server: TlsServer, presenting: Any) -> None:
    presenting("self_signed")
    target = make_target("http", {"url": f"https://127.0.0.1:{server.port}", "verify_tls": False,
                                  "health": {"expect_json": {"status": "ok"}}})
    try:
        outcome = run_check(http_checks.test_health_endpoint, target)
    finally:
        target.close()
    assert outcome.status == "passed"
    assert outcome.record.warnings == [
        f"TLS verification disabled for this target: certificates of https://127.0.0.1:{server.port} are not checked"]


def test_http_target_verifies_against_the_system_store_or_ca_file(server: TlsServer, pki: Pki) -> None:
    url = f"https://localhost:{server.port}"
    untrusted = make_target("http", {"url": url})
    trusted = make_target("http", {"url": url, "ca_file": str(pki.ca_file)})
    try:
        refused = run_check(http_checks.test_health_endpoint, untrusted)
        accepted = run_check(http_checks.test_health_endpoint, trusted)
    finally:
        untrusted.close()
        trusted.close()
    assert refused.status == "broken"
    assert refused.message.startswith(f"GET {url}/health: TLS certificate not trusted")
    assert accepted.status == "passed"
    assert accepted.record.warnings == []
