"""No float anywhere in pricing's arithmetic: a static check of the source, not a hope.

Walks the syntax tree of every module of ``stockroom.pricing`` and refuses float
literals, the name ``float`` (a call, a conversion or an annotation), true division
``/`` (which makes floats of ints), and SQL types that store inexact numbers. Three
modules deal in durations for gRPC timeouts, which gRPC takes as float seconds;
they are named here with why, and never touch an amount.
"""

from __future__ import annotations

import ast
import json
from importlib import resources
from pathlib import Path

import pytest

import stockroom.pricing.app

PACKAGE = Path(stockroom.pricing.app.__file__).parent
DURATIONS_IN_SECONDS = {
    # settings: PRICING_AVAILABILITY_MAX_WAIT_S and friends, as gRPC wants them
    "app.py",
    # the inventory call's timeout: what is left of the caller's gRPC deadline
    "availability.py",
    # passes the caller's remaining time (grpc's context.time_remaining()) along
    "quoter.py",
    # the cache refresher's poll interval and reconnect pause, for asyncio's waits
    "refresher.py",
    # the event publisher's poll interval and broker timeouts
    "publisher.py",
    # the ReserveStock call's timeout, like availability.py's
    "hold.py",
}
INEXACT_SQL_TYPES = {"Float", "REAL", "DOUBLE", "DOUBLE_PRECISION", "Numeric", "FLOAT"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def float_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append(f"{where} float literal {node.value!r}")
        elif isinstance(node, ast.Name) and node.id == "float":
            found.append(f"{where} float")
        elif isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            found.append(f"{where} true division")
        elif isinstance(node, ast.Name | ast.Attribute) and (
            getattr(node, "id", None) in INEXACT_SQL_TYPES
            or getattr(node, "attr", None) in INEXACT_SQL_TYPES
        ):
            found.append(f"{where} inexact SQL type")
    return found


def test_the_check_sees_every_module_and_the_allowlist_is_real() -> None:
    names = {p.name for p in modules()}

    assert len(modules()) > 30
    assert names >= DURATIONS_IN_SECONDS
    # The check finds what it is meant to find: the allowlisted modules do use floats.
    assert all(float_uses(PACKAGE / name) for name in DURATIONS_IN_SECONDS)


@pytest.mark.parametrize(
    "path",
    [p for p in modules() if p.name not in DURATIONS_IN_SECONDS or p.parent != PACKAGE],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_float_in_pricing_source(path: Path) -> None:
    assert float_uses(path) == []


def test_the_golden_vectors_hold_no_float() -> None:
    def refuse(text: str) -> object:
        raise AssertionError(f"float {text} in the golden vectors")

    text = resources.files("stockroom.pricing").joinpath("golden/tax_vectors.json").read_text()
    assert json.loads(text, parse_float=refuse)["vectors"]
