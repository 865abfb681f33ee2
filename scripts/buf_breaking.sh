#!/usr/bin/env bash
# buf breaking against main: on a branch, against the merge base with main (origin/main,
# else a local main branch, as in a worktree); on main itself, against the previous commit
# (the last landed state).
set -euo pipefail
cd "$(dirname "$0")/.."
buf=.venv/bin/buf
if git rev-parse -q --verify origin/main >/dev/null && [ "$(git rev-parse HEAD)" != "$(git rev-parse origin/main)" ]; then
  against=$(git merge-base HEAD origin/main)
elif git rev-parse -q --verify refs/heads/main >/dev/null && [ "$(git rev-parse HEAD)" != "$(git rev-parse refs/heads/main)" ]; then
  against=$(git merge-base HEAD refs/heads/main)
elif git rev-parse -q --verify HEAD~1 >/dev/null; then
  against=$(git rev-parse HEAD~1)
else
  echo "buf breaking: no earlier commit to compare with"; exit 0
fi
if ! git cat-file -e "$against:buf.yaml" 2>/dev/null; then
  echo "buf breaking: $against has no buf module yet"; exit 0
fi
echo "buf breaking against $against"
"$buf" breaking --against ".git#ref=$against"
