"""What a profile may say about a tls target: its address, credentials and thresholds."""

from __future__ import annotations

from pydantic import Field

from healthgate.targets.base import Model, TargetSettings


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
