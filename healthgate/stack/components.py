"""The components of the hermetic stack: what each one runs, its configuration, when it is ready.

A component states only what is unique to it (image, port, configuration, readiness and the
``STACK_*`` variables it contributes); starting, waiting and cleaning up live in
:mod:`healthgate.stack.stack`. Import this module through that one: it sets the environment
testcontainers reads when it is first imported.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template
from typing import Any, ClassVar

import yaml
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy
from testcontainers.core.waiting_utils import WaitStrategy

from healthgate.alerts import RULES_FILE
from healthgate.stack.components_wait import PostgresQuery, PrometheusScraped, RedisPing

CONFIG_DIR = Path(__file__).resolve().parent / "config"
RULE_FILES = ("ai-monitoring.yml", "nightscan.yml")
HEALTHGATE_RULES = "/etc/prometheus/rules/healthgate-rules.yml"
# Where the healthgate job discovers its targets (a file_sd file; empty until a self-test writes one).
HEALTHGATE_TARGETS = "/etc/prometheus/targets/healthgate.json"

POSTGRES_ADMIN_USER = "postgres"
POSTGRES_DB = "app"
MONITOR_USER = "healthgate"  # least-privilege login of the checks, in PostgreSQL and Redis
OPENSEARCH_HEAP = "512m"
OPENSEARCH_SNAPSHOT_DIR = "/usr/share/opensearch/snapshots"


@dataclass(frozen=True)
class Credentials:
    """Per-stack random passwords: hex, so they need no quoting in URLs, SQL or argv."""

    postgres_password: str
    postgres_monitor_password: str
    redis_password: str
    redis_monitor_password: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(*(secrets.token_hex(16) for _ in range(4)))

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class StackContext:
    """What a component may need to know about the stack it is part of."""

    credentials: Credentials
    component_names: frozenset[str]


class Component:
    name: ClassVar[str]
    port: ClassVar[int]
    startup_timeout_s: ClassVar[float] = 60.0
    # Components whose readiness this one waits for before it starts.
    depends_on: ClassVar[tuple[str, ...]] = ()
    ready_path: ClassVar[str] = ""

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        """Environment, command and configuration files; ports and network are the stack's job."""

    def readiness(self, ctx: StackContext) -> WaitStrategy:
        return HttpWaitStrategy(self.port, self.ready_path)

    def describe_wait(self, ctx: StackContext, host: str, host_port: int) -> str:
        strategy = self.readiness(ctx)
        text = getattr(strategy, "description", None)
        if text:
            return f"{text} at {host}:{host_port}"
        return f"HTTP GET http://{host}:{host_port}{self.ready_path} answering 200"

    def env(self, ctx: StackContext, host: str, host_port: int) -> dict[str, str]:
        return {f"STACK_{self.name.upper()}_URL": f"http://{host}:{host_port}"}


class Postgres(Component):
    name = "postgres"
    port = 5432

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        creds = ctx.credentials
        container.with_envs(
            POSTGRES_USER=POSTGRES_ADMIN_USER,
            POSTGRES_PASSWORD=creds.postgres_password,
            POSTGRES_DB=POSTGRES_DB,
        )
        container.with_command(
            ["postgres", "-c", "shared_preload_libraries=pg_stat_statements", "-c", "track_io_timing=on"]
        )
        init_sql = Template((CONFIG_DIR / "postgres-init.sql").read_text()).substitute(
            monitor_user=MONITOR_USER,
            monitor_password=creds.postgres_monitor_password,
            database=POSTGRES_DB,
        )
        container.with_copy_into_container(init_sql.encode(), "/docker-entrypoint-initdb.d/10-healthgate.sql")

    def readiness(self, ctx: StackContext) -> WaitStrategy:
        # The init script creates schema_migrations last: querying it proves initialisation finished
        # and the final server (not the entrypoint's socket-only one) answers on the port.
        return PostgresQuery(
            self.port,
            POSTGRES_ADMIN_USER,
            ctx.credentials.postgres_password,
            POSTGRES_DB,
            query="SELECT 1 FROM schema_migrations",
        )

    def env(self, ctx: StackContext, host: str, host_port: int) -> dict[str, str]:
        creds = ctx.credentials
        base = f"{host}:{host_port}/{POSTGRES_DB}"
        return {
            "STACK_POSTGRES_HOST": host,
            "STACK_POSTGRES_PORT": str(host_port),
            "STACK_POSTGRES_USER": POSTGRES_ADMIN_USER,
            "STACK_POSTGRES_PASSWORD": creds.postgres_password,
            "STACK_POSTGRES_DB": POSTGRES_DB,
            "STACK_POSTGRES_DSN": f"postgresql://{POSTGRES_ADMIN_USER}:{creds.postgres_password}@{base}",
            "STACK_POSTGRES_MONITOR_USER": MONITOR_USER,
            "STACK_POSTGRES_MONITOR_PASSWORD": creds.postgres_monitor_password,
            "STACK_POSTGRES_MONITOR_DSN": f"postgresql://{MONITOR_USER}:{creds.postgres_monitor_password}@{base}",
        }


