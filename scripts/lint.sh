#!/usr/bin/env bash
# The one lint run: golangci-lint with .golangci.yml (staticcheck, revive,
# errorlint, govet, gofumpt, gci, ...), the same for `make lint`,
# scripts/test.sh and CI. The version is pinned here; a missing or other
# version is installed from the Go module proxy into $(go env GOPATH)/bin.
#
#   scripts/lint.sh            lint the whole tree
#   scripts/lint.sh ./prober/...   lint some packages
#   scripts/lint.sh fmt        rewrite files as gofumpt and gci want them
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANGCI_LINT_VERSION=v2.15.0
export PATH="$PATH:/usr/local/go/bin"
bin="$(go env GOPATH)/bin/golangci-lint"

if ! { [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v} "; }; then
  echo "installing golangci-lint $GOLANGCI_LINT_VERSION into $(dirname "$bin") (takes a few minutes once)" >&2
  go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi

if [ "${1:-}" = fmt ]; then
  shift
  exec "$bin" fmt "$@"
fi
# Several worktrees of this repository may lint at once on one machine.
exec "$bin" run --allow-parallel-runners "${@:-./...}"
