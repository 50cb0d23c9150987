"""The components of the hermetic stack: what each one runs, its configuration, when it is ready.

A component states only what is unique to it (image, port, configuration, readiness and the
``STACK_*`` variables it contributes); starting, waiting and cleaning up live in
:mod:`healthgate.stack.stack`. Import this module through that one: it sets the environment
testcontainers reads when it is first imported.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from string import Template
from typing import Any, ClassVar

import yaml
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy
from testcontainers.core.waiting_utils import WaitStrategy

from healthgate.alerts import RULES_FILE
from healthgate.stack.components_wait import MetricsSeries, PostgresQuery, PrometheusScraped, RedisPing

CONFIG_DIR = Path(__file__).resolve().parent / "config"
RULE_FILES = ("ai-monitoring.yml", "nightscan.yml")
HEALTHGATE_RULES = "/etc/prometheus/rules/healthgate-rules.yml"
# Where the healthgate job discovers its targets (a file_sd file; empty until a self-test writes one).
HEALTHGATE_TARGETS = "/etc/prometheus/targets/healthgate.json"

POSTGRES_ADMIN_USER = "postgres"
POSTGRES_DB = "app"
MONITOR_USER = "healthgate"  # least-privilege login of the checks, in PostgreSQL and Redis
# postgres_exporter's own login: pg_monitor and CONNECT, not even the SELECT on tables the checks' login has.
POSTGRES_EXPORTER_USER = "postgres_exporter"
# redis_exporter's own ACL user, as read-only as the checks' one: a login per consumer, so Redis's ACL LOG tells
# the exporter's refused commands (LATENCY LATEST, SLOWLOG GET) from the checks'.
REDIS_EXPORTER_USER = "redis_exporter"
REDIS_READ_ONLY_ACL = ("-@all", "+@read", "-@dangerous", "+info", "+ping", "~*")
# A small filesystem on the node-exporter container standing for NightScan's backup volume (/opt/backups): the
# self-tests fill it to prove the disk expectation against node_exporter's real node_filesystem_* series.
NODE_DATA_MOUNT = "/opt/backups"
NODE_DATA_SIZE = "16m"
# OTLP as the OpenTelemetry SDKs configure it (environment variables of the specification); the reference app
# reads the same names. Intervals of 2 s, like the stack's scrape interval, so telemetry shows within seconds.
# The AI runbook looks its traces up with service=ai-lab-app: the app plays that service.
OTLP_SERVICE_NAME = "ai-lab-app"
OTLP_EXPORT_INTERVAL_MS = "2000"
OPENSEARCH_HEAP = "512m"
OPENSEARCH_SNAPSHOT_DIR = "/usr/share/opensearch/snapshots"


@dataclass(frozen=True)
class Credentials:
    """Per-stack random passwords: hex, so they need no quoting in URLs, SQL or argv."""

    postgres_password: str
    postgres_monitor_password: str
    redis_password: str
    redis_monitor_password: str
    postgres_exporter_password: str
    redis_exporter_password: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(*(secrets.token_hex(16) for _ in fields(cls)))

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class StackContext:
    """What a component may need to know about the stack it is part of."""

    credentials: Credentials
    component_names: frozenset[str]


class Component:
    name: ClassVar[str]
    port: ClassVar[int]  # the one readiness is judged on
    # More ports published on loopback (a collector's OTLP and telemetry ports beside its health port).
    extra_ports: ClassVar[tuple[int, ...]] = ()
    startup_timeout_s: ClassVar[float] = 60.0
    # Components whose readiness this one waits for before it starts.
    depends_on: ClassVar[tuple[str, ...]] = ()
    ready_path: ClassVar[str] = ""

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, *self.extra_ports)

    @property
    def env_prefix(self) -> str:
        return "STACK_" + self.name.upper().replace("-", "_")

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

    def env(self, ctx: StackContext, host: str, ports: Mapping[int, int]) -> dict[str, str]:
        """``STACK_*`` variables; ``ports`` maps each container port to its host port."""
        return {f"{self.env_prefix}_URL": f"http://{host}:{ports[self.port]}"}


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
            exporter_user=POSTGRES_EXPORTER_USER,
            exporter_password=creds.postgres_exporter_password,
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

    def env(self, ctx: StackContext, host: str, ports: Mapping[int, int]) -> dict[str, str]:
        creds = ctx.credentials
        host_port = ports[self.port]
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
        # The ACL users are server arguments rather than runtime ACL SETUSERs, so they survive restarts.
        container.with_command(
            [
                "redis-server",
                "--requirepass", creds.redis_password,
                "--user", MONITOR_USER, "reset", "on", f">{creds.redis_monitor_password}", *REDIS_READ_ONLY_ACL,
                "--user", REDIS_EXPORTER_USER, "reset", "on", f">{creds.redis_exporter_password}",
                *REDIS_READ_ONLY_ACL,
            ]
        )  # fmt: skip

    def readiness(self, ctx: StackContext) -> WaitStrategy:
        return RedisPing(self.port, ctx.credentials.redis_password)

    def env(self, ctx: StackContext, host: str, ports: Mapping[int, int]) -> dict[str, str]:
        creds = ctx.credentials
        host_port = ports[self.port]
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


# Everything Prometheus scrapes starts before it, so no job has a failed first scrape (`up` 0) to count
# against the uptime figures.
SCRAPED = ("alertmanager", "refapp", "postgres-exporter", "redis-exporter", "node-exporter")


class Prometheus(Component):
    name = "prometheus"
    port = 9090
    depends_on = (*SCRAPED, "otelcol")
    ready_path = "/-/ready"

    def readiness(self, ctx: StackContext) -> WaitStrategy:
        # The jobs of the stack's components; the healthgate job has no target until a self-test writes one.
        config = yaml.safe_load(render_prometheus_config(ctx.component_names))
        jobs = tuple(job["job_name"] for job in config["scrape_configs"] if job["job_name"] in ctx.component_names)
        return PrometheusScraped(self.port, jobs)

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        # Both images' default arguments, plus the remote-write receiver the collector sends metrics to.
        container.with_command(
            [
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                "--web.console.libraries=/usr/share/prometheus/console_libraries",
                "--web.console.templates=/usr/share/prometheus/consoles",
                "--web.enable-remote-write-receiver",
            ]
        )
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

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        if "otelcol" not in ctx.component_names:
            return  # without a collector the app sends no telemetry, as an SDK without an endpoint would
        container.with_envs(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://otelcol:{OtelCollector.OTLP_HTTP_PORT}",
            OTEL_SERVICE_NAME=OTLP_SERVICE_NAME,
            OTEL_METRIC_EXPORT_INTERVAL=OTLP_EXPORT_INTERVAL_MS,
            OTEL_BSP_SCHEDULE_DELAY=OTLP_EXPORT_INTERVAL_MS,
        )


class PostgresExporter(Component):
    """postgres_exporter through its own pg_monitor login (postgres-init.sql)."""

    name = "postgres-exporter"
    port = 9187
    depends_on = ("postgres",)
    ready_path = "/metrics"

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        password = ctx.credentials.postgres_exporter_password
        container.with_env(
            "DATA_SOURCE_NAME",
            f"postgresql://{POSTGRES_EXPORTER_USER}:{password}@postgres:{Postgres.port}/{POSTGRES_DB}?sslmode=disable",
        )

    def readiness(self, ctx: StackContext) -> WaitStrategy:
        # Ready once it reaches the database: a running exporter with `pg_up 0` would feed Prometheus nothing.
        if "postgres" in ctx.component_names:
            return MetricsSeries(self.port, "pg_up", 1.0)
        return super().readiness(ctx)


class RedisExporter(Component):
    """redis_exporter through its own read-only ACL user (+@read +info +ping, nothing that writes)."""

    name = "redis-exporter"
    port = 9121
    depends_on = ("redis",)
    ready_path = "/metrics"

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        container.with_envs(
            REDIS_ADDR=f"redis://redis:{Redis.port}",
            REDIS_USER=REDIS_EXPORTER_USER,
            REDIS_PASSWORD=ctx.credentials.redis_exporter_password,
            # CLIENT SETNAME is refused to a read-only user: without this, an error line at every scrape.
            REDIS_EXPORTER_SET_CLIENT_NAME="false",
        )

    def readiness(self, ctx: StackContext) -> WaitStrategy:
        if "redis" in ctx.component_names:
            return MetricsSeries(self.port, "redis_up", 1.0)
        return super().readiness(ctx)


class NodeExporter(Component):
    """node_exporter in a container: memory as the host's kernel reports it (/proc/meminfo is not namespaced);
    filesystems as the container sees them: its root (on the host's Docker disk) and a small data volume."""

    name = "node-exporter"
    port = 9100
    ready_path = "/metrics"

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        # Docker's tmpfs options as such: testcontainers' with_tmpfs_mount(path, size) passes "16m" where Docker
        # wants "size=16m".
        container.tmpfs[NODE_DATA_MOUNT] = f"size={NODE_DATA_SIZE}"
        container.with_command(
            [
                # The default list minus overlay: a container's root is an overlay on the host's Docker disk,
                # the filesystem that fills up, and what this exporter is here to show.
                "--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs"
                "|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|proc|procfs|pstore|rpc_pipefs"
                "|securityfs|selinuxfs|squashfs|sysfs|tracefs)$",
                # Docker's bind mounts of single files are not filesystems of the host.
                r"--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|etc/(hosts|hostname|resolv\.conf))($|/)",
                # Debian enables the systemd collector, which fails at every scrape in a container without D-Bus.
                "--no-collector.systemd",
            ]
        )

    def readiness(self, ctx: StackContext) -> WaitStrategy:
        return MetricsSeries(self.port, "node_filesystem_size_bytes", None, labels={"mountpoint": NODE_DATA_MOUNT})


class OtelCollector(Component):
    """The OpenTelemetry Collector built offline (dockerfiles/otelcol): OTLP in; metrics, and spans as span
    metrics, out to Prometheus by remote write; its own telemetry on :8888 for Prometheus to scrape."""

    name = "otelcol"
    port = 13133  # health_check extension: readiness, and the otelcol preset's endpoint
    TELEMETRY_PORT = 8888
    OTLP_HTTP_PORT = 4318
    extra_ports = (TELEMETRY_PORT, OTLP_HTTP_PORT)
    ready_path = "/"
    # It starts last before Prometheus, which it writes to: its first remote writes then wait seconds for
    # Prometheus, well inside its retry budget, rather than the whole start of the stack (they would count as
    # failed exports for as long as it runs).
    depends_on = SCRAPED

    def configure(self, container: DockerContainer, ctx: StackContext) -> None:
        container.with_copy_into_container(
            (CONFIG_DIR / "otelcol.yaml").read_bytes(), "/etc/otelcol-contrib/config.yaml"
        )

    def env(self, ctx: StackContext, host: str, ports: Mapping[int, int]) -> dict[str, str]:
        return {
            "STACK_OTELCOL_URL": f"http://{host}:{ports[self.port]}",
            "STACK_OTELCOL_METRICS_URL": f"http://{host}:{ports[self.TELEMETRY_PORT]}/metrics",
            "STACK_OTELCOL_OTLP_URL": f"http://{host}:{ports[self.OTLP_HTTP_PORT]}",
        }


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Postgres(),
        Redis(),
        OpenSearch(),
        Alertmanager(),
        RefApp(),
        PostgresExporter(),
        RedisExporter(),
        NodeExporter(),
        OtelCollector(),
        Prometheus(),
    )
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
