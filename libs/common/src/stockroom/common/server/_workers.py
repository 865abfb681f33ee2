"""Several server processes on one port: one supervisor, N workers, SO_REUSEPORT.

A Python process serves on one core (the GIL), so a service that should use
several cores runs several processes. ``<SERVICE>_WORKERS=N`` (or
``--workers N``) makes ``python -m stockroom.<service>`` a supervisor: it
migrates once, then starts N copies of itself as ``serve --no-migrate
--workers 1``; each binds the same port (``grpc.so_reuseport``) and the
kernel spreads new connections over them. The supervisor itself serves
nothing and imports no gRPC:

- a worker that dies (a crash, the OOM killer, ``kill -9``) is started again,
  after a delay that doubles while it keeps dying young (up to
  ``MAX_RESTART_DELAY_S``); a slot that died ``MAX_QUICK_FAILURES`` times in a
  row, each time sooner than ``STABLE_AFTER_S`` after its start, stops the
  supervisor with an error, so the orchestrator sees a crash loop instead of
  a replica that is quietly short of workers;
- SIGTERM or SIGINT is passed to every worker as SIGTERM, each drains as a
  single server does (health NOT_SERVING, in-flight calls finish), and a
  worker still running ``drain_timeout_s`` later is killed. The supervisor
  exits 0 when every worker exited 0.

Workers know their slot from ``STOCKROOM_WORKER_INDEX`` (0..N-1); a worker
with a Prometheus port serves it on ``port + index``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence

logger = logging.getLogger("stockroom.common.server")

WORKER_INDEX_ENV = "STOCKROOM_WORKER_INDEX"
RESTART_DELAY_S = 0.5
MAX_RESTART_DELAY_S = 30.0
STABLE_AFTER_S = 30.0
MAX_QUICK_FAILURES = 5


def worker_index(env: Mapping[str, str] | None = None) -> int:
    """This process's slot among the workers (0 when it is not a worker)."""
    return int((os.environ if env is None else env).get(WORKER_INDEX_ENV, "0"))


class Supervisor:
    """Runs ``count`` copies of ``command`` until SIGTERM/SIGINT; restarts the ones that die."""

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        *,
        drain_timeout_s: float,
        env: Mapping[str, str] | None = None,
        restart_delay_s: float = RESTART_DELAY_S,
        max_restart_delay_s: float = MAX_RESTART_DELAY_S,
        stable_after_s: float = STABLE_AFTER_S,
        max_quick_failures: int = MAX_QUICK_FAILURES,
    ) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        self._command = tuple(command)
        self._count = count
        self._drain_timeout_s = drain_timeout_s
        self._env = dict(os.environ if env is None else env)
        self._restart_delay_s = restart_delay_s
        self._max_restart_delay_s = max_restart_delay_s
        self._stable_after_s = stable_after_s
        self._max_quick_failures = max_quick_failures
        self._stop = asyncio.Event()
        self._crash_loop = False
        self._pids: dict[int, int] = {}

    @property
    def worker_pids(self) -> dict[int, int]:
        """Slot -> pid of each worker running now."""
        return dict(self._pids)

    def stop(self) -> None:
        """Drain every worker and return from ``run`` (what SIGTERM does)."""
        self._stop.set()

    async def run(self) -> int:
        """Supervise until stopped; 0 if every running worker then exited cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        try:
            codes = await asyncio.gather(*(self._keep(index) for index in range(self._count)))
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        logger.info("workers stopped", extra={"exit_codes": codes})
        return 0 if not self._crash_loop and all(code == 0 for code in codes) else 1

    async def _keep(self, index: int) -> int:
        """Keep slot ``index`` running until the supervisor stops; then drain its worker and
        return its exit code (0 if it was not running)."""
        quick_failures = 0
        while True:
            process = await asyncio.create_subprocess_exec(
                *self._command, env={**self._env, WORKER_INDEX_ENV: str(index)}
            )
            started = time.monotonic()
            self._pids[index] = process.pid
            logger.info("worker started", extra={"worker": index, "pid": process.pid})
            exited = asyncio.ensure_future(process.wait())
            stopping = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait((exited, stopping), return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if self._stop.is_set():
                code = await self._drain(index, process, exited)
                self._pids.pop(index, None)
                return code
            code = exited.result()
            self._pids.pop(index, None)
            lived_s = time.monotonic() - started
            quick_failures = quick_failures + 1 if lived_s < self._stable_after_s else 1
            logger.error(
                "worker exited",
                extra={"worker": index, "pid": process.pid, "exit_code": code, "lived_s": lived_s},
            )
            if quick_failures >= self._max_quick_failures:
                logger.error(
                    "worker keeps dying; stopping the service",
                    extra={"worker": index, "failures": quick_failures},
                )
                self._crash_loop = True
                self._stop.set()
                return code
            delay = min(
                self._max_restart_delay_s, self._restart_delay_s * 2 ** (quick_failures - 1)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._stop.is_set():
                return 0

    async def _drain(
        self, index: int, process: asyncio.subprocess.Process, exited: asyncio.Future[int]
    ) -> int:
        """SIGTERM the worker; kill it if it is still running ``drain_timeout_s`` later.

        0 when it stopped cleanly: it exited 0, or SIGTERM ended it before it had set up its
        handler (still starting, so it had nothing to drain).
        """
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(asyncio.shield(exited), self._drain_timeout_s)
            return 0 if code == -signal.SIGTERM else code
        except TimeoutError:
            logger.error(
                "worker still running after the drain timeout; killing it",
                extra={"worker": index, "pid": process.pid, "timeout_s": self._drain_timeout_s},
            )
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return await exited
