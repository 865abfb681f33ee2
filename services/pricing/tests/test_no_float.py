"""No float anywhere in pricing's arithmetic: a static check of the source, not a hope.

Walks the syntax tree of every module of ``stockroom.pricing`` and refuses float
literals, the name ``float`` (a call, a conversion or an annotation), true division
``/`` (which makes floats of ints), and SQL types that store inexact numbers. A few
modules deal in durations (gRPC timeouts, poll intervals, settings in seconds), which
gRPC and asyncio take as float seconds; they are named here with why, and never
touch an amount.
"""

from __future__ import annotations

import ast
import json
from importlib import resources
from pathlib import Path

import pytest

import stockroom.pricing.app

PACKAGE = Path(stockroom.pricing.app.__file__).parent
FLOAT, LITERAL, DIVISION = "float", "float literal", "true division"
# The modules that deal in durations (gRPC takes float seconds), and exactly what
# each may use; none of them touches an amount, and anything else is refused there too.
DURATIONS_IN_SECONDS = {
    # the inventory calls' timeouts: what is left of the caller's gRPC deadline
    "availability.py": {FLOAT, LITERAL},
    "hold.py": {FLOAT, LITERAL},
    # when each gathered check's caller stops waiting (time.monotonic() seconds)
    "availability_calls.py": {FLOAT},
    # poll intervals and reconnect pauses for asyncio's waits
    "refresher.py": {LITERAL, DIVISION},
    # settings in seconds (PRICING_AVAILABILITY_MAX_WAIT_S, ...); Path / "migrations"
    "app.py": {FLOAT, LITERAL, DIVISION},
}
INEXACT_SQL_TYPES = {"Float", "REAL", "DOUBLE", "DOUBLE_PRECISION", "Numeric", "FLOAT"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def float_uses(path: Path) -> list[tuple[str, str]]:
    """(kind, where) for every float-ish use in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append((LITERAL, where))
        elif isinstance(node, ast.Name) and node.id == "float":
            found.append((FLOAT, where))
        elif isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            found.append((DIVISION, where))
        elif isinstance(node, ast.Name | ast.Attribute) and (
            getattr(node, "id", None) in INEXACT_SQL_TYPES
            or getattr(node, "attr", None) in INEXACT_SQL_TYPES
        ):
            found.append(("inexact SQL type", where))
    return found


def allowed(path: Path) -> set[str]:
    return DURATIONS_IN_SECONDS.get(path.name, set()) if path.parent == PACKAGE else set()


def test_the_check_sees_every_module_and_the_allowlist_is_real() -> None:
    names = {p.name for p in modules()}

    assert len(modules()) > 30
    assert names >= set(DURATIONS_IN_SECONDS)
    # The check finds what it is meant to find: each allowance is used, none is spare.
    for name, kinds in DURATIONS_IN_SECONDS.items():
        assert {kind for kind, _ in float_uses(PACKAGE / name)} == kinds, name


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_float_in_pricing_source(path: Path) -> None:
    assert [(kind, where) for kind, where in float_uses(path) if kind not in allowed(path)] == []


def test_the_golden_vectors_hold_no_float() -> None:
    def refuse(text: str) -> object:
        raise AssertionError(f"float {text} in the golden vectors")

    text = resources.files("stockroom.pricing").joinpath("golden/tax_vectors.json").read_text()
    assert json.loads(text, parse_float=refuse)["vectors"]
