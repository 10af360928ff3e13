#!/usr/bin/env bash
# Times `jetlike lint` on a generated playbook of many tasks (default 1000) against an inventory
# of 50 hosts in 5 groups with per-host variables, so every per-host check runs (50 distinct
# variable sets: the worst case for the per-host checks).
#
#   bench/lint-many-tasks.sh [TASKS] [RUNS]
#
# Uses target/release/jetlike (built if missing; JETLIKE=path overrides). Prints the best and
# median wall time of RUNS runs (default 5) for human and JSON output. Not part of the test
# suite: timings depend on the machine.
set -euo pipefail

tasks=${1:-1000}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${JETLIKE:-$root/target/release/jetlike}
if [[ ! -x $bin ]]; then
    (cd "$root" && cargo build --release --quiet)
fi

# LINT_BENCH_DIR=dir keeps the generated project there (for profiling).
if [[ -n ${LINT_BENCH_DIR:-} ]]; then
    work=$LINT_BENCH_DIR
    if [[ -e $work && ! -e $work/.lint-bench ]]; then
        echo "$work exists and was not made by this script; not touching it" >&2
        exit 2
    fi
    rm -rf "$work"
    mkdir -p "$work"
    touch "$work/.lint-bench"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/playbooks" "$work/templates" "$work/files" "$work/inv/groups" \
    "$work/inv/group_vars" "$work/inv/host_vars"

for g in 0 1 2 3 4; do
    hosts=$(seq -s ', ' -f "h$g-%02g" 1 10)
    echo "hosts: [$hosts]" >"$work/inv/groups/g$g"
    printf 'port: 80%s\nconf_dir: /etc/app%s\n' "$g" "$g" >"$work/inv/group_vars/g$g"
    for h in $(seq -f "h$g-%02g" 1 10); do
        echo "label: $h" >"$work/inv/host_vars/$h"
    done
done
printf '# {{label}}\nport={{port}}\ntoken={{ENV_APP_TOKEN}}\n' >"$work/templates/app.conf.hb"
printf 'name={{ name }}\nport={{ port }}\n' >"$work/templates/plain.conf.j2"
echo "hello" >"$work/files/motd.txt"

pb=$work/playbooks/pb.yml
{
    echo "- name: many tasks"
    echo "  groups: [g0, g1, g2, g3, g4]"
    echo "  vars: {name: bench, items_list: [a, b, c]}"
    echo "  tasks:"
    for i in $(seq 1 "$tasks"); do
        case $((i % 4)) in
        0)
            echo "    - !shell"
            echo "      name: step $i"
            echo "      cmd: echo {{name}} $i {{label}}"
            ;;
        1)
            echo "    - !template"
            echo "      src: app.conf.hb"
            echo "      dest: \"{{conf_dir}}/app-$i.conf\""
            echo "      attributes: {mode: 0o600}"
            ;;
        2)
            echo "    - !template"
            echo "      src: plain.conf.j2"
            echo "      dest: /etc/plain-$i.conf"
            echo "      attributes: {mode: 0o644}"
            echo "      with: {items: items_list}"
            ;;
        3)
            echo "    - !copy"
            echo "      src: motd.txt"
            echo "      dest: /etc/motd-$i"
            echo "      attributes: {mode: 0o644}"
            ;;
        esac
    done
} >"$pb"

cd "$work"
# A sanity run: the generated project must lint clean.
"$bin" lint -p playbooks/pb.yml -i inv --deny-warnings >"$work/out.txt" ||
    {
        tail -20 "$work/out.txt"
        echo "lint did not come out clean" >&2
        exit 1
    }

measure() {
    local label=$1
    shift
    local times=()
    for _ in $(seq 1 "$runs"); do
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000000)))
    done
    local sorted
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    local best median
    best=$(head -1 <<<"$sorted")
    median=$(sed -n "$(((runs + 1) / 2))p" <<<"$sorted")
    printf '%-6s %5d tasks, 50 hosts: best %4d ms, median %4d ms (%d runs)\n' \
        "$label" "$tasks" "$best" "$median" "$runs"
}

measure human "$bin" lint -p playbooks/pb.yml -i inv
measure json "$bin" lint -p playbooks/pb.yml -i inv --format json
