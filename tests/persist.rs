//! `--persist SECS` and `jetlike disconnect` against a real sshd: a second run reuses the
//! master the first left (the same ssh process answers), `disconnect` closes it, a run
//! without the flag leaves nothing, and a directory other users can reach is refused.

mod support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Fleet, Sshd};

fn fleet() -> (Fleet, Sshd) {
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("web1", &sshd, "127.0.0.1");
    f.trust(&sshd);
    f.playbook(
        "- name: p\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: echo hi > {{root_dir}}/out\n",
    );
    (f, sshd)
}

/// A private TMPDIR for one test, so its masters' directory is its own.
fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("jl-p.").tempdir().unwrap()
}

fn masters_dir(tmp: &Path) -> PathBuf {
    tmp.join(format!("jetlike-{}", nix::unistd::geteuid().as_raw()))
}

fn sockets(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// `ssh -O check` on `socket`: the master's pid when it answers.
fn master_pid(socket: &Path) -> Option<String> {
    let out = Command::new("ssh")
        .arg("-S")
        .arg(socket)
        .args(["-O", "check", "x"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    out.status.success().then(|| {
        text.split("pid=")
            .nth(1)
            .unwrap_or_default()
            .trim_end_matches([')', '\r', '\n'])
            .to_string()
    })
}

fn disconnect(f: &Fleet, tmp: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("jetlike"))
        .current_dir(f.path())
        .arg("disconnect")
        .args(extra)
        .env("TMPDIR", tmp)
        .output()
        .unwrap()
}

#[test]
fn a_second_run_reuses_the_master_and_disconnect_closes_it() {
    let (f, _sshd) = fleet();
    let tmp = tmpdir();
    let env = [("TMPDIR", tmp.path().to_str().unwrap())];
    let first = f.run("ssh", &["--persist", "60"], &env);
    assert_eq!(first.code, 0, "{}", first.all());
    let dir = masters_dir(tmp.path());
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let socks = sockets(&dir);
    assert_eq!(socks.len(), 1, "{socks:?}");
    let pid = master_pid(&socks[0]).expect("the master outlives the run");

    let second = f.run("ssh", &["--persist", "60"], &env);
    assert_eq!(second.code, 0, "{}", second.all());
    assert_eq!(sockets(&dir), socks);
    assert_eq!(
        master_pid(&socks[0]).as_deref(),
        Some(pid.as_str()),
        "the second run reused the first run's master"
    );

    // Another inventory's hosts are not touched.
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other.path().join("groups")).unwrap();
    std::fs::write(other.path().join("groups/db"), "hosts: [db1]\n").unwrap();
    let out = disconnect(&f, tmp.path(), &["-i", other.path().to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "closed 0 persisted SSH connections\n"
    );
    assert!(master_pid(&socks[0]).is_some());

    let out = disconnect(&f, tmp.path(), &["-i", "inv"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "closed 1 persisted SSH connection\n"
    );
    assert!(master_pid(&socks[0]).is_none());
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert!(
        left.is_empty(),
        "disconnect leaves nothing behind: {left:?}"
    );
}

#[test]
fn without_persist_nothing_outlives_the_run() {
    let (f, _sshd) = fleet();
    let tmp = tmpdir();
    let r = f.run("ssh", &[], &[("TMPDIR", tmp.path().to_str().unwrap())]);
    assert_eq!(r.code, 0, "{}", r.all());
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_directory_other_users_can_reach_is_refused() {
    let (f, _sshd) = fleet();
    let tmp = tmpdir();
    let dir = masters_dir(tmp.path());
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = f.run(
        "ssh",
        &["--persist", "30"],
        &[("TMPDIR", tmp.path().to_str().unwrap())],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("refusing to keep SSH connections in")
            && r.stderr.contains("accessible to other users (mode 777)"),
        "{}",
        r.all()
    );
    assert!(sockets(&dir).is_empty());
    assert!(!f.root("web1").join("out").exists(), "nothing ran");
    let out = disconnect(&f, tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
}
