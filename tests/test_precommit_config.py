"""The pre-commit configuration is valid and runs every check `make lint` runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
CONFIG = ROOT / ".pre-commit-config.yaml"


def recipe(target: str) -> list[str]:
    """The commands of a Makefile target, with $(BIN) spelled as .venv/bin."""
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert match is not None, target
    return [line.strip().replace("$(BIN)", ".venv/bin") for line in match.group(1).splitlines()]


def lint_commands() -> list[str]:
    """`make lint`'s own commands and those of the targets it depends on (not setup)."""
    makefile = (ROOT / "Makefile").read_text()
    prerequisites = re.search(r"^lint:([^#\n]*)", makefile, re.M)
    assert prerequisites is not None
    targets = [t for t in prerequisites.group(1).split() if not t.startswith("$(")]
    return [command for target in [*targets, "lint"] for command in recipe(target)]


def hooks() -> list[dict[str, Any]]:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_the_configuration_is_valid() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_make_lint_check_has_a_hook() -> None:
    entries = [hook["entry"] for hook in hooks()]
    commands = lint_commands()

    # The tool and its options, without the paths `make lint` hands it (pre-commit
    # hands the changed files instead).
    wanted = [
        re.sub(r"( (libs|services|tests|scripts|benchmarks)\S*| \.)+$", "", c) for c in commands
    ]
    missing = [w for w in wanted if not any(entry.startswith(w) for entry in entries)]

    assert len(commands) >= 5  # ruff check, ruff format, mypy, buf lint, stale stubs
    assert missing == []
