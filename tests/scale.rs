//! Spreading a fleet over several controllers: `--shard K/N` covers every host exactly once,
//! and a sharded check run reports what the unsharded one does.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use support::{Fleet, Sshd};

const ADDRS: [&str; 4] = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];
const HOSTS: usize = 12;

/// Twelve hosts over four loopback addresses of one sshd.
fn fleet() -> (Fleet, Sshd) {
    let sshd = Sshd::start_on(&ADDRS);
    let mut f = Fleet::new();
    for i in 0..HOSTS {
        f.host(&format!("node-{i:02}"), &sshd, ADDRS[i % ADDRS.len()]);
    }
    f.trust(&sshd);
    f.file("files/motd", "welcome\n");
    f.playbook(
        "- name: shard\n  groups: [web]\n  tasks:\n    - !copy\n      src: motd\n      dest: \"{{root_dir}}/motd\"\n    - !shell\n      cmd: echo {{root_dir}} > {{root_dir}}/name\n",
    );
    (f, sshd)
}

/// (host, task) -> (status, changes) of every task event.
fn outcome(run: &support::Run) -> BTreeMap<(String, String), (String, String)> {
    run.tasks()
        .iter()
        .map(|t| {
            (
                (
                    t["host"].as_str().unwrap().to_string(),
                    t["task"].as_str().unwrap().to_string(),
                ),
                (t["status"].to_string(), t["changes"].to_string()),
            )
        })
        .collect()
}

#[test]
fn shards_cover_every_host_once_and_report_what_the_whole_run_does() {
    let (f, _sshd) = fleet();
    let whole = f.run("check-ssh", &["--output", "json"], &[]);
    assert_eq!(whole.code, 0, "{}", whole.all());
    let whole = outcome(&whole);
    let all_hosts: BTreeSet<String> = whole.keys().map(|(h, _)| h.clone()).collect();
    assert_eq!(all_hosts.len(), HOSTS);

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut sharded = BTreeMap::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let r = f.run("check-ssh", &["--output", "json", "--shard", &shard], &[]);
        assert_eq!(r.code, 0, "{}", r.all());
        let o = outcome(&r);
        for host in o.keys().map(|(h, _)| h.clone()).collect::<BTreeSet<_>>() {
            *seen.entry(host).or_default() += 1;
        }
        sharded.extend(o);
    }
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), all_hosts);
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    assert_eq!(sharded, whole);

    // Applying shard by shard converges the whole fleet.
    for k in 1..=3 {
        let r = f.run("ssh", &["--shard", &format!("{k}/3")], &[]);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    for i in 0..HOSTS {
        let h = format!("node-{i:02}");
        assert_eq!(f.read(&h, "name"), format!("{}\n", f.root(&h).display()));
        assert_eq!(f.read(&h, "motd"), "welcome\n");
    }
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let (f, _sshd) = fleet();
    for bad in ["0/3", "4/3", "x"] {
        let r = f.run("check-ssh", &["--shard", bad], &[]);
        assert_eq!(r.code, 2, "{bad}: {}", r.all());
        assert!(r.stderr.contains("K/N"), "{}", r.stderr);
    }
}

/// The `ssh` master processes serving `fleet` now (their command line names its `ssh_config`).
fn masters(fleet: &Fleet) -> usize {
    let config = fleet.ssh_config.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmd| {
            let args: Vec<String> = cmd
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.first().is_some_and(|a| a.ends_with("ssh"))
                && args.iter().any(|a| a == "-M")
                && args.iter().any(|a| a.contains(&config))
        })
        .count()
}

#[test]
fn open_connections_are_bounded_by_threads_not_by_the_fleet() {
    const MANY: usize = 100;
    const THREADS: usize = 4;
    let sshd = Sshd::start_on(&ADDRS);
    let mut f = Fleet::new();
    for i in 0..MANY {
        f.host(&format!("n{i:03}"), &sshd, ADDRS[i % ADDRS.len()]);
    }
    f.trust(&sshd);
    // Two plays: hosts stay selected across them, then each is closed after its last.
    f.playbook(
        "- name: one\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: echo one > {{root_dir}}/one\n- name: two\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: echo two > {{root_dir}}/two\n",
    );
    let mut child = f
        .command("ssh", &["--threads", &THREADS.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let started = std::time::Instant::now();
    let status = loop {
        peak = peak.max(masters(&f));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed().as_secs() < 600, "the run did not finish");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    for i in [0, MANY / 2, MANY - 1] {
        let h = format!("n{i:03}");
        assert_eq!(f.read(&h, "two"), "two\n");
    }
    // In use: at most one per host in flight; idle: at most --threads; plus masters being
    // opened or still exiting at this instant (a loaded machine is slow to reap them).
    eprintln!("peak {peak} masters for {MANY} hosts at --threads {THREADS}");
    assert!(
        peak > 0,
        "no master was ever seen: the count is not measuring anything"
    );
    assert!(
        peak <= 3 * THREADS,
        "{peak} masters for {MANY} hosts at --threads {THREADS}"
    );
    assert_eq!(masters(&f), 0, "masters left after the run");
}