class Redis(Component):
    name = "redis"
    port = 6379

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        creds = ctx.credentials
        # The ACL user is a server argument rather than a runtime ACL SETUSER, so it survives restarts.
        container.with_command(
            [
                "redis-server",
                "--requirepass", creds.redis_password,
                "--user", MONITOR_USER, "reset", "on", f">{creds.redis_monitor_password}",
                "-@all", "+@read", "-@dangerous", "+info", "+ping", "~*",
            ]
        )  # fmt: skip

    def readiness(self, ctx: StackContext) -> WaitStrategy:
        return RedisPing(self.port, ctx.credentials.redis_password)

    def env(self, ctx: StackContext, host: str, host_port: int) -> dict[str, str]:
        creds = ctx.credentials
        return {
            "STACK_REDIS_HOST": host,
            "STACK_REDIS_PORT": str(host_port),
            "STACK_REDIS_PASSWORD": creds.redis_password,
            "STACK_REDIS_URL": f"redis://:{creds.redis_password}@{host}:{host_port}/0",
            "STACK_REDIS_MONITOR_URL": (f"redis://{MONITOR_USER}:{creds.redis_monitor_password}@{host}:{host_port}/0"),
        }


class OpenSearch(Component):
    name = "opensearch"
    port = 9200
    startup_timeout_s = 180.0
    # 200 only once the cluster is at least yellow; before that the request answers 408.
    ready_path = "/_cluster/health?wait_for_status=yellow&timeout=1s"

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        container.with_envs(
            **{
                "discovery.type": "single-node",
                "path.repo": OPENSEARCH_SNAPSHOT_DIR,
                # A nearly full build disk must not turn the test cluster yellow or red.
                "cluster.routing.allocation.disk.threshold_enabled": "false",
                "OPENSEARCH_JAVA_OPTS": f"-Xms{OPENSEARCH_HEAP} -Xmx{OPENSEARCH_HEAP}",
                # Official image: no security plugin and no demo certificates (they need an admin password).
                "DISABLE_SECURITY_PLUGIN": "true",
                "DISABLE_INSTALL_DEMO_CONFIG": "true",
            }
        )


class Alertmanager(Component):
    name = "alertmanager"
    port = 9093
    ready_path = "/-/ready"

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        container.with_copy_into_container(
            (CONFIG_DIR / "alertmanager.yml").read_bytes(), "/etc/alertmanager/alertmanager.yml"
        )


class Prometheus(Component):
    name = "prometheus"
    port = 9090
    depends_on = ("alertmanager", "refapp")
    ready_path = "/-/ready"

    def readiness(self, ctx: StackContext) -> WaitStrategy:
        return PrometheusScraped(self.port)

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        config = render_prometheus_config(ctx.component_names)
        container.with_copy_into_container(config.encode(), "/etc/prometheus/prometheus.yml")
        for rule_file in RULE_FILES:
            container.with_copy_into_container(
                (CONFIG_DIR / "rules" / rule_file).read_bytes(), f"/etc/prometheus/rules/{rule_file}"
            )
        container.with_copy_into_container(RULES_FILE.read_bytes(), HEALTHGATE_RULES)
        container.with_copy_into_container(b"[]\n", HEALTHGATE_TARGETS)


class RefApp(Component):
    name = "refapp"
    port = 8000
    ready_path = "/health"


COMPONENTS: dict[str, Component] = {
    c.name: c for c in (Postgres(), Redis(), OpenSearch(), Alertmanager(), RefApp(), Prometheus())
}


def render_prometheus_config(component_names: frozenset[str]) -> str:
    """prometheus.yml without the jobs (and alerting) of components the stack does not run; jobs named after no
    component (the healthgate metrics job) stay."""
    config: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "prometheus.yml").read_text())
    config["scrape_configs"] = [job for job in config["scrape_configs"]
                                if job["job_name"] in component_names or job["job_name"] not in COMPONENTS]
    if "alertmanager" not in component_names:
        config.pop("alerting", None)
    return yaml.safe_dump(config, sort_keys=False)


def alert_names() -> dict[str, list[str]]:
    """Alert names per rule group, as the rule files declare them."""
    groups: dict[str, list[str]] = {}
    for rule_file in RULE_FILES:
        document = yaml.safe_load((CONFIG_DIR / "rules" / rule_file).read_text())
        for group in document["groups"]:
            groups[group["name"]] = [rule["alert"] for rule in group["rules"] if "alert" in rule]
    return groups
