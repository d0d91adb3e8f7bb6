#!/usr/bin/env bash
# A short fuzz run of every fuzz target: what a hostile server sends (reply,
# EHLO and whole-conversation parsing) and what a hostile client sends
# (targets), and the egress state machine's rules under any attempts. Each
# target runs a fixed number of inputs, a few seconds' worth: a duration
# (-fuzztime 5s) would trip Go 1.26's fuzz coordinator, which reports
# "context deadline exceeded" as a failure when the time runs out while a
# worker is busy (golang/go#75804). FUZZTIME overrides the budget
# of every target; longer runs find more:
#   FUZZTIME=2000000x bash scripts/fuzz.sh
# A failure leaves the crashing input in <package>/testdata/fuzz/<target>/;
# fix the bug and keep the input there as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
for pkg in ./prober/ ./dane/ ./mtasts/ ./egress/; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
    case $target in
      FuzzConversation) budget=2000x ;;  # a TCP conversation per input
      FuzzReadReply) budget=8000x ;;
      FuzzVerify) budget=5000x ;;  # an X.509 parse and chain check per input
      *) budget=40000x ;;
    esac
    budget=${FUZZTIME:-$budget}
    echo "fuzzing $pkg $target for $budget"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" "$pkg"
  done
done
