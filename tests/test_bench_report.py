"""``make bench``'s table: ratios to the first echo run, and (``--adjacent-echo``) to the
echo run made just before the row's scenario."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> tuple[ModuleType, ModuleType]:
    """The benchmarks package (at the repository's root, not installed)."""
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module("benchmarks.report"), importlib.import_module(
            "benchmarks.stats"
        )
    finally:
        sys.path.remove(str(ROOT))


def _cells(table: str, scenario: str) -> list[str]:
    (row,) = [line for line in table.splitlines() if line.startswith(f"| {scenario} |")]
    return [cell.strip() for cell in row.strip("|").split("|")]


def _by_column(table: str, scenario: str) -> dict[str, str]:
    header = [cell.strip() for cell in table.splitlines()[0].strip("|").split("|")]
    return dict(zip(header, _cells(table, scenario), strict=True))


def test_rows_compare_with_the_first_echo_and_show_the_adjacent_one(
    bench: tuple[ModuleType, ModuleType],
) -> None:
    report, stats = bench

    def run(scenario: str, rps: float, cpu: float, baseline: object = None) -> object:
        return stats.RunResult(
            scenario, "h2load", int(rps * 10), 0, 10.0, rps, 10.0, 12.0, 20.0, cpu, baseline
        )

    first_echo = run(report.BASELINE, 4000, 300)
    # The machine slowed down: echo just before the scenario served half as much.
    adjacent_echo = run(report.BASELINE, 2000, 600)
    table = report.table([first_echo, run("reads", 1000, 1200, adjacent_echo)])

    reads = _by_column(table, "reads")
    assert reads["req/s vs echo"] == "0.25"
    assert reads["echo's CPU / this"] == "0.25"
    assert reads["echo just before, req/s"] == "2,000"
    assert reads["req/s vs echo just before"] == "0.50"
    echo = _by_column(table, report.BASELINE)
    assert (echo["req/s vs echo"], echo["echo just before, req/s"]) == ("1.00", "-")


def test_a_row_without_measurements_has_no_ratio(bench: tuple[ModuleType, ModuleType]) -> None:
    report, stats = bench
    first_echo = stats.RunResult(report.BASELINE, "python", 40000, 0, 10.0, 4000, 10, 12, 20)
    reads = stats.RunResult("reads", "python", 10000, 0, 10.0, 1000, 20, 24, 40)
    row = _by_column(report.table([first_echo, reads]), "reads")
    assert (row["req/s vs echo"], row["p50 vs echo"]) == ("0.25", "2.0x")
    assert row["echo's CPU / this"] == "-"  # no CPU measured: no ratio
    assert row["req/s vs echo just before"] == "-"
