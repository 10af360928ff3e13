#!/usr/bin/env bash
# Memory and wall time of a large `!copy` (issue 11), locally and over a loopback sshd.
#
#   bench/copy-memory.sh [JETLIKE_BIN...]
#
# One `!copy` of a $SIZE-byte file (default 1 GiB, random bytes) with mode 0640. Measured with
# GNU time (peak RSS, the max over jetlike and the processes it waited for, and wall time):
#   local first     jetlike local, the destination absent: hash, write
#   local re-run    the destination unchanged: hash both, send nothing
#   ssh first / ssh re-run   the same against a private loopback sshd (bench/sshd-up.sh on its
#                   own BENCH_DIR and port, stopped at the end), unless SSH=0
# Each copy is checked byte for byte (cmp) and for its mode. "sha256sum" and "cp" show what
# hashing and copying the file cost on the machine. Several binaries can be given (e.g. one
# from before the change, then the current one); a binary that holds the file in memory
# needs several times $SIZE of RAM: give it a smaller SIZE.
# Target: peak RSS under 50 MB whatever $SIZE.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SIZE="${SIZE:-1073741824}"
SSH="${SSH:-1}"
export BENCH_DIR="${COPY_BENCH_DIR:-/tmp/bench-copy-memory}"
export SSH_PORT="${COPY_BENCH_PORT:-2298}"
source "$HERE/common.sh"
bench_binaries "$@"

bench_workdir copy-memory

mkdir -p "$WORK/playbooks" "$WORK/files" "$WORK/inv/groups" "$WORK/inv/host_vars" "$WORK/local" "$WORK/remote"
head -c "$SIZE" /dev/urandom > "$WORK/files/big.bin"
playbook() { # group dest
  cat <<YML
- name: big copy
  groups: [$1]
  tasks:
    - !copy
      name: copy $SIZE bytes
      src: big.bin
      dest: $2
      attributes: {mode: 0o640}
YML
}
playbook all "$WORK/local/big.bin" > "$WORK/playbooks/local.yml"
playbook fleet "$WORK/remote/big.bin" > "$WORK/playbooks/ssh.yml"

measure() { # label cmd... -> "label wall_s peak_rss_mb"
  local label=$1; shift
  $TIME -f '%e %M' -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || {
    cat "$WORK/err" >&2; die "$label failed"; }
  read -r wall kb < "$WORK/t"
  printf '%-28s %8.2f s %8.1f MB\n' "$label" "$wall" "$(awk "BEGIN{print $kb/1024}")"
}

verify() { # dest
  cmp -s "$WORK/files/big.bin" "$1" || die "$1 differs from the source"
  [[ $(stat -c %a "$1") == 640 ]] || die "$1 has mode $(stat -c %a "$1")"
}

if [[ $SSH == 1 ]]; then
  "$HERE/sshd-up.sh" >/dev/null
  loopback_host_vars > "$WORK/inv/host_vars/bench1"
  echo "hosts: [bench1]" > "$WORK/inv/groups/fleet"
fi

cd "$WORK"
echo "copy of $SIZE bytes; peak RSS = GNU time's maximum resident set size"
measure "sha256sum" sha256sum files/big.bin
measure "cp" cp files/big.bin "$WORK/cp.bin"
rm -f "$WORK/cp.bin"
for bin in "${BINS[@]}"; do
  echo "== $bin"
  rm -f local/big.bin
  measure "local first" "$bin" local -p playbooks/local.yml
  verify local/big.bin
  measure "local re-run" "$bin" local -p playbooks/local.yml
  rm -f local/big.bin
  if [[ $SSH == 1 ]]; then
    ssh_args=(ssh -p playbooks/ssh.yml -i inv --ssh-config "$JETLIKE_SSH_CONFIG")
    rm -f remote/big.bin
    measure "ssh first" "$bin" "${ssh_args[@]}"
    verify remote/big.bin
    measure "ssh re-run" "$bin" "${ssh_args[@]}"
    rm -f remote/big.bin
  fi
done
