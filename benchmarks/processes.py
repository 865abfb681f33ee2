"""Servers under test run as their own processes, one core's worth each, as in production."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from benchmarks.cpu import SERVER_PIDS

LOG_DIR = Path(".bench")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server_process(
    module_args: Sequence[str],
    port: int,
    env: Mapping[str, str] | None = None,
    *,
    measured: bool = True,
) -> Iterator[str]:
    """Run ``python -m <module_args>`` until the block ends; yield its address.

    ``measured`` servers count in the CPU per call (``benchmarks.cpu``); helpers such
    as the OTLP sink do not.

    Its output goes to ``.bench/<module>.log`` (kept for a look after a failure).
    """
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = (LOG_DIR / f"{module_args[0]}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", *module_args],
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    address = f"127.0.0.1:{port}"
    if measured:
        SERVER_PIDS.append(process.pid)
    try:
        _wait_for_port(process, port)
        yield address
    finally:
        if measured:
            SERVER_PIDS.remove(process.pid)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_port(process: subprocess.Popen[bytes], port: int, timeout_s: float = 30) -> None:
    give_up_at = time.monotonic() + timeout_s
    while time.monotonic() < give_up_at:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout_s} s")
