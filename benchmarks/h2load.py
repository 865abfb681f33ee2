"""Drive a unary gRPC method with h2load (nghttp2), a C HTTP/2 load generator.

h2load knows nothing of gRPC, but a unary gRPC call is an HTTP/2 POST with a
length-prefixed message body and two headers, so a fixed request can be
replayed at a rate a Python client could not reach on the same cores. It
cannot vary the body: use it for reads and for writes that are not idempotent
on a request id. The per-request log gives the latency percentiles.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cpu import CpuRate
from benchmarks.stats import RunResult, summarize


@dataclass(frozen=True)
class H2Load:
    duration_s: float = 10.0
    warmup_s: float = 2.0
    connections: int = 8
    streams_per_connection: int = 8
    threads: int = 1

    @staticmethod
    def available() -> bool:
        return shutil.which("h2load") is not None

    def run(
        self, scenario: str, address: str, method: str, message: bytes, cpu: CpuRate | None = None
    ) -> RunResult:
        """Replay one request to ``method`` (``/pkg.Service/Method``) for the configured time;
        with ``cpu`` (started with the run), the servers' CPU per call too."""
        with tempfile.TemporaryDirectory() as tmp:
            body = Path(tmp) / "body"
            body.write_bytes(grpc_frame(message))
            log = Path(tmp) / "requests.tsv"
            command = [
                "h2load",
                f"--duration={round(self.duration_s * 1000)}ms",
                f"--warm-up-time={round(self.warmup_s * 1000)}ms",
                f"--clients={self.connections}",
                f"--max-concurrent-streams={self.streams_per_connection}",
                f"--threads={self.threads}",
                "--header=content-type: application/grpc",
                "--header=te: trailers",
                f"--data={body}",
                f"--log-file={log}",
                f"http://{address}{method}",
            ]
            output = subprocess.run(
                command, capture_output=True, text=True, check=True, timeout=self.duration_s + 60
            ).stdout
            # Each line: start (us since the epoch), HTTP status, duration (us).
            rows = [
                (int(fields[0]), int(fields[2]))
                for fields in (line.split("\t") for line in log.read_text().splitlines())
                if len(fields) >= 3 and fields[1] == "200"
            ]
        latencies_ms = [duration / 1000 for _, duration in rows]
        result = summarize(scenario, "h2load", latencies_ms, _failed(output), self.duration_s)
        if cpu is None:
            return result
        completed_at = [(start + duration) / 1e6 for start, duration in rows]
        return dataclasses.replace(result, server_cpu_us=cpu.per_call_us(completed_at))


def grpc_frame(message: bytes) -> bytes:
    """The gRPC wire form of one uncompressed message: flag byte, 4-byte length, bytes."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def _failed(output: str) -> int:
    match = re.search(r"(\d+) failed, (\d+) errored", output)
    if match is None:
        raise RuntimeError(f"cannot read h2load's summary:\n{output}")
    return int(match.group(1)) + int(match.group(2))
