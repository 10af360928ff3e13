#!/usr/bin/env bash
# Memory and wall time of a large command output (issue 16), side by side with the bare command.
#
#   bench/output-memory.sh [JETLIKE_BIN...]
#
# One `!shell` prints $BYTES bytes (default 200 MB) of log-like lines. Measured, each with
# GNU time (peak RSS of the process, wall time), best of $REPS runs:
#   bare        the command alone, output to /dev/null (over SSH too, as "ssh bare")
#   quiet       jetlike local, no -v
#   vvv         jetlike local -vvv, stdout to /dev/null
# Both with $SECRETS secrets loaded (--loadenv) and used by a template, so all are masked.
#   ssh-quiet / ssh-vvv   the same against a private loopback sshd (bench/sshd-up.sh on its
#               own BENCH_DIR and port, stopped at the end), unless SSH=0
#   ssh N hosts $FLEET hosts (default 10) each printing $FLEET_BYTES (default 50 MB) at once
# Several binaries can be given (e.g. a build from before a change, then the current one).
# Targets: peak RSS <= 64 MB (N hosts: 64 MB + 2 MB per host); quiet <= 2x bare; vvv with 100 secrets <= 5x bare. "bare | cat"
# shows what merely reading the output through a pipe costs on the machine.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BYTES="${BYTES:-200000000}"
SECRETS="${SECRETS:-100}"
REPS="${REPS:-3}"
SSH="${SSH:-1}"
FLEET="${FLEET:-10}"                 # hosts printing at once (over SSH); 0: skip
FLEET_BYTES="${FLEET_BYTES:-50000000}"
export BENCH_DIR="${OUTPUT_BENCH_DIR:-/tmp/bench-output-memory}"
export SSH_PORT="${OUTPUT_BENCH_PORT:-2297}"
source "$HERE/common.sh"
bench_binaries "$@"

bench_workdir output-memory

LINE='2026-12-03T10:00:00Z INFO worker[42] processed request id=7f3a path=/api/v1/items status=200'
CMD="yes '$LINE' | head -c $BYTES"
mkdir -p "$WORK/playbooks" "$WORK/inv/groups" "$WORK/inv/host_vars"
cat > "$WORK/playbooks/pb.yml" <<YML
- name: big output
  groups: [fleet]
  tasks:
    - !shell
      name: print $BYTES bytes
      cmd: "$CMD"
    - !template
      name: render the secrets
      src: secrets.hb
      dest: "$WORK/out/secrets.conf"
YML

# $SECRETS random secrets in the environment, loaded with --loadenv and used by a template
# (only the values templates use are secrets: all of them are masked, with their encodings).
SECRET_ENV=()
mkdir -p "$WORK/templates" "$WORK/out"
: > "$WORK/templates/secrets.hb"
for i in $(seq -w 1 "$SECRETS"); do
  SECRET_ENV+=("BENCH_SECRET_$i=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')")
  echo "s$i={{ENV_BENCH_SECRET_$i}}" >> "$WORK/templates/secrets.hb"
done

measure() { # label cmd... -> "label wall_s peak_rss_mb", best wall of $REPS
  local label=$1; shift
  local best="" rss=0
  for _ in $(seq "$REPS"); do
    $TIME -f '%e %M' -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || {
      cat "$WORK/err" >&2; die "$label failed"; }
    read -r wall kb < "$WORK/t"
    if [[ -z $best ]] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; fi
    (( kb > rss )) && rss=$kb
  done
  printf '%-28s %8.2f s %8.1f MB\n' "$label" "$best" "$(awk "BEGIN{print $rss/1024}")"
}

if [[ $SSH == 1 ]]; then
  "$HERE/sshd-up.sh" >/dev/null
  loopback_host_vars > "$WORK/inv/host_vars/bench1"
  echo "hosts: [bench1]" > "$WORK/inv/groups/fleet"
  # $FLEET hosts (all on the one loopback sshd, each its own connection) printing
  # $FLEET_BYTES each at once.
  many=()
  for i in $(seq -w 1 "$FLEET"); do
    cp "$WORK/inv/host_vars/bench1" "$WORK/inv/host_vars/many$i"
    many+=("many$i")
  done
  echo "hosts: [$(IFS=,; echo "${many[*]}")]" > "$WORK/inv/groups/many"
  cat > "$WORK/playbooks/many.yml" <<YML
- name: many hosts, big output
  groups: [many]
  tasks:
    - !shell
      name: print $FLEET_BYTES bytes
      cmd: "yes '$LINE' | head -c $FLEET_BYTES"
YML
else
  echo "hosts: []" > "$WORK/inv/groups/fleet"
fi

cd "$WORK"
echo "output: $BYTES bytes; $SECRETS secrets for -vvv; best of $REPS; peak RSS = max of the runs"
measure "bare" sh -c "$CMD"
# The floor for anything that reads the output: the bare command writes straight into
# /dev/null, a reader must copy every byte out of a pipe.
measure "bare | cat" sh -c "$CMD | cat"
if [[ $SSH == 1 ]]; then
  # The same command over one fresh SSH connection to the same sshd, output to /dev/null:
  # what the SSH rows compare with (handshake and the encrypted transfer included).
  measure "ssh bare" ssh "${SSH_OPTS[@]}" "$SSH_USER@$SSH_ADDR" "$CMD"
fi
for bin in "${BINS[@]}"; do
  echo "== $bin"
  measure "local quiet" env "${SECRET_ENV[@]}" "$bin" local -p playbooks/pb.yml --loadenv
  measure "local -vvv, $SECRETS secrets" env "${SECRET_ENV[@]}" "$bin" local -p playbooks/pb.yml --loadenv -vvv
  if [[ $SSH == 1 ]]; then
    ssh_args=(ssh -p playbooks/pb.yml -i inv --ssh-config "$JETLIKE_SSH_CONFIG")
    measure "ssh quiet" env "${SECRET_ENV[@]}" "$bin" "${ssh_args[@]}" --loadenv
    measure "ssh -vvv, $SECRETS secrets" env "${SECRET_ENV[@]}" "$bin" "${ssh_args[@]}" --loadenv -vvv
    if [[ $FLEET -gt 0 ]]; then
      many_args=(ssh -p playbooks/many.yml -i inv --ssh-config "$JETLIKE_SSH_CONFIG")
      measure "ssh $FLEET hosts quiet" "$bin" "${many_args[@]}"
      measure "ssh $FLEET hosts -vvv" "$bin" "${many_args[@]}" -vvv
    fi
  fi
done
