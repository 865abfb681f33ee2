"""Running PostgreSQL's and PgBouncer's programs from a test that may run as root.

Both refuse to run as root (a server must not own the machine); on CI the
tests run as root, so those programs run as the ``postgres`` system user and
get their directories handed over. As any other user they run as that user.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

SYSTEM_USER = "postgres"


def running_as_root() -> bool:
    return os.geteuid() == 0


def as_postgres_user() -> list[str]:
    """PgBouncer's own option to drop root (empty when not root)."""
    return ["-u", SYSTEM_USER] if running_as_root() else []


def run_as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the postgres user when we are root."""
    return ["runuser", "-u", SYSTEM_USER, "--", *command] if running_as_root() else command


def give_to_postgres_user(directory: Path) -> None:
    """Hand ``directory`` and what is in it to the postgres user (when we are root)."""
    if not running_as_root():
        return
    owner = pwd.getpwnam(SYSTEM_USER)
    for root, dirs, files in os.walk(directory):
        os.chown(root, owner.pw_uid, owner.pw_gid)
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), owner.pw_uid, owner.pw_gid)
