//! The open-file limit: under a soft limit too low for `--threads`, jetlike raises its own
//! and the run succeeds; when the hard limit is too low too, it stops before contacting any
//! host with an error that says what to do.

mod support;

use std::process::Command;

use support::{Fleet, Sshd};

const ADDRS: [&str; 4] = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];

fn fleet(hosts: usize) -> (Fleet, Sshd) {
    let sshd = Sshd::start_on(&ADDRS);
    let mut f = Fleet::new();
    for i in 0..hosts {
        f.host(&format!("node-{i:02}"), &sshd, ADDRS[i % ADDRS.len()]);
    }
    f.trust(&sshd);
    f.playbook(
        "- name: p\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: sleep 1; echo hi > {{root_dir}}/out\n",
    );
    (f, sshd)
}

/// `jetlike ssh EXTRA` after `ulimit` runs `limits` in the same shell.
fn run_limited(f: &Fleet, limits: &str, extra: &[&str]) -> std::process::Output {
    let jetlike = f.command("ssh", extra);
    Command::new("sh")
        .arg("-c")
        .arg(format!("{limits} && exec \"$@\""))
        .arg("sh")
        .arg(jetlike.get_program())
        .args(jetlike.get_args())
        .current_dir(f.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn a_low_soft_limit_is_raised_for_the_threads() {
    let (f, _sshd) = fleet(16);
    let out = run_limited(&f, "ulimit -Sn 40", &["--threads", "16"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    for i in 0..16 {
        assert_eq!(f.read(&format!("node-{i:02}"), "out"), "hi\n");
    }
}

#[test]
fn a_hard_limit_too_low_for_the_threads_is_a_clear_error() {
    let (f, _sshd) = fleet(1);
    let out = run_limited(&f, "ulimit -n 200", &["--threads", "100"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--threads 100 needs up to 864 open files")
            && stderr.contains("at most 200")
            && stderr.contains("lower --threads to 17 or less"),
        "{stderr}"
    );
    assert!(!f.root("node-00").join("out").exists(), "nothing ran");
}
