"""What the distributions install and which version they report.

A team that only calls the services installs stockroom-common and the stubs and gets
grpcio, protobuf, the stubs, googleapis-common-protos, grpcio-status and the
OpenTelemetry API, nothing else (no SQLAlchemy, Alembic, asyncpg, SDK or exporters):
checked by installing the wheels alone into a fresh venv, through the machine's pip
configuration, pinned by constraints.txt. Versions come from git, so two commits build
two versions and service.version tells deploys apart.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# What a client may bring in: these and what they themselves require.
CLIENT_ROOTS = {
    "grpcio",
    "protobuf",
    "googleapis-common-protos",
    "grpcio-status",
    "opentelemetry-api",
}
SERVER_ONLY = {
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-grpc",
    "opentelemetry-instrumentation-grpc",
    "opentelemetry-instrumentation-sqlalchemy",
    "prometheus-client",
    "grpcio-health-checking",
    "grpcio-reflection",
}
# Lists every installed distribution and what it requires, inside the fresh venv.
INVENTORY = """
import json, re
from importlib import metadata
print(json.dumps({
    re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): [
        re.split(r"[ ;<>=!~\\[(]", r, maxsplit=1)[0].lower().replace("_", "-")
        for r in (d.requires or []) if "extra ==" not in r
    ]
    for d in metadata.distributions()
}))
"""


def run(*command: str | Path, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def build_wheels(out: Path, *packages: str) -> list[Path]:
    """Wheels built with the workspace's pinned hatchling and hatch-vcs (no network)."""
    run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--wheel-dir", out, *(str(ROOT / p) for p in packages),
    )  # fmt: skip
    return sorted(out.glob("*.whl"))


@pytest.mark.slow
def test_a_client_installs_only_grpc_protobuf_the_stubs_and_the_opentelemetry_api(
    tmp_path: Path,
) -> None:
    wheels = build_wheels(tmp_path / "wheels", "libs/stubs", "libs/common")
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    run(
        python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
        "-c", ROOT / "constraints.txt", *wheels,
    )  # fmt: skip
    installed: dict[str, list[str]] = json.loads(run(python, "-c", INVENTORY))
    # A client's code runs with just that: a channel with the whole call policy.
    run(
        python, "-c",
        "import asyncio; from stockroom.common.client import connect; "
        "from stockroom.common.errors import NotFound; "
        "from stockroom.inventory.v1 import inventory_pb2_grpc; "
        "asyncio.run(connect('127.0.0.1:9').close())",
    )  # fmt: skip

    allowed = {"stockroom-common", "stockroom-stubs", "pip", "setuptools"}
    pending = list(CLIENT_ROOTS)
    while pending:  # the roots and their requirements, transitively
        name = pending.pop()
        if name not in allowed:
            allowed.add(name)
            pending.extend(installed.get(name, []))
    assert set(installed) <= allowed, set(installed) - allowed
    assert not set(installed) & SERVER_ONLY
    assert set(installed) >= CLIENT_ROOTS


def test_versions_come_from_git_and_name_the_commit(tmp_path: Path) -> None:
    (wheel,) = build_wheels(tmp_path, "libs/stubs")
    commit = run("git", "rev-parse", "--short=7", "HEAD").strip()
    version = wheel.name.split("-")[1]

    assert re.fullmatch(r"\d+(\.\d+)*(\.dev\d+)?(\+g[0-9a-f]+(\.d\d{8})?)?", version), version
    # Unless HEAD is exactly a tag, the version names the commit it was built from.
    tagged = subprocess.run(
        ["git", "describe", "--tags", "--exact-match"], cwd=ROOT, capture_output=True, check=False
    )
    if tagged.returncode != 0:
        assert f"+g{commit}" in version
