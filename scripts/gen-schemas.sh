#!/usr/bin/env bash
# Regenerates deploy/kubernetes/schemas/*.json, the JSON schemas that
# deploy/deploy_test.go validates the manifests against with kubeconform.
# Inputs come from the Go module proxy (module zips, no git, no other host):
#   k8s.io/kubernetes                         api/openapi-spec/v3/*.json
#   github.com/prometheus-operator/prometheus-operator  example/prometheus-operator-crd/*.yaml
# Bump the versions here, run this, review the diff, commit.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.31.4}
PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}

repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Outside any module, so the download touches neither go.mod nor go.sum.
moddir() {
	(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}
k8s=$(moddir "k8s.io/kubernetes@$K8S_VERSION")
operator=$(moddir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
[ -d "$k8s/api/openapi-spec/v3" ] || { echo "gen-schemas.sh: no OpenAPI documents in $k8s" >&2; exit 1; }
[ -d "$operator/example/prometheus-operator-crd" ] || { echo "gen-schemas.sh: no CRDs in $operator" >&2; exit 1; }

cd "$repo"
go run ./scripts/genschemas \
	-k8s-openapi "$k8s/api/openapi-spec/v3" \
	-crds "$operator/example/prometheus-operator-crd" \
	-k8s-source "k8s.io/kubernetes@$K8S_VERSION" \
	-crd-source "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
	-out deploy/kubernetes/schemas
