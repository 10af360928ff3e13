#!/usr/bin/env bash
# run-tool.sh TOOL N [LOG] - run workload W once with TOOL against the N-host fleet
# (no reset: the caller decides whether this is a first run or a re-run).
# TOOL: ansible | pyinfra | baseline | persist | jetlike | jet | floor
# Parallelism = min(N, MAX_PAR) (MAX_PAR defaults to 50): ansible --forks,
# pyinfra --parallel, baseline/persist xargs -P, jetlike --threads.
# Tool output goes to LOG (default $RESULTS_DIR/logs/TOOL-nN-last.log).
set -euo pipefail
source "$(dirname "$0")/common.sh"
TOOL="${1:?usage: run-tool.sh TOOL N [LOG]}"; N="${2:?usage: run-tool.sh TOOL N [LOG]}"
LOG="${3:-$RESULTS_DIR/logs/$TOOL-n$N-last.log}"
PAR=$(( N < ${MAX_PAR:-50} ? N : ${MAX_PAR:-50} ))
INV="$GEN_DIR/n$N"
[[ -d "$INV" ]] || die "no inventories for N=$N - run gen-fleet.sh $N"
mkdir -p "$(dirname "$LOG")" "$BENCH_DIR/state" "$CP_DIR"
T="$BENCH_SCRIPTS/tools"
case "$TOOL" in
  ansible)
    export ANSIBLE_CONFIG="$T/ansible/ansible.cfg"
    export ANSIBLE_LOCAL_TEMP="$BENCH_DIR/state/ansible-local" ANSIBLE_REMOTE_TEMP="$BENCH_DIR/state/ansible-remote"
    export ANSIBLE_NOCOLOR=1
    "$VENV/bin/ansible-playbook" -i "$INV/ansible/inventory.ini" --forks "$PAR" "$T/ansible/playbook.yml" > "$LOG" 2>&1 ;;
  pyinfra)
    # -y: no interactive confirmation. Run from the inventory dir so pyinfra finds no stray config.py/group_data.
    (cd "$INV/pyinfra" && "$VENV/bin/pyinfra" -y --parallel "$PAR" inventory.py "$T/pyinfra/deploy.py") > "$LOG" 2>&1 ;;
  baseline)
    "$T/baseline/baseline.sh" "$N" "$PAR" > "$LOG" 2>&1 ;;
  floor)     # the connection floor: N bare `ssh host true`, the same parallelism (no workload)
    P="$PAR" "$BENCH_SCRIPTS/connect-floor.sh" "$N" > "$LOG" 2>&1 ;;
  persist)   # extra floor: one persistent remote shell per host (see tools/persist/persist.sh)
    "$T/persist/persist.sh" "$N" "$PAR" > "$LOG" 2>&1 ;;
  jetlike)
    # --loadenv exposes BENCH_RELEASE_TAG (exported by common.sh) to the template as
    # ENV_BENCH_RELEASE_TAG; host keys are checked against the known_hosts sshd-up.sh wrote.
    [[ -x "$JETLIKE_BIN" ]] || die "jetlike binary not found at $JETLIKE_BIN (cargo build --release, or set JETLIKE_BIN)"
    "$JETLIKE_BIN" ssh --playbooks "$T/jetlike/playbook.yml" --inventory "$INV/jetlike/inventory" \
      --ssh-config "$JETLIKE_SSH_CONFIG" --loadenv --threads "$PAR" > "$LOG" 2>&1 ;;
  jet)
    # Jet runs the same playbook (it is Jet's format; app.conf.j2 is valid Handlebars too).
    # It loads the whole environment as ENV_*, so ENV_BENCH_RELEASE_TAG needs no flag.
    [[ -x "$JET_BIN" ]] || die "jetp not found at $JET_BIN (TOOLS=jet bench/setup.sh installs it)"
    (cd "$T/jetlike" && SSH_AUTH_SOCK="$AGENT_SOCK" "$JET_BIN" ssh --playbook playbook.yml \
      --inventory "$INV/jetlike/inventory" --threads "$PAR") > "$LOG" 2>&1 ;;
  *) die "unknown tool '$TOOL' (ansible|pyinfra|baseline|persist|jetlike|jet|floor)" ;;
esac
