"""The table ``make bench`` prints: each run beside the echo baseline of its driver."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.stats import RunResult

BASELINE = "echo (bare grpc.aio)"


def table(results: list[RunResult]) -> str:
    baselines = {r.driver: r for r in results if r.scenario == BASELINE}
    lines = [
        "| scenario | driver | req/s | p50 ms | p99 ms | failed | req/s vs echo | p50 vs echo"
        " | server CPU us/call | echo's CPU / this |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        base = baselines.get(r.driver)
        rps_ratio = f"{r.rps / base.rps:.2f}" if base and base.rps else "-"
        p50_ratio = f"{r.p50_ms / base.p50_ms:.1f}x" if base and base.p50_ms else "-"
        cpu = f"{r.server_cpu_us:,.0f}" if r.server_cpu_us else "-"
        cpu_ratio = (
            f"{base.server_cpu_us / r.server_cpu_us:.2f}"
            if base and base.server_cpu_us and r.server_cpu_us
            else "-"
        )
        lines.append(
            f"| {r.scenario} | {r.driver} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f}"
            f" | {r.failed} | {rps_ratio} | {p50_ratio} | {cpu} | {cpu_ratio} |"
        )
    return "\n".join(lines)


def save(results: list[RunResult], directory: Path, settings: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"bench-{stamp}.json"
    path.write_text(
        json.dumps({"settings": settings, "results": [r.as_dict() for r in results]}, indent=2)
    )
    return path
