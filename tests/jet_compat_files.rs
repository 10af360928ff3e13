//! Jet's `!directory`, `!file`, `!stat`, `!git`, `!user`, `!group` and `!sd_service`, run
//! from Jet-style playbooks (`tests/jet_compat/files/`) with the built binary, locally and over
//! SSH against a loopback sshd: effects on the file system and the account databases, the
//! second run all matched, and check mode changing nothing.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Fleet, Run, Sshd};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jet_compat/files");

/// Where a run happens: locally (`local`/`check-local`) or on one SSH host (`ssh`/`check-ssh`).
struct Target {
    fleet: Fleet,
    sshd: Option<Sshd>,
}

impl Target {
    fn local() -> Target {
        Target {
            fleet: Fleet::new(),
            sshd: None,
        }
    }

    fn ssh() -> Target {
        let sshd = Sshd::start_on(&["127.0.0.1"]);
        let mut fleet = Fleet::new();
        fleet.host("h1", &sshd, "127.0.0.1");
        fleet.trust(&sshd);
        Target {
            fleet,
            sshd: Some(sshd),
        }
    }

    fn is_ssh(&self) -> bool {
        self.sshd.is_some()
    }

    /// The directory the playbooks work in (`@ROOT@`).
    fn root(&self) -> PathBuf {
        let root = self.fleet.path().join("roots/h1");
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    /// Installs fixture `name` as the playbook, with `@KEY@` placeholders replaced.
    fn playbook(&self, name: &str, subst: &[(&str, &str)]) {
        let mut text = std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap();
        let root = self.root();
        text = text.replace("@ROOT@", root.to_str().unwrap());
        for (k, v) in subst {
            text = text.replace(&format!("@{k}@"), v);
        }
        self.fleet.playbook(&text);
    }

    /// A run (`apply` or `check`), JSON output.
    fn run(&self, check: bool) -> Run {
        let json = ["--output", "json"];
        match (self.is_ssh(), check) {
            (true, false) => self.fleet.run("ssh", &json, &[]),
            (true, true) => self.fleet.run("check-ssh", &json, &[]),
            (false, check) => {
                let mode = if check { "check-local" } else { "local" };
                let out = Command::new(assert_cmd::cargo::cargo_bin("jetlike"))
                    .current_dir(self.fleet.path())
                    .args([mode, "-p", "playbooks/pb.yml"])
                    .args(json)
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap();
                Run {
                    code: out.status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    raw_stdout: out.stdout,
                    raw_stderr: out.stderr,
                    elapsed: std::time::Duration::ZERO,
                }
            }
        }
    }

    fn statuses(r: &Run) -> Vec<String> {
        r.tasks()
            .iter()
            .map(|e| e["status"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn uid_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().uid()
}

fn uid_of_user(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn files_scenario(t: &Target) {
    let root = t.root();
    std::fs::create_dir_all(root.join("tree/sub")).unwrap();
    std::fs::write(root.join("tree/sub/f"), "x").unwrap();
    std::fs::set_permissions(root.join("tree/sub/f"), PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(root.join("old.txt"), "old").unwrap();
    std::fs::create_dir_all(root.join("olddir/inner")).unwrap();
    std::fs::write(root.join("olddir/inner/f"), "x").unwrap();
    t.playbook("files.yml", &[]);

    let check = t.run(true);
    assert_eq!(check.code, 0, "{}", check.all());
    assert_eq!(
        Target::statuses(&check),
        [
            "would_create",
            "would_modify",
            "would_create",
            "would_modify",
            "would_modify",
            "matched",
            "matched",
            "skipped",
            "skipped"
        ],
        "{}",
        check.all()
    );
    assert!(!root.join("app").exists() && root.join("old.txt").exists());
    assert!(root.join("olddir/inner/f").exists());
    assert_eq!(mode_of(&root.join("tree/sub/f")), 0o644);

    let r = t.run(false);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        Target::statuses(&r),
        [
            "created", "modified", "created", "modified", "modified", "matched", "matched",
            "created", "skipped"
        ],
        "{}",
        r.all()
    );
    assert_eq!(
        r.tasks()[1]["changes"],
        serde_json::json!(["mode"]),
        "{}",
        r.all()
    );
    assert!(root.join("app/conf").is_dir());
    assert_eq!(mode_of(&root.join("app/conf")), 0o750);
    for p in ["tree", "tree/sub", "tree/sub/f"] {
        assert_eq!(mode_of(&root.join(p)), 0o700, "{p}");
    }
    assert_eq!(mode_of(&root.join("app/conf/marker")), 0o600);
    assert_eq!(uid_of(&root.join("app/conf/marker")), uid_of_user("nobody"));
    assert_eq!(std::fs::read(root.join("app/conf/marker")).unwrap(), b"");
    assert!(!root.join("old.txt").exists());
    assert!(!root.join("olddir").exists());
    assert!(
        root.join("stat-saw-dir").is_file(),
        "stat's save fed a condition"
    );
    assert!(!root.join("stat-saw-nowhere").exists());

    let again = t.run(false);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        Target::statuses(&again),
        [
            "matched", "matched", "matched", "matched", "matched", "matched", "matched", "matched",
            "skipped"
        ],
        "{}",
        again.all()
    );

    // A change by hand deep in the tree is found (recurse) and repaired.
    std::fs::set_permissions(root.join("tree/sub/f"), PermissionsExt::from_mode(0o640)).unwrap();
    let check = t.run(true);
    assert_eq!(
        Target::statuses(&check)[1],
        "would_modify",
        "{}",
        check.all()
    );
    assert_eq!(mode_of(&root.join("tree/sub/f")), 0o640);
    let r = t.run(false);
    assert_eq!(Target::statuses(&r)[1], "modified", "{}", r.all());
    assert_eq!(mode_of(&root.join("tree/sub/f")), 0o700);

    // An owner changed by hand is put back, and only the owner is reported.
    std::os::unix::fs::chown(root.join("app/conf/marker"), Some(0), None).unwrap();
    let r = t.run(false);
    assert_eq!(Target::statuses(&r)[2], "modified", "{}", r.all());
    assert_eq!(
        r.tasks()[2]["changes"],
        serde_json::json!(["owner"]),
        "{}",
        r.all()
    );
    assert_eq!(uid_of(&root.join("app/conf/marker")), uid_of_user("nobody"));

    // A file where a directory is wanted fails, naming it.
    std::fs::remove_dir_all(root.join("app/conf")).unwrap();
    std::fs::write(root.join("app/conf"), "not a dir").unwrap();
    let r = t.run(false);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("app/conf is not a directory"),
        "{}",
        r.all()
    );
}

#[test]
fn files_local() {
    files_scenario(&Target::local());
}

#[test]
fn files_ssh() {
    files_scenario(&Target::ssh());
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(["-c", "init.defaultBranch=main", "-c", "safe.directory=*"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository with `main` and `release` (one commit ahead), and a work tree to push
/// more commits from.
fn bare_repo(dir: &Path) -> (PathBuf, PathBuf) {
    let bare = dir.join("repo.git");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(dir, &["init", "--quiet", "--bare", bare.to_str().unwrap()]);
    git(&work, &["init", "--quiet"]);
    std::fs::write(work.join("README"), "main\n").unwrap();
    git(&work, &["add", "README"]);
    git(&work, &["commit", "--quiet", "-m", "main"]);
    git(&work, &["checkout", "--quiet", "-b", "release"]);
    std::fs::write(work.join("VERSION"), "1\n").unwrap();
    git(&work, &["add", "VERSION"]);
    git(&work, &["commit", "--quiet", "-m", "release 1"]);
    git(
        &work,
        &["push", "--quiet", bare.to_str().unwrap(), "main", "release"],
    );
    (bare, work)
}

fn git_scenario(t: &Target) {
    let repos = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(repos.path());
    let release = git(&work, &["rev-parse", "release"]);
    t.playbook("git.yml", &[("REPO", bare.to_str().unwrap())]);
    let checkout = t.root().join("checkout");

    let check = t.run(true);
    assert_eq!(
        Target::statuses(&check),
        ["would_create"],
        "{}",
        check.all()
    );
    assert!(!checkout.exists());

    let r = t.run(false);
    assert_eq!(Target::statuses(&r), ["created"], "{}", r.all());
    assert_eq!(git(&checkout, &["rev-parse", "HEAD"]), release);
    assert_eq!(
        git(&checkout, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "release"
    );
    assert_eq!(
        std::fs::read_to_string(checkout.join("VERSION")).unwrap(),
        "1\n"
    );
    assert_eq!(mode_of(&checkout), 0o750);
    assert_eq!(mode_of(&checkout.join("VERSION")), 0o750);

    let again = t.run(false);
    assert_eq!(Target::statuses(&again), ["matched"], "{}", again.all());

    // A new commit on the branch: check mode sees it, applying fast-forwards to it.
    std::fs::write(work.join("VERSION"), "2\n").unwrap();
    git(&work, &["commit", "--quiet", "-am", "release 2"]);
    git(
        &work,
        &["push", "--quiet", bare.to_str().unwrap(), "release"],
    );
    let release2 = git(&work, &["rev-parse", "release"]);
    let check = t.run(true);
    assert_eq!(
        Target::statuses(&check),
        ["would_modify"],
        "{}",
        check.all()
    );
    assert_eq!(git(&checkout, &["rev-parse", "HEAD"]), release);
    let r = t.run(false);
    assert_eq!(Target::statuses(&r), ["modified"], "{}", r.all());
    assert!(
        r.tasks()[0]["changes"].to_string().contains("version"),
        "{}",
        r.all()
    );
    assert_eq!(git(&checkout, &["rev-parse", "HEAD"]), release2);
    assert_eq!(
        std::fs::read_to_string(checkout.join("VERSION")).unwrap(),
        "2\n"
    );
    // The new file's mode was set as well (attributes apply to the whole tree).
    assert_eq!(mode_of(&checkout.join("VERSION")), 0o750);
    assert_eq!(Target::statuses(&t.run(false)), ["matched"]);

    // Another branch: switched to, at that branch's commit.
    let main = git(&work, &["rev-parse", "main"]);
    let text = std::fs::read_to_string(t.fleet.path().join("playbooks/pb.yml")).unwrap();
    t.fleet
        .playbook(&text.replace("branch: release", "branch: main"));
    let r = t.run(false);
    assert_eq!(Target::statuses(&r), ["modified"], "{}", r.all());
    assert!(
        r.tasks()[0]["changes"].to_string().contains("branch"),
        "{}",
        r.all()
    );
    assert_eq!(
        git(&checkout, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main"
    );
    assert_eq!(git(&checkout, &["rev-parse", "HEAD"]), main);
    assert!(!checkout.join("VERSION").exists());
    assert_eq!(Target::statuses(&t.run(false)), ["matched"]);
}

#[test]
fn git_local() {
    git_scenario(&Target::local());
}

#[test]
fn git_ssh() {
    git_scenario(&Target::ssh());
}

/// Removes the test's accounts however the test ends.
struct Accounts {
    user: String,
    group: String,
}

impl Drop for Accounts {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.user).output();
        for g in [&self.user, &self.group] {
            let _ = Command::new("groupdel").arg(g).output();
        }
    }
}

fn passwd_line(user: &str) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .map(str::to_string)
}

fn group_line(group: &str) -> Option<String> {
    let groups = std::fs::read_to_string("/etc/group").unwrap();
    groups
        .lines()
        .find(|l| l.split(':').next() == Some(group))
        .map(str::to_string)
}

fn accounts_scenario(t: &Target) {
    let tag = format!("{:08x}", rand_u32());
    let acc = Accounts {
        user: format!("jetlike-t-{tag}"),
        group: format!("jetlike-g-{tag}"),
    };
    let subst = [("USER", acc.user.as_str()), ("GROUP", acc.group.as_str())];
    t.playbook("accounts.yml", &subst);

    let check = t.run(true);
    assert_eq!(
        Target::statuses(&check),
        ["would_create", "would_create"],
        "{}",
        check.all()
    );
    assert!(passwd_line(&acc.user).is_none() && group_line(&acc.group).is_none());

    let r = t.run(false);
    assert_eq!(Target::statuses(&r), ["created", "created"], "{}", r.all());
    let line = passwd_line(&acc.user).expect("user created");
    assert_eq!(line.split(':').nth(6), Some("/bin/sh"), "{line}");
    assert_eq!(line.split(':').nth(4), Some("Jetlike Test"), "{line}");
    let members = group_line(&acc.group).expect("group created");
    assert!(members.ends_with(&format!(":{}", acc.user)), "{members}");

    assert_eq!(Target::statuses(&t.run(false)), ["matched", "matched"]);

    // A shell changed by hand is put back, and only the shell is reported.
    let out = Command::new("usermod")
        .args(["-s", "/bin/false", &acc.user])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = t.run(false);
    assert_eq!(Target::statuses(&r), ["matched", "modified"], "{}", r.all());
    assert_eq!(
        r.tasks()[1]["changes"],
        serde_json::json!(["shell"]),
        "{}",
        r.all()
    );
    assert_eq!(
        passwd_line(&acc.user).unwrap().split(':').nth(6),
        Some("/bin/sh")
    );

    t.playbook("accounts_removed.yml", &subst);
    let check = t.run(true);
    assert_eq!(
        Target::statuses(&check),
        ["would_modify", "would_modify"],
        "{}",
        check.all()
    );
    assert!(passwd_line(&acc.user).is_some());
    let r = t.run(false);
    assert_eq!(
        Target::statuses(&r),
        ["modified", "modified"],
        "{}",
        r.all()
    );
    assert!(passwd_line(&acc.user).is_none() && group_line(&acc.group).is_none());
    assert_eq!(Target::statuses(&t.run(false)), ["matched", "matched"]);
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

/// Local and SSH in one test: `useradd` runs in parallel tests could race on /etc/passwd's
/// lock.
#[test]
fn accounts_local_then_ssh() {
    if !nix_is_root() {
        eprintln!("skipped: !user and !group need root");
        return;
    }
    accounts_scenario(&Target::local());
    accounts_scenario(&Target::ssh());
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn sd_service_without_systemd_says_so() {
    if Path::new("/run/systemd/system").exists() {
        eprintln!("skipped: systemd is running here");
        return;
    }
    for (t, host) in [(Target::local(), "localhost"), (Target::ssh(), "h1")] {
        t.playbook("service.yml", &[]);
        let r = t.run(false);
        assert_ne!(r.code, 0, "{}", r.all());
        assert!(
            r.stdout.contains(&format!(
                "systemd is not running on {host}: !sd_service needs systemctl"
            )) && r.stdout.contains("!sd_service needs systemctl"),
            "{}",
            r.all()
        );
    }
}

/// Every templated field of the new modules is under the ENV_ policy: a reference is refused
/// before anything runs (exit 3), naming the field.
#[test]
fn env_references_in_the_new_modules_are_refused_before_the_run() {
    let cases = [
        ("!directory", "path: \"/tmp/{{ENV_SECRET}}\"", "path"),
        (
            "!file",
            "path: /tmp/x\n      attributes: {owner: \"{{ENV_SECRET}}\"}",
            "owner",
        ),
        ("!stat", "path: \"{{ENV_SECRET}}\"\n      save: s", "path"),
        (
            "!git",
            "repo: \"{{ENV_SECRET}}\"\n      path: /tmp/x",
            "repo",
        ),
        (
            "!git",
            "repo: r\n      path: /tmp/x\n      ssh_options: {Port: \"{{ENV_SECRET}}\"}",
            "Port",
        ),
        (
            "!user",
            "user: u\n      groups: [\"{{ENV_SECRET}}\"]",
            "groups",
        ),
        (
            "!group",
            "group: g\n      remove: \"{{ENV_SECRET}}\"",
            "remove",
        ),
        (
            "!sd_service",
            "service: s\n      started: \"{{ENV_SECRET}}\"",
            "started",
        ),
    ];
    for (tag, fields, field) in cases {
        let t = Target::local();
        let marker = t.root().join("ran");
        t.fleet.playbook(&format!(
            "- name: web\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch {}\n    - {tag}\n      {fields}\n",
            marker.display()
        ));
        let out = Command::new(assert_cmd::cargo::cargo_bin("jetlike"))
            .current_dir(t.fleet.path())
            .args(["local", "-p", "playbooks/pb.yml", "--loadenv"])
            .env("SECRET", "policy-canary-value")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{tag} {field}: {stderr}");
        assert!(
            stderr.contains("ENV_SECRET") && stderr.contains(field),
            "{tag} {field}: {stderr}"
        );
        assert!(!stderr.contains("policy-canary-value"), "{stderr}");
        assert!(!marker.exists(), "{tag}: something ran");
    }
}
