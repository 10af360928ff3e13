#!/usr/bin/env python3
"""Inventory shapes from issue 17, timed through `show-inventory`.

Usage: bench/inventory-shapes.py [BINARY] [WORKDIR]
(defaults: target/release/jetlike, a fresh temporary directory). Prints, per shape, the exit
code, the best wall time of 3 runs and the output size. Shapes: chains of N subgroups with one
host per group (chainN), N hosts in one group (flatN), a group_vars file nested 50,000 levels
(deepflow `{a: `, deepseq `[`), and a two-group cycle.
"""
import os, subprocess, sys, tempfile, time


def chain(d, n):
    os.makedirs(f"{d}/groups")
    for k in range(n):
        sub = f"\nsubgroups: [g{k + 1}]" if k + 1 < n else ""
        open(f"{d}/groups/g{k}", "w").write(f"hosts: [h{k}]{sub}\n")


def flat(d, n):
    os.makedirs(f"{d}/groups")
    os.makedirs(f"{d}/group_vars")
    open(f"{d}/groups/web", "w").write("hosts:\n" + "".join(f"  - host{i}\n" for i in range(n)))
    open(f"{d}/group_vars/web", "w").write("port: 80\n")


def deep(d, n, open_):
    os.makedirs(f"{d}/groups")
    os.makedirs(f"{d}/group_vars")
    open(f"{d}/groups/web", "w").write("hosts: [a]\n")
    close = "}" if open_.startswith("{") else "]"
    open(f"{d}/group_vars/web", "w").write("x: " + open_ * n + "1" + close * n + "\n")


def cycle(d):
    os.makedirs(f"{d}/groups")
    open(f"{d}/groups/a", "w").write("subgroups: [b]\n")
    open(f"{d}/groups/b", "w").write("hosts: [h]\nsubgroups: [a]\n")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/jetlike"
    work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="jetlike-shapes-")
    shapes = {f"chain{n}": (chain, n) for n in (100, 200, 400, 1000)}
    shapes.update({f"flat{n}": (flat, n) for n in (4000, 10000)})
    for name, (fn, *args) in list(shapes.items()) + [
        ("deepflow", (deep, 50000, "{a: ")),
        ("deepseq", (deep, 50000, "[")),
        ("cycle", (cycle,)),
    ]:
        d = os.path.join(work, name)
        if not os.path.exists(d):
            fn(d, *args)
        best, code, size = None, None, 0
        for _ in range(3):
            t = time.time()
            p = subprocess.run([binary, "show-inventory", "--inventory", d], capture_output=True)
            el = time.time() - t
            best = el if best is None else min(best, el)
            code, size = p.returncode, len(p.stdout)
        print(f"{name:10} exit={code} wall={best:.3f}s stdout={size}B")


main()
