"""The only code that talks to a tls target: read-only, with timeouts on every call."""

from __future__ import annotations

import socket
from typing import Any

from healthgate.errors import BadResponse, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Timeouts
from healthgate.targets.tls.facts import Handshake, parse_certificate
from healthgate.targets.tls.settings import Settings


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
