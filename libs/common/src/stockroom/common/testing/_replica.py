"""A streaming replica of the test PostgreSQL, made and removed by the test.

``streaming_replica`` copies the running server with ``pg_basebackup`` (from
the server's own binaries) into a temporary directory, starts it as a hot
standby on its own port with ``pg_ctl``, and stops and removes it afterwards,
also when the test fails. The primary must accept replication connections
from 127.0.0.1 (a ``replication`` line in pg_hba.conf, ``wal_level`` replica
or logical): ``.ci/run`` sees to it on CI machines.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from stockroom.common.testing._pgbouncer import free_port
from stockroom.common.testing._system import give_to_postgres_user, run_as_postgres

BASEBACKUP_TIMEOUT_S = 120
START_TIMEOUT_S = 60
# Settings a hot standby must have at least as high as its primary's.
MATCHED_SETTINGS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


@dataclass(frozen=True)
class Replica:
    host: str
    port: int
    directory: Path

    def url(self, database_url: str) -> str:
        """The URL of ``database_url``'s database (on the primary) on this replica."""
        return (
            make_url(database_url)
            .set(host=self.host, port=self.port)
            .render_as_string(hide_password=False)
        )

    def log(self) -> str:
        path = self.directory / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.set(query={}).render_as_string(hide_password=False)


async def primary_settings(admin_url: str) -> dict[str, str]:
    connection = await asyncpg.connect(_dsn(admin_url))
    try:
        rows = await connection.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])"
            " OR name IN ('data_directory', 'server_version_num')",
            list(MATCHED_SETTINGS),
        )
        bindir = await connection.fetchval("SELECT setting FROM pg_config WHERE name = 'BINDIR'")
    finally:
        await connection.close()
    settings = {row["name"]: row["setting"] for row in rows}
    settings["bindir"] = bindir
    return settings


def _run(command: list[str], timeout_s: float, what: str) -> None:
    done = subprocess.run(
        run_as_postgres(command), capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr or done.stdout}")


@contextmanager
def streaming_replica(admin_url: str) -> Iterator[Replica]:
    """A hot standby of the server at ``admin_url``, until the block ends."""
    # Its own event loop in a thread: callers may be sync fixtures or async tests.
    with ThreadPoolExecutor(1) as thread:
        settings = thread.submit(asyncio.run, primary_settings(admin_url)).result(60)
    bindir = Path(settings["bindir"])
    primary = make_url(admin_url)
    directory = Path(tempfile.mkdtemp(prefix="stockroom-replica-"))
    data = directory / "data"
    give_to_postgres_user(directory)
    started = False
    try:
        _run(
            [
                str(bindir / "pg_basebackup"),
                f"--host={primary.host or '127.0.0.1'}",
                f"--port={primary.port or 5432}",
                f"--username={primary.username or 'postgres'}",
                f"--pgdata={data}",
                "--wal-method=stream",
                "--write-recovery-conf",
                "--checkpoint=fast",
                "--no-sync",
                "--no-manifest",
            ],
            BASEBACKUP_TIMEOUT_S,
            "pg_basebackup",
        )
        port = free_port()
        matched = "\n".join(f"{name} = {settings[name]}" for name in MATCHED_SETTINGS)
        (data / "postgresql.conf").write_text(
            f"port = {port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{directory}'\n"
            "hot_standby = on\n"
            "fsync = off\n"
            "shared_buffers = 32MB\n"
            f"{matched}\n"
        )
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        (data / "pg_ident.conf").write_text("")
        give_to_postgres_user(directory)
        started = True
        _run(
            [
                str(bindir / "pg_ctl"),
                "--pgdata",
                str(data),
                "--log",
                str(directory / "postgres.log"),
                "--wait",
                f"--timeout={START_TIMEOUT_S}",
                "start",
            ],
            START_TIMEOUT_S + 10,
            "pg_ctl start",
        )
        yield Replica("127.0.0.1", port, directory)
    finally:
        if started:
            _stop(bindir, data)
        shutil.rmtree(directory, ignore_errors=True)


def _stop(bindir: Path, data: Path) -> None:
    try:
        _run(
            [str(bindir / "pg_ctl"), "--pgdata", str(data), "--mode=immediate", "--wait", "stop"],
            60,
            "pg_ctl stop",
        )
    except (RuntimeError, subprocess.TimeoutExpired):
        # Not running (it failed to start) or stuck: make sure no postmaster outlives the test.
        pid_file = data / "postmaster.pid"
        if pid_file.exists():
            pid = pid_file.read_text().split("\n", 1)[0].strip()
            if pid.isdigit():
                subprocess.run(["kill", "-9", pid], check=False)


async def replay_position(replica_dsn_url: str) -> str:
    connection = await asyncpg.connect(_dsn(replica_dsn_url))
    try:
        return str(await connection.fetchval("SELECT pg_last_wal_replay_lsn()"))
    finally:
        await connection.close()


async def wait_until_replayed(admin_url: str, replica: Replica, *, timeout_s: float = 60.0) -> None:
    """Wait until the replica has replayed everything the primary had written when called."""
    primary = await asyncpg.connect(_dsn(admin_url))
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()")
    finally:
        await primary.close()
    standby = await asyncpg.connect(_dsn(replica.url(admin_url)))
    try:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + timeout_s
        while loop.time() < give_up_at:
            behind = await standby.fetchval(
                "SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()) > 0", target
            )
            if not behind:
                return
            await asyncio.sleep(0.05)
    finally:
        await standby.close()
    raise TimeoutError(f"the replica had not replayed {target} after {timeout_s} s")


async def set_replay_paused(admin_url: str, replica: Replica, paused: bool) -> None:
    """Pause (or resume) WAL replay on the replica: it keeps receiving, and falls behind."""
    standby = await asyncpg.connect(_dsn(replica.url(admin_url)))
    try:
        await standby.execute(
            "SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()"
        )
    finally:
        await standby.close()
