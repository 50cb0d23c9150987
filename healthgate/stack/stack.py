"""The hermetic stack: PostgreSQL, Redis, OpenSearch, Prometheus, Alertmanager, the reference app, an
OpenTelemetry Collector and the Prometheus exporters of PostgreSQL, Redis and the host, on one Docker network,
published on loopback only, each waited for through its own protocol.

``Stack`` starts and removes the containers; its fault methods break a component and repair it, so
every check can be proven against a healthy and a broken server. A running stack can be described
as JSON (:meth:`Stack.to_json`) and attached from another process (:meth:`Stack.attach`), which is
how pytest-xdist workers share one set of containers.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, cast

import httpx

if TYPE_CHECKING:
    import redis
    from docker import DockerClient
    from docker.models.containers import Container
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

# testcontainers reads these when first imported: on these machines /.dockerenv would otherwise make
# it look for containers at the bridge gateway, and Ryuk would need a registry to be pulled.
TESTCONTAINERS_ENV_DEFAULTS = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",
    "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
}
# Dependencies first (see each component's depends_on).
ALL_COMPONENTS = (
    "postgres",
    "redis",
    "opensearch",
    "alertmanager",
    "refapp",
    "postgres-exporter",
    "redis-exporter",
    "node-exporter",
    "otelcol",
    "prometheus",
)
STACK_LABEL = "org.healthgate.stack"
COMPONENT_LABEL = "org.healthgate.component"
INJECTED_ALERT_LABEL = "injected_by"
INJECTED_ALERT_VALUE = "healthgate.stack"
DESCRIPTION_FORMAT = 1
LOG_TAIL_LINES = 30
# Each readiness attempt is short so an exited container is noticed between attempts.
READINESS_ATTEMPT_S = 3.0
READINESS_POLL_S = 0.25
STOP_TIMEOUT_S = 10
DOCKER_HINT = "start one with `dockerd &` (as root) or `.ci/setup`"
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class StackError(RuntimeError):
    """The stack could not be started, reached or repaired; the message says what was tried."""


def _components() -> ModuleType:
    for key, value in TESTCONTAINERS_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from testcontainers.core.config import testcontainers_config

    from healthgate.stack import components

    # Someone may have imported testcontainers before the defaults were set.
    testcontainers_config.ryuk_disabled = os.environ["TESTCONTAINERS_RYUK_DISABLED"].lower() == "true"
    testcontainers_config.tc_host_override = os.environ["TESTCONTAINERS_HOST_OVERRIDE"]
    return components


def docker_client() -> DockerClient:
    """A client of the local daemon, or StackError saying how to start one."""
    import docker

    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        raise StackError(f"no Docker daemon reachable at {where} ({exc}): {DOCKER_HINT}") from exc
    return client


@dataclass
class ComponentState:
    """What another process needs to reach a running component."""

    container_id: str
    container_name: str
    image: str
    ports: dict[int, int]  # container port -> host port

    def to_dict(self) -> dict[str, Any]:
        return {
            "container_id": self.container_id,
            "container_name": self.container_name,
            "image": self.image,
            "ports": {str(k): v for k, v in self.ports.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComponentState:
        ports = {int(k): int(v) for k, v in data["ports"].items()}
        return cls(data["container_id"], data["container_name"], data["image"], ports)


@dataclass
class _Handle:
    """A running container seen the way testcontainers' wait strategies expect it."""

    container: Container
    host: str
    ports: dict[int, int]

    def get_container_host_ip(self) -> str:
        return self.host

    def get_exposed_port(self, port: int) -> int:
        return self.ports[port]

    def get_wrapped_container(self) -> Container:
        return self.container

    def get_logs(self) -> tuple[bytes, bytes]:
        return self.container.logs(stderr=False), self.container.logs(stdout=False)

    def reload(self) -> None:
        self.container.reload()

    @property
    def status(self) -> str:
        return str(self.container.status)

    def exec(self, command: str | list[str]) -> Any:
        return self.container.exec_run(command)


