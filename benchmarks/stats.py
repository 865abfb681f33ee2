"""What one load run measured, and how two runs compare."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RunResult:
    scenario: str
    driver: str
    requests: int
    failed: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    # The servers' CPU per measured call (all their processes), microseconds; 0 if unknown.
    server_cpu_us: float = 0.0
    # The bare echo server measured by the same driver just before this run
    # (``--adjacent-echo``; None: not measured).
    baseline: RunResult | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def summarize(
    scenario: str, driver: str, latencies_ms: list[float], failed: int, duration_s: float
) -> RunResult:
    ordered = sorted(latencies_ms)
    return RunResult(
        scenario=scenario,
        driver=driver,
        requests=len(ordered),
        failed=failed,
        duration_s=duration_s,
        rps=len(ordered) / duration_s if duration_s > 0 else 0.0,
        p50_ms=percentile(ordered, 0.50),
        p90_ms=percentile(ordered, 0.90),
        p99_ms=percentile(ordered, 0.99),
    )
