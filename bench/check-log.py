#!/usr/bin/env python3
"""check-log.py TOOL N first|rerun LOG - read a tool's output and check that all N
hosts ran all 20 tasks, and that on a re-run only the 10 shell tasks report a
change (copy/template unchanged). Prints one line; exit 1 on failure."""
import re, sys

tool, n, phase, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
text = open(log, errors="replace").read()
want_changed = 20 if phase == "first" else 10
ok, detail = False, ""
if tool == "ansible":
    recap = re.findall(r"^(host\d+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", text, re.M)
    good = [r for r in recap if r[1] == "20" and int(r[2]) == want_changed and r[3] == "0" and r[4] == "0"]
    ok, detail = len(recap) == n and len(good) == n, f"{len(good)}/{n} hosts ok=20 changed={want_changed}"
elif tool == "pyinfra":
    rows = dict((m[0], m[1:]) for m in re.findall(r"^\s+(shell \d+|copy \d|template \d)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M))
    num = lambda s: 0 if s == "-" else int(s)
    bad = []
    for name, (hosts, succ, err, nochange) in rows.items():
        exp_change = n if (name.startswith("shell") or phase == "first") else 0
        if num(hosts) != n or num(err) or num(succ) != exp_change or num(succ) + num(nochange) != n:
            bad.append(name)
    ok, detail = len(rows) == 20 and not bad, f"{len(rows)} ops in summary, mismatched: {bad or 'none'}"
elif tool in ("baseline", "persist"):
    lines = re.findall(r"^(host\d+) : ok=(\d+) changed=(\d+)", text, re.M)
    good = [l for l in lines if int(l[2]) == want_changed and int(l[1]) == 20 - want_changed]
    ok, detail = len(lines) == n and len(good) == n, f"{len(good)}/{n} hosts changed={want_changed}"
elif tool == "jetlike":
    # Recap rows: host ok changed failed skipped unreachable ignored
    rows = re.findall(r"^\s+(host\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.M)
    good = [r for r in rows if r[1] == "20" and int(r[2]) == want_changed and r[3:] == ("0", "0", "0", "0")]
    ok, detail = len(rows) == n and len(good) == n, f"{len(good)}/{n} hosts ok=20 changed={want_changed}"
elif tool == "jet":
    # One line per task and host: "✓ host001 => created" (colour codes stripped).
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    per = {}
    for host, status in re.findall(r"^✓ (host\d+) => (\w+)", plain, re.M):
        per.setdefault(host, []).append(status)
    want = {"first": {"complete": 10, "created": 10}, "rerun": {"complete": 10, "matched": 10}}[phase]
    good = [h for h, st in per.items() if {s: st.count(s) for s in set(st)} == want]
    ok, detail = len(per) == n and len(good) == n, f"{len(good)}/{n} hosts with {want}"
else:
    print(f"{tool} n={n} {phase}: no log checker for this tool (check {log} by hand)")
    sys.exit(0)
print(f"{tool} n={n} {phase}: {'OK' if ok else 'FAIL'} ({detail})")
sys.exit(0 if ok else 1)
