#!/usr/bin/env bash
# run.sh - the whole benchmark in one command:
#   build jetlike (release) -> setup (apt tools; venv with ansible-core + pyinfra only when
#   TOOLS names them) -> private sshd -> measure.sh -> summary -> stop sshd.
# Knobs (environment), all passed on to measure.sh:
#   TOOLS="persist baseline jetlike jet pyinfra ansible"  NS="1 10 50"  RUNS=3  MEM=1
#   RUNS_<tool>_<N>=k (e.g. RUNS_ansible_50=1)  BENCH_DIR=/tmp/jetlike-bench  SSH_PORT=2232
# Quick pass without the Python tools:
#   TOOLS="persist baseline jetlike" NS="1 10 50" RUNS=3 bench/run.sh
# Results: $BENCH_DIR/results/summary.md (+ per-cell JSON, /usr/bin/time rows, logs, checks.txt).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Own state dir and port by default, so a run never touches another bench's sshd or fleet.
export BENCH_DIR="${BENCH_DIR:-/tmp/jetlike-bench}"
export SSH_PORT="${SSH_PORT:-2232}"
export TOOLS="${TOOLS:-persist baseline jetlike jet pyinfra ansible}"
source "$here/common.sh"

if [[ " $TOOLS " == *" jetlike "* && -z "${JETLIKE_BIN_PREBUILT:-}" ]]; then
  (cd "$here/.." && cargo build --release --quiet)
fi
"$here/setup.sh"
"$here/sshd-up.sh"
trap '"$here/kill-masters.sh"; "$here/sshd-down.sh"' EXIT
rm -rf "$RESULTS_DIR"
"$here/measure.sh"
echo
echo "results: $RESULTS_DIR/summary.md; checks: $RESULTS_DIR/checks.txt"
grep -c ': OK' "$RESULTS_DIR/checks.txt" | xargs echo "checks OK:"
if grep -q 'FAIL' "$RESULTS_DIR/checks.txt"; then
  grep FAIL "$RESULTS_DIR/checks.txt" >&2
  exit 1
fi
