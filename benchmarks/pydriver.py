"""A closed-loop gRPC load driver in Python, for calls whose body must change per request
(mutations with a fresh request_id). Worker processes, each with its own event loop and
channel, keep ``concurrency`` calls in flight for the configured time.

A scenario is a factory ``module:function`` taking ``(channel, worker_index)`` and
returning ``async def call(n: int) -> None``, so spawned workers can import it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from benchmarks.cpu import CpuRate
from benchmarks.stats import RunResult, summarize

CallFactory = Callable[[grpc.aio.Channel, int], Callable[[int], Awaitable[object]]]


@dataclass(frozen=True)
class PyDriver:
    duration_s: float = 10.0
    warmup_s: float = 2.0
    processes: int = 2
    concurrency: int = 32

    def run(
        self, scenario: str, address: str, factory: str, cpu: CpuRate | None = None
    ) -> RunResult:
        """Drive ``factory``'s calls for the configured time; with ``cpu`` (started with the
        run), the servers' CPU per call too."""
        context = multiprocessing.get_context("spawn")  # grpc does not survive fork
        with context.Pool(self.processes) as pool:
            parts = pool.starmap(
                _worker,
                [
                    (factory, address, index, self.concurrency, self.warmup_s, self.duration_s)
                    for index in range(self.processes)
                ],
            )
        latencies = [latency for part, _, _ in parts for latency in part]
        failed = sum(failures for _, failures, _ in parts)
        result = summarize(scenario, "python", latencies, failed, self.duration_s)
        if cpu is None:
            return result
        completed_at = [at for _, _, times in parts for at in times]
        return dataclasses.replace(result, server_cpu_us=cpu.per_call_us(completed_at))


# Per worker: latencies (ms) of the measured calls, failures, and when each successful call
# (warm-up included) completed.
WorkerResult = tuple[list[float], int, list[float]]


def _worker(
    factory: str, address: str, index: int, concurrency: int, warmup_s: float, duration_s: float
) -> WorkerResult:
    return asyncio.run(_drive(factory, address, index, concurrency, warmup_s, duration_s))


async def _drive(
    factory: str, address: str, index: int, concurrency: int, warmup_s: float, duration_s: float
) -> WorkerResult:
    module_name, _, function_name = factory.partition(":")
    make_call: CallFactory = getattr(importlib.import_module(module_name), function_name)
    latencies_ms: list[float] = []
    completed_at: list[float] = []
    failures = 0
    async with grpc.aio.insecure_channel(address) as channel:
        call = make_call(channel, index)
        start = time.perf_counter()
        measure_from = start + warmup_s
        stop_at = measure_from + duration_s
        counter = iter(range(index * 10**9, (index + 1) * 10**9))

        async def loop() -> None:
            nonlocal failures
            while (began := time.perf_counter()) < stop_at:
                try:
                    await call(next(counter))
                    ok = True
                except grpc.aio.AioRpcError:
                    ok = False
                if ok:  # warm-up calls too: the CPU window may start before measuring does
                    completed_at.append(time.time())
                if began >= measure_from:
                    if ok:
                        latencies_ms.append((time.perf_counter() - began) * 1000)
                    else:
                        failures += 1

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return latencies_ms, failures, completed_at
