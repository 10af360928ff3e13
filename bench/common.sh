# shellcheck shell=bash
# Shared settings for the baseline harness. Source it; every value can be
# overridden from the environment before sourcing.
BENCH_SCRIPTS="${BENCH_SCRIPTS:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
BENCH_DIR="${BENCH_DIR:-/tmp/bench}"          # all state lives here
SSH_PORT="${SSH_PORT:-2222}"
SSH_ADDR="${SSH_ADDR:-127.0.0.1}"              # loopback only
SSH_USER="${SSH_USER:-root}"
SSHD_DIR="$BENCH_DIR/sshd"
SSHD_PIDFILE="$BENCH_DIR/sshd.pid"
KEY="$BENCH_DIR/keys/id_ed25519"
REMOTE_HOME="$BENCH_DIR/home"                  # HOME of remote sessions (see sshd-up.sh)
VENV="${VENV:-$BENCH_DIR/venv}"
FLEET_DIR="${FLEET_DIR:-$BENCH_DIR/fleet}"                  # per-host "roots": $FLEET_DIR/hostNNN
GEN_DIR="${GEN_DIR:-$BENCH_DIR/gen}"                     # generated inventories, payloads
CP_DIR="${CP_DIR:-$BENCH_DIR/cp}"                       # ControlMaster sockets
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
WORKLOAD_DIR="$GEN_DIR/workload"               # payload*.bin + app.conf.j2
# Environment variable consumed by the template task (the "loadenv" variable).
export BENCH_RELEASE_TAG="${BENCH_RELEASE_TAG:-2024.11-rc3+bench}"
# jetlike: the release build of this repository (bench/run.sh builds it) - override with JETLIKE_BIN
JETLIKE_BIN="${JETLIKE_BIN:-$(cd "$BENCH_SCRIPTS/.." && pwd)/target/release/jetlike}"
# Jet (jetporch, `jetp` on crates.io): setup.sh installs it here when TOOLS names `jet`.
JET_BIN="${JET_BIN:-$BENCH_DIR/jet/bin/jetp}"
# Jet authenticates through ssh-agent only: sshd-up.sh starts one holding the bench key.
AGENT_SOCK="$BENCH_DIR/agent.sock"
# jetlike checks host keys strictly: this ssh_config names the known_hosts sshd-up.sh writes.
JETLIKE_SSH_CONFIG="$BENCH_DIR/jetlike_ssh_config"

SSH_OPTS=(-p "$SSH_PORT" -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes
          -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)

host_name() { printf 'host%03d' "$1"; }
host_list() { local i; for ((i = 1; i <= $1; i++)); do host_name "$i"; echo; done; }
die() { echo "error: $*" >&2; exit 1; }

# For the single-binary memory benches (output-memory.sh, copy-memory.sh): GNU time is
# required, and BINS gets the jetlike binaries to compare (the arguments, or $JETLIKE_BIN).
bench_binaries() {
  TIME=/usr/bin/time
  [[ -x $TIME ]] || die "GNU time is needed: apt-get install -y time"
  BINS=()
  local b
  for b in "${@:-$JETLIKE_BIN}"; do BINS+=("$(realpath "$b")"); done
}

# host_vars of one inventory host served by the private loopback sshd.
loopback_host_vars() {
  printf 'jet_ssh_hostname: %s\njet_ssh_port: %s\njet_ssh_user: %s\njet_ssh_private_key_file: %s\n' \
    "$SSH_ADDR" "$SSH_PORT" "$SSH_USER" "$KEY"
}

# bench_workdir NAME: a scratch directory in $WORK, removed at exit together with this
# bench's own sshd when it started one (SSH=1).
bench_workdir() {
  WORK="$(mktemp -d "/tmp/$1.XXXXXX")"
  trap '{ [[ ${SSH:-0} == 1 ]] && "$BENCH_SCRIPTS/sshd-down.sh" >/dev/null 2>&1; } || true; rm -rf "$WORK"' EXIT
}