class _PortPool:
    """Free loopback ports, never handed out twice by this process.

    Host ports are chosen here rather than by Docker so they stay the same when a component is
    stopped and started again: endpoints handed to other processes remain valid.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._given: set[int] = set()

    def take(self, host: str) -> int:
        with self._lock:
            for _ in range(50):
                with socket.socket() as probe:
                    probe.bind((host, 0))
                    port = int(probe.getsockname()[1])
                if port not in self._given:
                    self._given.add(port)
                    return port
        raise StackError(f"no free port found on {host}")


_PORTS = _PortPool()


@dataclass
class Stack:
    """Containers of the hermetic stack; ``components=None`` means all of them."""

    components: list[str] | None = None
    stack_id: str = field(default_factory=lambda: secrets.token_hex(4))
    host: str = "127.0.0.1"
    owner: bool = True
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = list(ALL_COMPONENTS) if self.components is None else list(self.components)
        unknown = sorted(set(names) - set(ALL_COMPONENTS))
        if unknown:
            raise StackError(f"unknown stack component(s) {unknown}; known: {', '.join(ALL_COMPONENTS)}")
        self.components = [name for name in ALL_COMPONENTS if name in names]
        self._credentials: Any = None
        self._states: dict[str, ComponentState] = {}
        self._containers: dict[str, DockerContainer] = {}
        self._network_name = f"healthgate-{self.stack_id}"
        self._lock = threading.Lock()
        self._client: DockerClient | None = None
        self._network: Network | None = None
        self._abort = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Stack:
        components = _components()
        self._client = docker_client()
        if self._credentials is None:
            self._credentials = components.Credentials.generate()
        started = time.monotonic()
        try:
            self._create_network()
            self._start_all(components)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = round(time.monotonic() - started, 2)
        return self

    def stop(self) -> None:
        """Remove every container and the network of this stack, whatever state they are in.

        A stack attached without ownership is left running: its owner removes it.
        """
        if not self.owner:
            return
        client = self._client or docker_client()
        errors: list[str] = []
        mine = {"label": f"{STACK_LABEL}={self.stack_id}"}
        for container in client.containers.list(all=True, filters=mine):
            try:
                container.remove(force=True, v=True)
            except Exception as exc:
                if "No such container" not in str(exc):
                    errors.append(f"{container.name}: {exc}")
        for network in client.networks.list(names=[self._network_name]):
            try:
                network.remove()
            except Exception as exc:
                errors.append(f"network {self._network_name}: {exc}")
        self._states.clear()
        self._containers.clear()
        if errors:
            raise StackError("could not remove every part of the stack: " + "; ".join(errors))

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _create_network(self) -> None:
        from testcontainers.core.network import Network

        network = Network(docker_network_kw={"labels": {STACK_LABEL: self.stack_id}})
        # A readable name instead of a bare UUID: `docker network ls` tells whose it is.
        network.name = self._network_name
        self._network = network.create()

    def _start_all(self, components: ModuleType) -> None:
        names = cast(list[str], self.components)
        futures: dict[str, Future[None]] = {}
        pool = ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="stack")
        try:
            # ALL_COMPONENTS lists dependencies first, so every dependency already has a future.
            for name in names:
                deps = [futures[d] for d in components.COMPONENTS[name].depends_on if d in futures]
                futures[name] = pool.submit(self._start_component_after, components, name, deps)
            # The first failure stops the others' waits: nobody sits out OpenSearch's timeout
            # to learn that PostgreSQL never started.
            wait(futures.values(), return_when=FIRST_EXCEPTION)
            if any(f.exception() for f in futures.values() if f.done()):
                self._abort.set()
        except BaseException:
            self._abort.set()
            raise
        finally:
            pool.shutdown(wait=True)
        errors = [exc for exc in (f.exception() for f in futures.values()) if exc is not None]
        if errors:
            raise next((e for e in errors if not isinstance(e, _NotStarted)), errors[0])

    def _start_component_after(self, components: ModuleType, name: str, deps: list[Future[None]]) -> None:
        for dep in deps:
            if dep.exception() is not None:
                raise _NotStarted(f"{name} not started: a component it depends on failed")
        began = time.monotonic()
        self._run_container(components, name)
        self._await_ready(components, name)
        self.timings[name] = round(time.monotonic() - began, 2)

    def _run_container(self, components: ModuleType, name: str) -> None:
        from docker.errors import APIError
        from testcontainers.core.container import DockerContainer

        from healthgate.stack.images import ImageError, resolve_image

        component = components.COMPONENTS[name]
        ctx = self._context(components)
        try:
            image = resolve_image(name)
        except ImageError as exc:
            raise StackError(f"{name}: {exc}") from exc
        assert self._client is not None
        if not self._client.images.list(name=image):
            raise StackError(
                f"{name}: image {image} is not on this machine and no registry is reachable here: "
                f"build it with `python -m healthgate.stack.images build {name}`"
            )
        container_name = f"healthgate-{self.stack_id}-{name}"
        last_error: Exception | None = None
        for _ in range(3):
            host_ports = {port: _PORTS.take(self.host) for port in component.ports}
            container = (
                DockerContainer(image)
                .with_name(container_name)
                .with_network(cast("Network", self._network))
                .with_network_aliases(name)
                .with_kwargs(labels={STACK_LABEL: self.stack_id, COMPONENT_LABEL: name})
            )
            # A (host, port) tuple publishes on loopback only; with_bind_ports() cannot.
            for port, host_port in host_ports.items():
                cast(dict[str, Any], container.ports)[f"{port}/tcp"] = (self.host, host_port)
            component.configure(container, ctx)
            with self._lock:
                self._containers[name] = container
            try:
                container.start()
            except APIError as exc:
                last_error = exc
                with suppress(Exception):
                    container.stop()
                if "already allocated" in str(exc) or "address already in use" in str(exc):
                    continue
                raise StackError(f"{name}: Docker refused to start {image}: {exc}") from exc
            wrapped = container.get_wrapped_container()
            state = ComponentState(wrapped.id or "", container_name, image, host_ports)
            with self._lock:
                self._states[name] = state
            return
        raise StackError(f"{name}: no free host port after 3 tries: {last_error}")

    def _context(self, components: ModuleType) -> Any:
        return components.StackContext(self._credentials, frozenset(cast(list[str], self.components)))

    def _handle(self, name: str) -> _Handle:
        state = self._state(name)
        container = self._docker().containers.get(state.container_id)
        return _Handle(container, self.host, state.ports)

    def _await_ready(self, components: ModuleType, name: str, timeout_s: float | None = None) -> None:
        component = components.COMPONENTS[name]
        ctx = self._context(components)
        handle = self._handle(name)
        host_port = handle.ports[component.port]
        wait = component.describe_wait(ctx, self.host, host_port)
        timeout = timeout_s if timeout_s is not None else component.startup_timeout_s
        deadline = time.monotonic() + timeout
        last_error = ""
        while True:
            strategy = component.readiness(ctx)
            strategy.with_startup_timeout(READINESS_ATTEMPT_S).with_poll_interval(READINESS_POLL_S)
            try:
                strategy.wait_until_ready(handle)
                return
            except Exception as exc:  # every failure of a readiness attempt is retried until the deadline
                last_error = str(getattr(strategy, "last_error", "") or exc)
            if self._abort.is_set():
                raise _NotStarted(f"{name}: wait abandoned, another component failed to start")
            handle.reload()
            exited = handle.status in ("exited", "dead")
            if exited or time.monotonic() >= deadline:
                if exited:
                    code = handle.container.attrs.get("State", {}).get("ExitCode")
                    what = f"exited with code {code} before it was ready"
                else:
                    what = f"was not ready within {timeout:.0f} s"
                raise StackError(
                    f"{name} ({handle.container.name}) {what}; waited for: {wait}; last error: {last_error}\n"
                    f"--- last {LOG_TAIL_LINES} log lines of {handle.container.name} ---\n"
                    f"{self._log_tail(handle.container)}"
                )

    @staticmethod
    def _log_tail(container: Container) -> str:
        try:
            return bytes(container.logs(tail=LOG_TAIL_LINES)).decode(errors="replace").rstrip()
        except Exception as exc:
            return f"(logs unavailable: {exc})"

    # ------------------------------------------------------------------ description

    def env(self) -> dict[str, str]:
        """``STACK_*`` variables of the running components (loopback addresses, published ports)."""
        components = _components()
        ctx = self._context(components)
        env: dict[str, str] = {}
        for name, state in self._states.items():
            component = components.COMPONENTS[name]
            env.update(component.env(ctx, self.host, state.ports))
        return dict(sorted(env.items()))

    def to_json(self) -> str:
        """Everything another process needs to use (or, as owner, remove) this stack. Holds secrets."""
        return json.dumps(
            {
                "format": DESCRIPTION_FORMAT,
                "stack_id": self.stack_id,
                "host": self.host,
                "network": self._network_name,
                "components": self.components,
                "credentials": self._credentials.to_dict() if self._credentials else None,
                "running": {name: state.to_dict() for name, state in self._states.items()},
            },
            indent=2,
        )

    @classmethod
    def attach(cls, description: str, *, take_ownership: bool = False) -> Stack:
        """A Stack for containers another process started. Without ownership, stop() leaves them."""
        data = json.loads(description)
        if data.get("format") != DESCRIPTION_FORMAT:
            raise StackError(f"unsupported stack description format {data.get('format')!r}")
        stack = cls(data["components"], stack_id=data["stack_id"], host=data["host"], owner=take_ownership)
        if data.get("credentials"):
            stack._credentials = _components().Credentials(**data["credentials"])
        stack._states = {name: ComponentState.from_dict(s) for name, s in data["running"].items()}
        return stack

    def container(self, name: str) -> DockerContainer:
        """The testcontainers object of a component this process started."""
        self._state(name)
        if name not in self._containers:
            raise StackError(f"{name} was started by another process: use exec()/docker_container() instead")
        return self._containers[name]

    def docker_container(self, name: str) -> Container:
        """The docker SDK object of a component, in any process using the stack."""
        return self._handle(name).container

    def _state(self, name: str) -> ComponentState:
        try:
            return self._states[name]
        except KeyError:
            running = ", ".join(self._states) or "none"
            raise StackError(f"component {name!r} is not running (running: {running})") from None

    def _docker(self) -> DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    # ------------------------------------------------------------------ faults and repairs

    def stop_component(self, name: str) -> None:
        self._handle(name).container.stop(timeout=STOP_TIMEOUT_S)

    def start_component(self, name: str, timeout_s: float | None = None) -> None:
        """Start a stopped component again and wait until it is ready; host ports do not change."""
        handle = self._handle(name)
        handle.container.start()
        handle.reload()
        self._refresh_ports(name, handle.container)
        self._await_ready(_components(), name, timeout_s)

    def pause(self, name: str) -> None:
        """Freeze every process of a component: connections are accepted by the kernel, never answered."""
        self._handle(name).container.pause()

    def unpause(self, name: str) -> None:
        self._handle(name).container.unpause()
        self._await_ready(_components(), name)

    def _refresh_ports(self, name: str, container: Container) -> None:
        bindings = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
        state = self._states[name]
        for port in list(state.ports):
            published = bindings.get(f"{port}/tcp") or []
            if published:
                state.ports[port] = int(published[0]["HostPort"])

    def exec(self, component: str, cmd: str | list[str]) -> tuple[int, str]:
        """Run a command inside a component's container: (exit code, stdout and stderr)."""
        result = self._handle(component).container.exec_run(cmd)
        output = result.output.decode(errors="replace") if isinstance(result.output, bytes) else ""
        return int(result.exit_code or 0), output

    def refapp_fault(self, name: str, value: object = None) -> None:
        """Switch on a fault of the reference app (see its admin API for names and values)."""
        response = httpx.post(
            f"{self.refapp_url()}/admin/fault", json={"name": name, "value": value}, timeout=HTTP_TIMEOUT
        )
        if response.status_code >= 300:
            raise StackError(f"refapp refused fault {name}={value!r}: {response.status_code} {response.text}")

    def refapp_reset(self) -> None:
        response = httpx.delete(f"{self.refapp_url()}/admin/fault", timeout=HTTP_TIMEOUT)
        if response.status_code >= 300:
            raise StackError(f"refapp did not reset its faults: {response.status_code} {response.text}")

    def refapp_url(self) -> str:
        return self._url("refapp")

    def opensearch_url(self) -> str:
        return self._url("opensearch")

    def prometheus_url(self) -> str:
        return self._url("prometheus")

    def alertmanager_url(self) -> str:
        return self._url("alertmanager")

    def otelcol_url(self) -> str:
        """The collector's health_check extension (:13133); its telemetry and OTLP ports are in env()."""
        return self._url("otelcol")

    def _url(self, name: str) -> str:
        return self.env()[f"STACK_{name.upper().replace('-', '_')}_URL"]

    def postgres_admin_dsn(self) -> str:
        self._state("postgres")
        return self.env()["STACK_POSTGRES_DSN"]

    def redis_admin(self) -> redis.Redis:
        """A redis-py client with the admin password; the caller closes it."""
        import redis as redis_lib
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        env = self.env()
        self._state("redis")
        return redis_lib.Redis(
            host=env["STACK_REDIS_HOST"],
            port=int(env["STACK_REDIS_PORT"]),
            password=env["STACK_REDIS_PASSWORD"],
            socket_connect_timeout=3,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def fire_alert(
        self,
        name: str,
        severity: str = "warning",
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Post an alert to Alertmanager (API v2) as Prometheus would; returns its label set."""
        alert_labels = {
            "alertname": name,
            "severity": severity,
            **(labels or {}),
            INJECTED_ALERT_LABEL: INJECTED_ALERT_VALUE,
        }
        self._post_alerts([{"labels": alert_labels, "annotations": annotations or {}, "startsAt": _now()}])
        return alert_labels

    def resolve_alerts(self) -> int:
        """Resolve every active alert that fire_alert posted; returns how many."""
        response = httpx.get(
            f"{self.alertmanager_url()}/api/v2/alerts",
            params={"filter": f'{INJECTED_ALERT_LABEL}="{INJECTED_ALERT_VALUE}"'},
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        ended = _now()
        active = [
            {"labels": alert["labels"], "startsAt": alert["startsAt"], "endsAt": ended} for alert in response.json()
        ]
        if active:
            self._post_alerts(active)
        return len(active)

    def _post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = httpx.post(f"{self.alertmanager_url()}/api/v2/alerts", json=alerts, timeout=HTTP_TIMEOUT)
        if response.status_code >= 300:
            raise StackError(f"Alertmanager refused alerts: {response.status_code} {response.text}")


class _NotStarted(StackError):
    """A component was not started, or not waited for, because another one failed first."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stop_described(description: str) -> None:
    """Remove the stack a JSON description names (used by the process that owns a shared stack)."""
    Stack.attach(description, take_ownership=True).stop()
