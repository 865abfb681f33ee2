#!/usr/bin/env bash
# Point every manifest at one release: image tags, the migration Jobs' names (a new name
# per version, so the Job runs again on upgrade) and the app.kubernetes.io/version labels.
#   deploy/k8s/set-version.sh 0.2.0        (the version git describe gave the image)
set -euo pipefail
version="${1:?usage: set-version.sh VERSION}"
[[ "$version" =~ ^[0-9A-Za-z.+-]+$ ]] || { echo "not a version: $version" >&2; exit 2; }
tag="${version//+/_}"                         # image tags allow no "+"
name="$(tr '.+_' '---' <<<"${version,,}")"   # object names: lowercase, dashes
cd "$(dirname "$0")"
for manifest in inventory.yaml pricing.yaml verify-ledger.yaml; do
  sed -E -i \
    -e "s#(image: stockroom-[a-z]+):[^[:space:]]+#\1:${tag}#" \
    -e "s#(name: [a-z]+-migrate)-[0-9a-z-]+#\1-${name}#" \
    -e "s#(app.kubernetes.io/version): \"[^\"]*\"#\1: \"${tag}\"#" \
    "$manifest"
done
echo "manifests now at ${version}: kubectl apply the Jobs, wait for them, then the rest"
