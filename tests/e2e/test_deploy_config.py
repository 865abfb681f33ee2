"""deploy/compose.yaml and the image, checked without a Docker engine: the services it runs,
the settings it gives them (each one a setting the code reads), the ports, the start order,
restart policies, the Compose Specification's schema, and the health check, run for real
against a service. The Kubernetes manifests: tests/e2e/test_deploy_kubernetes.py."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
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

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
TOOLS = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def settings_read_by(prefix: str) -> set[str]:
    """Every <PREFIX>_* variable the service's code reads (its events settings included;
    the service's name is given, not read)."""
    names = {
        f"{prefix}_{f.name.upper()}"
        for f in dataclasses.fields(ServerConfig)
        if f.name != "service_name"
    }
    own = PricingSettings if prefix == "PRICING" else InventorySettings
    for setting in dataclasses.fields(own):
        if setting.name == "server":
            continue
        if setting.name == "events":
            names |= {
                f"{prefix}_EVENTS_{f.name.upper()}"
                for f in dataclasses.fields(EventsConfig)
                if f.name != "service"
            }
        else:
            names.add(f"{prefix}_{setting.name.upper()}")
    return names


@pytest.mark.parametrize("prefix", ["INVENTORY", "PRICING"])
def test_the_configuration_page_names_every_setting(prefix: str) -> None:
    """docs/configuration.md lists each variable: by its name, or the common ones as <P>_..."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [
        name
        for name in sorted(settings_read_by(prefix))
        if f"`{name}`" not in page and f"`<P>{name.removeprefix(prefix)}`" not in page
    ]

    assert missing == []


def test_compose_runs_postgres_jaeger_prometheus_and_both_services(compose: dict[str, Any]) -> None:
    services = compose["services"]

    assert set(services) == {"postgres", "jaeger", "prometheus", "inventory", "pricing"}
    # Jaeger v2 (the v1 all-in-one image is end of life); OTLP is on by default.
    assert re.fullmatch(r"jaegertracing/jaeger:2\.\d+\.\d+", services["jaeger"]["image"])
    for name in ("inventory", "pricing"):
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
        assert build["args"]["SERVICE"] == name
        assert build["target"] == name
        assert services[name]["cap_drop"] == ["ALL"]
        assert services[name]["read_only"] is True
    for name, definition in services.items():
        assert definition["restart"] == "unless-stopped", name


def test_compose_file_follows_the_compose_specification() -> None:
    """The Compose Specification's JSON schema, as check-jsonschema vendors it (offline)."""
    result = subprocess.run(
        [TOOLS / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_pinned_non_root_and_exposes_each_services_ports() -> None:
    dockerfile = DOCKERFILE.read_text()
    (base,) = re.findall(r"^ARG BASE=(\S+)$", dockerfile, re.M)
    stages = {
        stage: image for image, stage in re.findall(r"^FROM (\S+) AS (\w+)$", dockerfile, re.M)
    }
    exposed = {
        stage: body
        for stage, body in re.findall(
            r"^FROM runtime AS (\w+)\n(.*?)(?=^FROM |\Z)", dockerfile, re.M | re.S
        )
    }

    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base)
    assert stages["build"] == stages["runtime"] == "${BASE}"
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    assert re.search(
        r'^HEALTHCHECK .*\n\s+CMD \["python", "/opt/stockroom/healthcheck.py"\]', dockerfile, re.M
    )
    assert set(exposed) == {"inventory", "pricing"}
    for name, body in exposed.items():
        env = dict(re.findall(r"(\w+)=(\S+)", re.search(r"^ENV (.*)$", body, re.M)[1]))  # type: ignore[index]
        config = ServerConfig.from_env(name, name.upper(), env=env)
        assert re.search(rf"^EXPOSE {config.port} 9464$", body, re.M), name
        assert config.host == "0.0.0.0"


def test_the_build_context_leaves_out_local_state_but_keeps_what_the_image_copies() -> None:
    ignored = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and line[0] != "#"
    ]
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.M)

    for private in (".git", ".venv", "var", "**/__pycache__", "*.db", ".ci"):
        assert private in ignored
    for sources in copied:
        for source in sources.split():
            path = source.replace("${SERVICE}", "inventory")
            assert (ROOT / path).exists(), path
            top = path.split("/")[0]
            assert top not in ignored or f"!{path}" in ignored, path


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
    # The image carries deploy/healthcheck.py at /opt/stockroom/healthcheck.py.
    assert command == ["python", "/opt/stockroom/healthcheck.py"]
    port = unused_tcp_port_factory()  # type: ignore[operator]
    probe_env = {**os.environ, "SERVICE": "inventory", "INVENTORY_PORT": str(port)}

    async def probe() -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            HEALTHCHECK,
            env=probe_env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await process.wait()

    database = f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}"
    async with service("inventory", port, {"INVENTORY_DATABASE_URL": database}, tmp_path):
        healthy = await probe()
    stopped = await probe()

    assert healthy == 0
    assert stopped != 0
