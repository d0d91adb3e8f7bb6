#!/usr/bin/env bash
# The whole test suite: lint, unit tests, and the integration tests
# against a real Postfix and a real Prometheus started on loopback.
#
# Run as root on Debian 12 (it installs what the integration tests need with
# apt-get). As non-root, or with SKIP_TESTBED=1, the integration tests skip
# with a message and the rest still runs. Under CI=true nothing may skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin"

step() { printf '\n== %s\n' "$*"; }

with_testbed=0
if [ "$(id -u)" = 0 ] && [ "${SKIP_TESTBED:-0}" != 1 ]; then
  with_testbed=1
  # kubeconform and helm are built from source (helm: minutes of CPU with
  # an empty build cache): started first, they overlap the lint and the
  # test bed's package installs instead of following them.
  tools_log=$(mktemp)
  bash scripts/install-deploy-tools.sh kubeconform helm >"$tools_log" 2>&1 &
  tools_pid=$!
  export SMTP_EXPORTER_DEPLOY_TOOLS=started
fi

step "lint (scripts/lint.sh: golangci-lint with .golangci.yml, govet and gofumpt included)"
bash scripts/lint.sh

if [ "$with_testbed" = 1 ]; then
  step "installing the test tools (Prometheus, Chromium, nftables) and starting the Postfix test bed"
  bash testbed/deps.sh
  # A test bed that was already up (a developer's, shared with other work)
  # stays up; one this run started is stopped at the end.
  stop_at_exit=()
  trap 'for s in "${stop_at_exit[@]}"; do bash "testbed/$s" stop >/dev/null 2>&1 || true; done' EXIT
  if ! bash testbed/postfix.sh status >/dev/null 2>&1; then
    stop_at_exit+=(postfix.sh)
  fi
  bash testbed/postfix.sh start
  # The authoritative DNS server of the mail-domain tests (NSD on 127.0.0.1:10053), after
  # Postfix, whose listeners its zones point at.
  if ! bash testbed/dns.sh status >/dev/null 2>&1; then
    stop_at_exit=(dns.sh "${stop_at_exit[@]}")
  fi
  bash testbed/dns.sh start
  # DNSSEC-signed zones (NSD), a validating resolver (Unbound) and MTA-STS policies (nginx) for
  # the DANE and MTA-STS tests; likewise left up when they were up before.
  if ! bash testbed/dnssec.sh status >/dev/null 2>&1; then
    stop_at_exit=(dnssec.sh "${stop_at_exit[@]}")
  fi
  bash testbed/dnssec.sh start
fi

if [ "$with_testbed" = 1 ]; then
  step "waiting for the kubeconform and helm builds"
  wait "$tools_pid" || { cat "$tools_log"; echo "building kubeconform and helm failed" >&2; exit 1; }
fi

step "go test -race ./..."
go test -race -count=1 -timeout 12m ./...
# The bench driver (go run ./bench, docs/performance.md) is kept working by a
# smoke test of every section; it is not part of ./..., and runs alone here so
# that no other package's tests compete with its real probes for the CPU.
step "bench driver smoke test (go test -tags benchsmoke ./bench)"
go test -race -count=1 -timeout 5m -tags benchsmoke -run TestDriverSmoke ./bench
step "short fuzz run (scripts/fuzz.sh)"; bash scripts/fuzz.sh
