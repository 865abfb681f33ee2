"""A PgBouncer in transaction pooling mode in front of the test PostgreSQL.

Each ``running_pgbouncer`` is its own process with its own port, config,
auth file and log in a temporary directory, so it shares nothing with a
PgBouncer the machine may run as a service. Every database of the upstream
server is reachable through it (the ``*`` entry), each with at most
``pool_size`` server connections, whatever the number of clients.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from stockroom.common._pooler import TRANSACTION_POOLER_QUERY
from stockroom.common.testing._system import as_postgres_user, give_to_postgres_user

PGBOUNCER_ENV = "STOCKROOM_PGBOUNCER"
START_TIMEOUT_S = 15.0


def pgbouncer_binary() -> str | None:
    """The pgbouncer executable (``$STOCKROOM_PGBOUNCER``, PATH or Debian's /usr/sbin)."""
    configured = os.environ.get(PGBOUNCER_ENV)
    if configured:
        return configured
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class PgBouncer:
    host: str
    port: int
    pool_size: int
    directory: Path
    pid: int

    def url(self, database_url: str) -> str:
        """``database_url`` (a database on the upstream server) reached through this
        PgBouncer, with the statement settings a transaction pooler needs."""
        url = make_url(database_url)
        return url.set(
            host=self.host, port=self.port, query={**url.query, **TRANSACTION_POOLER_QUERY}
        ).render_as_string(hide_password=False)

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _config(upstream_host: str, upstream_port: int, port: int, pool_size: int, dir: Path) -> str:
    return f"""\
[databases]
* = host={upstream_host} port={upstream_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
max_db_connections = {pool_size}
server_lifetime = 3600
server_idle_timeout = 60
autodb_idle_timeout = 30
server_check_delay = 0
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
"""


@contextmanager
def running_pgbouncer(upstream_url: str, *, pool_size: int = 8) -> Iterator[PgBouncer]:
    """Start PgBouncer on a free loopback port in front of ``upstream_url``'s server,
    yield it, stop it and remove its directory afterwards (also on failure).

    Synchronous (a child process and a port to poll), so session-scoped
    fixtures can use it as well as async tests."""
    binary = pgbouncer_binary()
    if binary is None:
        raise FileNotFoundError("pgbouncer is not installed (apt-get install pgbouncer)")
    upstream = make_url(upstream_url)
    directory = Path(tempfile.mkdtemp(prefix="stockroom-pgbouncer-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        user = upstream.username or "postgres"
        (directory / "userlist.txt").write_text(f'"{user}" ""\n')
        (directory / "pgbouncer.ini").write_text(
            _config(upstream.host or "127.0.0.1", upstream.port or 5432, port, pool_size, directory)
        )
        give_to_postgres_user(directory)
        # PgBouncer refuses to run as root; -u drops to the postgres user.
        process = subprocess.Popen(
            [binary, *as_postgres_user(), str(directory / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        bouncer = PgBouncer("127.0.0.1", port, pool_size, directory, process.pid)
        _wait_until_listening(bouncer, process)
        yield bouncer
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_until_listening(bouncer: PgBouncer, process: subprocess.Popen[bytes]) -> None:
    give_up_at = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < give_up_at:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}:\n{bouncer.log()}")
        try:
            socket.create_connection((bouncer.host, bouncer.port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
            continue
        return
    raise TimeoutError(f"pgbouncer did not listen within {START_TIMEOUT_S} s:\n{bouncer.log()}")
