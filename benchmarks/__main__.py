"""``make bench``: run every scenario, print the table, keep the numbers under .bench/.

python -m benchmarks [--duration 10] [--only echo,Quote] [--driver h2load|python]
                    [--adjacent-echo]

Every ratio is to the bare echo server, measured first by each driver. With
``--adjacent-echo`` (a run about twice as long) echo is measured again, by the
same drivers, just before each scenario, and the table adds that run and the
row's ratio to it: where the two echo runs differ much, the machine's speed
drifted between them (by up to 2x within minutes on the shared benchmark
machine), and so may the row's ratio. The machine's load average is printed
before and after and kept with the numbers: on a shared machine, compare
ratios within one run, never raw numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc

from benchmarks.cpu import cpu_window
from benchmarks.h2load import H2Load
from benchmarks.pydriver import PyDriver
from benchmarks.report import save, table
from benchmarks.scenarios import SCENARIOS, Scenario
from benchmarks.stats import RunResult


async def preflight(address: str, method: str, message: bytes) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        await call(message, timeout=10)


@dataclass(frozen=True)
class Runs:
    """Measure one scenario: start its servers, then drive them with each driver it has."""

    h2load: H2Load
    python: PyDriver
    warmup_s: float
    duration_s: float

    def measure(self, scenario: Scenario, drivers: list[str]) -> list[RunResult]:
        results: list[RunResult] = []
        with scenario.servers() as address:
            for driver in _drivers_of(scenario, drivers):
                cpu = cpu_window(self.warmup_s, self.duration_s)
                if driver == "h2load":
                    message = scenario.h2load_message
                    assert message is not None
                    # h2load counts HTTP 200 as success even when the gRPC status in the
                    # trailers is an error, so prove the replayed request succeeds first.
                    asyncio.run(preflight(address, scenario.method, message))
                    h2load = self.h2load
                    if scenario.h2load_load is not None:
                        connections, streams = scenario.h2load_load
                        h2load = dataclasses.replace(
                            h2load, connections=connections, streams_per_connection=streams
                        )
                    cpu.start()
                    results.append(
                        h2load.run(scenario.name, address, scenario.method, message, cpu)
                    )
                else:
                    factory = scenario.python_factory
                    assert factory is not None
                    cpu.start()
                    results.append(self.python.run(scenario.name, address, factory, cpu))
        return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: run the scenarios whose name contains one of these (echo always)",
    )
    parser.add_argument("--driver", choices=["h2load", "python", "both"], default="both")
    parser.add_argument(
        "--adjacent-echo",
        action="store_true",
        help="measure echo again just before each scenario, to see drift (module doc)",
    )
    args = parser.parse_args()

    h2load = H2Load(duration_s=args.duration, warmup_s=args.warmup)
    python = PyDriver(duration_s=args.duration, warmup_s=args.warmup)
    use_h2load = args.driver in ("h2load", "both")
    if use_h2load and not H2Load.available():
        print("h2load not found (Debian package nghttp2-client); using the Python driver only")
        use_h2load = False
    use_python = args.driver in ("python", "both")

    wanted = [part for part in args.only.split(",") if part]
    drivers = [name for name, used in (("h2load", use_h2load), ("python", use_python)) if used]
    runs = Runs(h2load, python, args.warmup, args.duration)
    baseline = SCENARIOS[0]
    load_before = os.getloadavg()
    print(f"load average before: {_load(load_before)}", flush=True)
    results: list[RunResult] = []
    for scenario in SCENARIOS:
        chosen = not wanted or any(part in scenario.name for part in wanted)
        if not chosen and scenario is not baseline:
            continue
        # Echo again just before the scenario, by the drivers it uses: the table then
        # shows how far the machine's speed drifted since the first echo run.
        adjacent = (
            {}
            if scenario is baseline or not args.adjacent_echo
            else {r.driver: r for r in runs.measure(baseline, _drivers_of(scenario, drivers))}
        )
        for result in runs.measure(scenario, drivers):
            results.append(dataclasses.replace(result, baseline=adjacent.get(result.driver)))
            print(table(results).splitlines()[-1], flush=True)

    load_after = os.getloadavg()
    print()
    print(table(results))
    print(f"\nload average before: {_load(load_before)}; after: {_load(load_after)}")
    settings = {
        "load_average_before": load_before,
        "load_average_after": load_after,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "h2load": h2load.__dict__,
        "python": python.__dict__,
        "adjacent_echo": args.adjacent_echo,
    }
    print(f"\nsaved {save(results, Path('.bench'), settings)}")
    return 0


def _drivers_of(scenario: Scenario, drivers: list[str]) -> list[str]:
    """Those of ``drivers`` that ``scenario`` is driven by."""
    has = {"h2load": scenario.h2load_message is not None, "python": bool(scenario.python_factory)}
    return [driver for driver in drivers if has[driver]]


def _load(average: tuple[float, float, float]) -> str:
    return (
        " ".join(f"{value:.2f}" for value in average) + f" (1, 5, 15 min; {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    sys.exit(main())
