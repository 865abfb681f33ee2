"""deploy/k8s, checked offline: the Kubernetes API schemas (kubernetes-validate --strict),
the "restricted" Pod Security Standard, rollouts that lose no calls (PDB, spread, preStop
within the grace period, liveness apart from readiness), migrations tied to the release,
traffic allowed only where it must flow, and the ServiceMonitor's schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockroom.common.server import LIVENESS_SERVICE, ServerConfig

from .test_deploy_config import settings_read_by

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "k8s"
TOOLS = Path(sys.executable).parent
SERVICES = ["inventory", "pricing"]
# preStop waits this long so endpoints stop routing to the pod before it drains.
PRESTOP_S = 5
# The telemetry flush after the drain is bounded by this (stockroom.common.telemetry.sdk).
FLUSH_S = 5


def documents(path: Path) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(path.read_text())}


def pod_specs(path: Path) -> list[dict[str, Any]]:
    specs = []
    for document in yaml.safe_load_all(path.read_text()):
        template = document.get("spec", {}).get("template") or (
            document.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template")
        )
        if template:
            specs.append(template["spec"])
    return specs


def test_every_manifest_passes_the_kubernetes_api_schemas_strictly() -> None:
    manifests = sorted(p for p in K8S.glob("*.yaml") if p.name != "monitoring.yaml")
    result = subprocess.run(
        [TOOLS / "kubernetes-validate", "--strict", "--quiet", *manifests],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(manifests) >= 3


def test_the_service_monitor_matches_its_crd_schema() -> None:
    result = subprocess.run(
        [
            TOOLS / "check-jsonschema",
            "--schemafile",
            ROOT / "deploy" / "schemas" / "servicemonitor.json",
            K8S / "monitoring.yaml",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    monitor = yaml.safe_load((K8S / "monitoring.yaml").read_text())

    assert result.returncode == 0, result.stdout + result.stderr
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    for name in SERVICES:
        service = documents(K8S / f"{name}.yaml")["Service"]
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= service["metadata"]["labels"].items()
        )
        assert "metrics" in {p["name"] for p in service["spec"]["ports"]}


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_every_pod_meets_the_restricted_pod_security_standard(path: Path) -> None:
    for spec in pod_specs(path):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert context["readOnlyRootFilesystem"] is True
            assert "hostPath" not in str(spec.get("volumes", []))


@pytest.mark.parametrize("name", SERVICES)
def test_the_deployment_migrates_once_per_release_probes_health_and_configures_by_env(
    name: str,
) -> None:
    manifest = documents(K8S / f"{name}.yaml")
    job, deployment, k8s_service = manifest["Job"], manifest["Deployment"], manifest["Service"]
    version = deployment["metadata"]["labels"]["app.kubernetes.io/version"]
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    prefix = name.upper()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    # One Job per release: its name, labels and image carry the version; nothing is :latest.
    assert job["metadata"]["name"] == f"{name}-migrate-{version.replace('.', '-')}"
    assert job["metadata"]["labels"]["app.kubernetes.io/version"] == version
    assert migrate["image"] == container["image"] == f"stockroom-{name}:{version}"
    assert ":latest" not in (K8S / f"{name}.yaml").read_text()
    assert migrate["args"] == ["python", "-m", f"stockroom.{name}", "migrate"]
    assert container["args"] == ["python", "-m", f"stockroom.{name}", "serve", "--no-migrate"]
    own = {k for k in env if not k.startswith(("OTEL_", "POD_"))}
    assert own <= settings_read_by(prefix)
    assert ports["grpc"] == int(env[f"{prefix}_PORT"])
    assert ports["metrics"] == int(env[f"{prefix}_PROMETHEUS_PORT"])
    # Readiness follows the database; liveness only that the process answers.
    assert container["readinessProbe"]["grpc"] == {"port": ports["grpc"]}
    assert container["livenessProbe"]["grpc"] == {
        "port": ports["grpc"],
        "service": LIVENESS_SERVICE,
    }
    assert "tcpSocket" not in container["livenessProbe"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    )
    assert k8s_service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert {p["targetPort"] for p in k8s_service["spec"]["ports"]} <= set(ports)


@pytest.mark.parametrize("name", SERVICES)
def test_rollouts_and_node_drains_keep_serving(name: str) -> None:
    manifest = documents(K8S / f"{name}.yaml")
    deployment = manifest["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    drain_s = float(env.get(f"{name.upper()}_DRAIN_GRACE_S", ServerConfig.drain_grace_s))
    # The server's own drain window (NOT_SERVING while still serving), where it is set.
    window_s = float(env.get(f"{name.upper()}_DRAIN_WINDOW_S", PRESTOP_S))
    labels = deployment["spec"]["selector"]["matchLabels"]

    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(PRESTOP_S)]
    assert window_s == PRESTOP_S  # the preStop wait matches the drain window
    assert pod["terminationGracePeriodSeconds"] >= PRESTOP_S + window_s + drain_s + FLUSH_S
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert manifest["PodDisruptionBudget"]["spec"]["minAvailable"] >= 1
    assert manifest["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    hpa = manifest["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert manifest["PodDisruptionBudget"]["spec"]["minAvailable"] < hpa["minReplicas"]


def _allowed(rules: list[dict[str, Any]], peer: str) -> set[int]:
    ports: set[int] = set()
    for rule in rules:
        peers = rule.get("from", rule.get("to", []))
        if any(
            p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == peer
            for p in peers
        ):
            ports |= {p["port"] for p in rule["ports"]}
    return ports


def test_network_policies_let_only_pricing_call_inventory_and_both_reach_postgres() -> None:
    inventory = documents(K8S / "inventory.yaml")["NetworkPolicy"]["spec"]
    pricing = documents(K8S / "pricing.yaml")["NetworkPolicy"]["spec"]

    for policy in (inventory, pricing):
        assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
        assert _allowed(policy["egress"], "postgresql") == {5432}
    assert _allowed(inventory["ingress"], "pricing") == {50051}
    grpc_ingress = [r for r in inventory["ingress"] if {p["port"] for p in r["ports"]} & {50051}]
    assert len(grpc_ingress) == 1
    assert grpc_ingress[0]["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "pricing"}}}
    ]
    assert _allowed(pricing["egress"], "inventory") == {50051}
    assert _allowed(inventory["egress"], "pricing") == set()


def test_set_version_moves_every_image_job_and_label_to_the_release(tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    subprocess.run(
        ["bash", copy / "set-version.sh", "1.4.0+g3c2a1"], check=True, capture_output=True
    )

    for name in SERVICES:
        manifest = documents(copy / f"{name}.yaml")
        images = {
            c["image"] for spec in pod_specs(copy / f"{name}.yaml") for c in spec["containers"]
        }
        assert manifest["Job"]["metadata"]["name"] == f"{name}-migrate-1-4-0-g3c2a1"
        assert images == {f"stockroom-{name}:1.4.0_g3c2a1"}
        assert (
            manifest["Deployment"]["metadata"]["labels"]["app.kubernetes.io/version"]
            == "1.4.0_g3c2a1"
        )
    (cron,) = pod_specs(copy / "verify-ledger.yaml")
    assert cron["containers"][0]["image"] == "stockroom-inventory:1.4.0_g3c2a1"
    result = subprocess.run(
        [TOOLS / "kubernetes-validate", "--strict", "--quiet", *sorted(copy.glob("[ip]*.yaml"))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
