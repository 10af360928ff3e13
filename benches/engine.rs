//! Engine overhead per host-task (`cargo bench --bench engine`): everything jetlike does
//! for a task on a host except the I/O to the host — loading, variable precedence,
//! templating, conditions, planning, events and output. A check run over an inventory whose
//! hosts all resolve to this machine (`jet_ssh_hostname: localhost`, so no SSH and, in check
//! mode, no command runs) is timed at two fleet sizes; the difference divided by the extra
//! host-tasks removes process start and loading. Jet's simulate mode does the same job in
//! about 18 µs per host-task. Prints figures; no timing is asserted anywhere.
#![allow(clippy::cast_precision_loss)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const TASKS: usize = 20;

fn project(dir: &Path, hosts: usize) {
    let w = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let names: Vec<String> = (0..hosts).map(|i| format!("h{i:05}")).collect();
    w(
        "inv/groups/web",
        &format!("hosts: [{}]\n", names.join(", ")),
    );
    w(
        "inv/group_vars/web",
        "jet_ssh_hostname: localhost\nport: 8080\nusers: [a, b, c]\n",
    );
    for n in &names {
        w(&format!("inv/host_vars/{n}"), &format!("label: {n}\n"));
    }
    // Workload W's shape without its I/O: 10 commands, 5 messages, 5 variables set, each
    // templated from host, group and play variables.
    let mut tasks = String::new();
    for i in 0..TASKS / 2 {
        tasks.push_str(&format!(
            "    - !shell\n      name: cmd {i}\n      cmd: echo {{{{label}}}} {{{{port}}}} {i}\n"
        ));
    }
    for i in 0..TASKS / 4 {
        tasks.push_str(&format!(
            "    - !echo\n      name: say {i}\n      msg: \"{{{{label}}}} listens on {{{{port}}}}\"\n      with:\n        condition: (eq port 8080)\n"
        ));
    }
    for i in 0..TASKS / 4 {
        tasks.push_str(&format!(
            "    - !echo\n      name: tell {i}\n      msg: \"{{{{app}}}}-{{{{label}}}}-{i}\"\n"
        ));
    }
    w(
        "pb.yml",
        &format!("- name: w\n  groups: [web]\n  vars:\n    app: demo\n  tasks:\n{tasks}"),
    );
}

/// CPU seconds used by this process's waited-for children (`cutime + cstime` of
/// `/proc/self/stat`, in clock ticks of 1/100 s): on a shared machine the CPU a run costs is
/// steadier than its wall time.
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // cutime and cstime are fields 16 and 17 (1-based), 13 and 14 here.
    (tick(13) + tick(14)) / 100.0
}

/// (wall, CPU) seconds for one check run over `hosts` hosts (best of `reps` each).
fn time(hosts: usize, reps: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), hosts);
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    for _ in 0..reps {
        let cpu = children_cpu();
        let start = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_jetlike"))
            .current_dir(dir.path())
            .args(["check-ssh", "-p", "pb.yml", "-i", "inv", "--output", "json"])
            .args(["--threads", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .unwrap();
        assert!(status.success(), "the bench run failed");
        best = best.min(start.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(children_cpu() - cpu);
    }
    (best, best_cpu)
}

fn main() {
    let small = 10;
    let reps = 5;
    let (base, base_cpu) = time(small, reps);
    println!(
        "engine: {small} hosts x {TASKS} tasks: {base:.3} s wall, {base_cpu:.2} s CPU (start, load, run)"
    );
    for hosts in [500, 2000] {
        let (t, cpu) = time(hosts, reps);
        let extra = ((hosts - small) * TASKS) as f64;
        println!(
            "engine: {hosts} hosts x {TASKS} tasks: {t:.3} s wall, {cpu:.2} s CPU -> {:.1} µs wall, {:.1} µs CPU per host-task (Jet simulate: 18)",
            (t - base) / extra * 1e6,
            (cpu - base_cpu) / extra * 1e6
        );
    }
}
