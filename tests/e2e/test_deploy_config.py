"""deploy/compose.yaml, checked without a Docker engine: the services it runs, the settings
it gives them (each one a setting the code reads), the ports, the start order, and the
health check, run for real against a service."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockroom.common.events import EventsConfig
from stockroom.common.server import ServerConfig
from stockroom.inventory.app import InventorySettings
from stockroom.pricing.app import PricingSettings

from .conftest import service

COMPOSE = Path(__file__).parents[2] / "deploy" / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def settings_read_by(prefix: str) -> set[str]:
    """Every <PREFIX>_* variable the service's code reads."""
    names = {f"{prefix}_{f.name.upper()}" for f in dataclasses.fields(ServerConfig)}
    own = PricingSettings if prefix == "PRICING" else InventorySettings
    names |= {f"{prefix}_{f.name.upper()}" for f in dataclasses.fields(own) if f.name != "server"}
    return names


def test_compose_runs_postgres_jaeger_prometheus_and_both_services(compose: dict[str, Any]) -> None:
    services = compose["services"]

    assert set(services) == {"postgres", "jaeger", "prometheus", "inventory", "pricing"}
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one:")
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    for name in ("inventory", "pricing"):
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
        assert build["args"]["SERVICE"] == name


@pytest.mark.parametrize("name", ["inventory", "pricing"])
def test_each_service_is_configured_only_by_settings_its_code_reads(
    compose: dict[str, Any], name: str
) -> None:
    prefix = name.upper()
    env = {key: str(value) for key, value in compose["services"][name]["environment"].items()}
    own = {key for key in env if not key.startswith("OTEL_")}

    assert own <= settings_read_by(prefix)
    config = ServerConfig.from_env(name, prefix, env=env)  # the values parse
    assert config.host == "0.0.0.0"
    assert config.database_url.startswith("postgresql+asyncpg://")
    assert config.database_url.endswith(f"@postgres:5432/{name}")
    assert f"{config.port}:{config.port}" in compose["services"][name]["ports"]
    assert config.prometheus_port > 0
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"


def test_services_start_after_what_they_need_and_prometheus_scrapes_them(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    prometheus = yaml.safe_load((COMPOSE.parent / "prometheus" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    (targets,) = [c["targets"] for c in job["static_configs"]]

    assert services["inventory"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["pricing"]["depends_on"]["inventory"]["condition"] == "service_healthy"
    assert services["pricing"]["environment"]["PRICING_INVENTORY_TARGET"] == "inventory:50051"
    for name in ("inventory", "pricing"):
        port = services[name]["environment"][f"{name.upper()}_PROMETHEUS_PORT"]
        assert f"{name}:{port}" in targets


@pytest.mark.slow
async def test_the_compose_health_check_passes_against_a_serving_service_and_fails_without_one(
    compose: dict[str, Any], tmp_path: Path, unused_tcp_port_factory: pytest.FixtureDef[int]
) -> None:
    kind, *command = compose["services"]["inventory"]["healthcheck"]["test"]
    assert kind == "CMD"
    assert command[0] == "python"
    port = unused_tcp_port_factory()  # type: ignore[operator]
    probe_env = {**os.environ, "SERVICE": "inventory", "INVENTORY_PORT": str(port)}

    async def probe() -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command[1:], env=probe_env, stderr=asyncio.subprocess.DEVNULL
        )
        return await process.wait()

    database = f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}"
    async with service("inventory", port, {"INVENTORY_DATABASE_URL": database}, tmp_path):
        healthy = await probe()
    stopped = await probe()

    assert healthy == 0
    assert stopped != 0


@pytest.mark.parametrize("name", ["inventory", "pricing"])
def test_the_kubernetes_manifests_migrate_once_probe_health_and_configure_by_env(name: str) -> None:
    manifest = COMPOSE.parent / "k8s" / f"{name}.yaml"
    documents = {d["kind"]: d for d in yaml.safe_load_all(manifest.read_text())}
    job, deployment, k8s_service = documents["Job"], documents["Deployment"], documents["Service"]
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    prefix = name.upper()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    assert migrate["args"] == ["python", "-m", f"stockroom.{name}", "migrate"]
    assert container["args"] == ["python", "-m", f"stockroom.{name}", "serve", "--no-migrate"]
    own = {k for k in env if not k.startswith(("OTEL_", "POD_"))}
    assert own <= settings_read_by(prefix)
    assert ports["grpc"] == int(env[f"{prefix}_PORT"])
    assert ports["metrics"] == int(env[f"{prefix}_PROMETHEUS_PORT"])
    assert container["readinessProbe"]["grpc"]["port"] == ports["grpc"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    )
    assert k8s_service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert {p["targetPort"] for p in k8s_service["spec"]["ports"]} <= set(ports)
    # Drain plus the bounded telemetry flush fit in the grace period.
    assert pod["spec"]["terminationGracePeriodSeconds"] >= ServerConfig.drain_grace_s + 5


@pytest.mark.parametrize("settings", [InventorySettings, PricingSettings])
def test_every_setting_is_documented(settings: type[InventorySettings | PricingSettings]) -> None:
    documented = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    prefix = settings.__name__.removesuffix("Settings").upper()
    common = {f"<P>_{f.name.upper()}" for f in dataclasses.fields(ServerConfig)}
    # Event settings (a nested EventsConfig) are <P>_EVENTS_<FIELD> variables.
    common |= {f"<P>_EVENTS_{f.name.upper()}" for f in dataclasses.fields(EventsConfig)}
    own = {f"{prefix}_{f.name.upper()}" for f in dataclasses.fields(settings) if f.name != "events"}

    missing = {name for name in common | own if f"{name}`" not in documented}

    # Set by code, not by variables.
    assert missing == {"<P>_SERVICE_NAME", "<P>_EVENTS_SERVICE", f"{prefix}_SERVER"}
