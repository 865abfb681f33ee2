"""``make bench``: run every scenario, print the table, keep the numbers under .bench/.

python -m benchmarks [--duration 10] [--only echo,Quote] [--driver h2load|python]

The machine's load average is printed before and after and kept with the
numbers: on a shared machine, compare ratios within one run, never raw
numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import grpc

from benchmarks.cpu import cpu_window
from benchmarks.h2load import H2Load
from benchmarks.pydriver import PyDriver
from benchmarks.report import save, table
from benchmarks.scenarios import SCENARIOS
from benchmarks.stats import RunResult


async def preflight(address: str, method: str, message: bytes) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        await call(message, timeout=10)


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
    args = parser.parse_args()

    h2load = H2Load(duration_s=args.duration, warmup_s=args.warmup)
    python = PyDriver(duration_s=args.duration, warmup_s=args.warmup)
    use_h2load = args.driver in ("h2load", "both")
    if use_h2load and not H2Load.available():
        print("h2load not found (Debian package nghttp2-client); using the Python driver only")
        use_h2load = False
    use_python = args.driver in ("python", "both")

    wanted = [part for part in args.only.split(",") if part]
    load_before = os.getloadavg()
    print(f"load average before: {_load(load_before)}", flush=True)
    results: list[RunResult] = []
    for scenario in SCENARIOS:
        if (
            wanted
            and not any(part in scenario.name for part in wanted)
            and scenario.name != SCENARIOS[0].name
        ):
            continue
        with scenario.servers() as address:
            if use_h2load and scenario.h2load_message is not None:
                # h2load counts HTTP 200 as success even when the gRPC status in the
                # trailers is an error, so prove the replayed request succeeds first.
                asyncio.run(preflight(address, scenario.method, scenario.h2load_message))
                cpu = cpu_window(args.warmup, args.duration)
                cpu.start()
                message = scenario.h2load_message
                results.append(h2load.run(scenario.name, address, scenario.method, message, cpu))
                print(table(results).splitlines()[-1], flush=True)
            if use_python and scenario.python_factory is not None:
                cpu = cpu_window(args.warmup, args.duration)
                cpu.start()
                results.append(python.run(scenario.name, address, scenario.python_factory, cpu))
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
    }
    print(f"\nsaved {save(results, Path('.bench'), settings)}")
    return 0


def _load(average: tuple[float, float, float]) -> str:
    return (
        " ".join(f"{value:.2f}" for value in average) + f" (1, 5, 15 min; {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    sys.exit(main())
