"""CPU seconds the servers under test spent during the measured window, from /proc.

On a shared machine throughput moves with everyone else's load, but the CPU a
server spends per call moves much less: it is the cost the stack adds, the
thing the ratios try to show. Every server process a scenario starts (and
their children: a supervisor's workers, the OTLP sink) is counted, sampled at
the end of the warm-up and at the end of the run.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# The pids of the server processes running now (benchmarks.processes keeps it).
SERVER_PIDS: list[int] = []


def process_tree_cpu_s(pids: list[int]) -> float:
    """User plus system CPU seconds of ``pids`` and all their descendants, alive now."""
    total = 0.0
    seen: set[int] = set()
    stack = list(pids)
    # A process tree here is a few processes deep; the bound only guards against surprises.
    for _ in range(10_000):
        if not stack:
            break
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


class CpuRate:
    """The servers' CPU over ``[start_s, end_s]`` after ``start()``, against the calls the
    driver completed in that window (so the driver's start-up and wind-down do not count)."""

    def __init__(self, start_s: float, end_s: float) -> None:
        self._pids = list(SERVER_PIDS)
        self._samples: list[tuple[float, float]] = []
        self._timers = [threading.Timer(at, self._sample) for at in (start_s, end_s)]

    def _sample(self) -> None:
        self._samples.append((time.time(), process_tree_cpu_s(self._pids)))

    def start(self) -> None:
        for timer in self._timers:
            timer.start()

    def per_call_us(self, completed_at: list[float]) -> float:
        """The servers' CPU microseconds per call completed inside the window (``completed_at``:
        wall-clock times, ``time.time()``, of the driver's calls); 0 if unknown."""
        for timer in self._timers:
            timer.cancel()
        if len(self._samples) < 2:
            return 0.0
        (began, cpu_before), (ended, cpu_after) = self._samples
        calls = sum(1 for at in completed_at if began <= at < ended)
        return (cpu_after - cpu_before) / calls * 1e6 if calls else 0.0


def cpu_window(warmup_s: float, duration_s: float) -> CpuRate:
    """A window that starts 1 s (or a tenth of the run) into the measured time and ends as
    long before its end."""
    margin_s = min(1.0, duration_s / 10)
    return CpuRate(warmup_s + margin_s, warmup_s + duration_s - margin_s)
