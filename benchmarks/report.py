"""The table ``make bench`` prints: each run beside the echo baseline of its driver."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.stats import RunResult

BASELINE = "echo (bare grpc.aio)"


def table(results: list[RunResult]) -> str:
    """One row per run, its ratios to the run's first echo row of its driver. With
    ``--adjacent-echo``, the last two columns give the echo run made by the same driver
    just before the row's scenario, and the row's ratio to it: when the two echo runs
    differ much, the machine's speed drifted in between, and the row's ratio with it."""
    first = {r.driver: r for r in results if r.scenario == BASELINE}
    lines = [
        "| scenario | driver | req/s | p50 ms | p99 ms | failed | req/s vs echo | p50 vs echo"
        " | server CPU us/call | echo's CPU / this | echo just before, req/s"
        " | req/s vs echo just before |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        base = first.get(r.driver)
        before = r.baseline
        lines.append(
            f"| {r.scenario} | {r.driver} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f}"
            f" | {r.failed} | {_ratio(r.rps, base.rps if base else 0)}"
            f" | {_ratio(r.p50_ms, base.p50_ms if base else 0, 'x', 1)}"
            f" | {f'{r.server_cpu_us:,.0f}' if r.server_cpu_us else '-'}"
            f" | {_ratio(base.server_cpu_us if base else 0, r.server_cpu_us)}"
            f" | {f'{before.rps:,.0f}' if before else '-'}"
            f" | {_ratio(r.rps, before.rps if before else 0)} |"
        )
    return "\n".join(lines)


def _ratio(value: float, to: float, unit: str = "", digits: int = 2) -> str:
    """``value / to`` for the table, or "-" when either is unknown (0)."""
    return f"{value / to:.{digits}f}{unit}" if value and to else "-"


def save(results: list[RunResult], directory: Path, settings: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"bench-{stamp}.json"
    path.write_text(
        json.dumps({"settings": settings, "results": [r.as_dict() for r in results]}, indent=2)
    )
    return path
