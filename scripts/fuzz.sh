#!/usr/bin/env bash
# A short fuzz run of every fuzz target: what a hostile server sends (reply,
# EHLO and whole-conversation parsing) and what a hostile client sends
# (targets). FUZZTIME per target, 5s by default; longer runs find more:
#   FUZZTIME=10m bash scripts/fuzz.sh
# A failure leaves the crashing input in prober/testdata/fuzz/<target>/;
# fix the bug and keep the input there as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
for target in $(go test -list '^Fuzz' ./prober/ | grep '^Fuzz'); do
  echo "fuzzing prober $target for $fuzztime"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" ./prober/
done
