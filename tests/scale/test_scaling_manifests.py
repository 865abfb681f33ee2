"""deploy/k8s/scaling, checked without a cluster: what it points at exists and means what
docs/scaling.md says (transaction pooling, the pooler setting, CPU autoscaling)."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import yaml

from stockroom.common.server import ServerConfig

SCALING = Path(__file__).parents[2] / "deploy" / "k8s" / "scaling"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SCALING / "kustomization.yaml").read_text())
    return loaded


def resources() -> list[dict[str, Any]]:
    return [d for name in kustomization()["resources"] for d in documents(SCALING / name)]


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in resources() if d["kind"] == "Deployment"}


def test_every_autoscaler_targets_a_deployment_with_a_cpu_request() -> None:
    autoscalers = [d for d in resources() if d["kind"] == "HorizontalPodAutoscaler"]
    assert {a["spec"]["scaleTargetRef"]["name"] for a in autoscalers} == {"inventory", "pricing"}
    for autoscaler in autoscalers:
        target = deployments()[autoscaler["spec"]["scaleTargetRef"]["name"]]
        container = target["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["requests"]["cpu"]
        (metric,) = autoscaler["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert 1 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]


def test_pgbouncer_pools_transactions_in_front_of_the_primary_and_the_replica() -> None:
    (config_map,) = [d for d in resources() if d["kind"] == "ConfigMap"]
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read_string(config_map["data"]["pgbouncer.ini"])
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    hosts = {
        dict(p.split("=", 1) for p in entry.split())["host"] for entry in ini["databases"].values()
    }
    assert hosts == {"postgres-primary", "postgres-replica"}
    service = next(
        d for d in resources() if d["kind"] == "Service" and d["metadata"]["name"] == "pgbouncer"
    )
    assert service["spec"]["ports"][0]["port"] == int(ini["pgbouncer"]["listen_port"])


def test_the_patched_services_read_their_settings_as_the_docs_say() -> None:
    for patch in kustomization()["patches"]:
        (deployment,) = documents(SCALING / patch["path"])
        name = deployment["metadata"]["name"]
        assert name in deployments()
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {
            e["name"]: e.get("value", "postgresql+asyncpg://app@pgbouncer:6432/db")
            for e in container["env"]
        }
        config = ServerConfig.from_env(name, name.upper(), env=env)
        assert config.database_pooler == "transaction"
        assert "statement_cache_size=0" in config.database_url
        assert "statement_cache_size=0" in config.database_replica_url
        assert config.replica_max_lag_s > 0
