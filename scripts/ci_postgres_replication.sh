#!/usr/bin/env bash
# Let the CI machine's PostgreSQL serve streaming replicas made by the tests
# (tests/scale: pg_basebackup from 127.0.0.1). Idempotent: adds one
# pg_hba.conf line if it is missing and reloads; checks wal_level. Needs to be
# able to edit the server's pg_hba.conf (root or the postgres user).
set -euo pipefail
PSQL=(psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atq)
hba_file=$("${PSQL[@]}" -c "SHOW hba_file")
wal_level=$("${PSQL[@]}" -c "SHOW wal_level")
if [[ "$wal_level" == "minimal" ]]; then
  echo "PostgreSQL has wal_level=minimal; streaming replicas need replica (restart needed)" >&2
  exit 1
fi
line="host replication all 127.0.0.1/32 trust"
if ! "${PSQL[@]}" -c "SELECT 1 FROM pg_hba_file_rules WHERE 'replication' = ANY(database) AND address = '127.0.0.1'" | grep -q 1; then
  if ! grep -qxF "$line" "$hba_file"; then
    printf '%s\n' "# stockroom tests: streaming replicas from loopback" "$line" >> "$hba_file"
  fi
  "${PSQL[@]}" -c "SELECT pg_reload_conf()" >/dev/null
fi
