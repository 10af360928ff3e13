//! SSH mode against a real sshd on loopback: every module, attributes, check mode, sudo,
//! unreachable and untrusted hosts, a host dropping mid-run, --threads 1, idempotence, and
//! secrets that must not come back through remote output.

mod project;
mod sshd;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use project::{Project, Run};
use sshd::Sshd;

struct Fleet {
    p: Project,
    sshd: Sshd,
}

impl Fleet {
    /// `hosts` inventory hosts in group `web`, all served by one sshd, each with its own root.
    fn new(hosts: &[&str]) -> Fleet {
        let p = Project::new();
        let sshd = Sshd::start();
        p.file(
            "inv/groups/web",
            &format!("hosts: [{}]\n", hosts.join(", ")),
        );
        for h in hosts {
            let root = p.path().join("hosts").join(h);
            std::fs::create_dir_all(&root).unwrap();
            p.file(&format!("inv/host_vars/{h}"), &sshd.host_vars(&root));
        }
        Fleet { p, sshd }
    }

    fn root(&self, host: &str) -> PathBuf {
        self.p.path().join("hosts").join(host)
    }

    fn run(&self, mode: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let cfg = self.sshd.ssh_config.to_str().unwrap().to_string();
        let mut args = vec![
            mode,
            "-p",
            "playbooks/pb.yml",
            "-i",
            "inv",
            "--ssh-config",
            &cfg,
            "--connect-timeout",
            "5",
        ];
        args.extend_from_slice(extra);
        self.p.run_env(&args, env)
    }
}

const MODULES: &str = r#"- name: all modules
  groups: [web]
  vars: {app: demo}
  tasks:
    - !shell
      name: mark
      cmd: echo {{app}} > {{root_dir}}/shell.txt
    - !copy
      src: payload.bin
      dest: "{{root_dir}}/payload.bin"
      attributes: {mode: 0o640}
    - !template
      src: app.conf.hb
      dest: "{{root_dir}}/app.conf"
"#;

fn modules_fleet() -> Fleet {
    let f = Fleet::new(&["h1", "h2", "h3"]);
    f.p.file("files/payload.bin", &"0123456789abcdef".repeat(256))
        .file(
            "templates/app.conf.hb",
            "app={{app}} root={{root_dir}} token={{ENV_TOKEN}}\n",
        )
        .file("playbooks/pb.yml", MODULES);
    f
}

#[test]
fn every_module_creates_then_matches() {
    let f = modules_fleet();
    let env = [("TOKEN", "tok-0123456789-abcdef")];
    let r = f.run("ssh", &["--loadenv", "--output", "json"], &env);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.statuses().iter().filter(|s| *s == "created").count(),
        6,
        "{}",
        r.stdout
    );
    for h in ["h1", "h2", "h3"] {
        let root = f.root(h);
        assert_eq!(
            std::fs::read_to_string(root.join("shell.txt")).unwrap(),
            "demo\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("payload.bin")).unwrap(),
            "0123456789abcdef".repeat(256)
        );
        assert_eq!(
            std::fs::metadata(root.join("payload.bin"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_to_string(root.join("app.conf")).unwrap(),
            format!(
                "app=demo root={} token=tok-0123456789-abcdef\n",
                root.display()
            )
        );
        assert_eq!(
            std::fs::metadata(root.join("app.conf"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let again = f.run("ssh", &["--loadenv", "--output", "json"], &env);
    assert_eq!(again.code, 0, "{}", again.all());
    let mut st = again.statuses();
    st.sort();
    assert_eq!(
        st,
        [
            "complete", "complete", "complete", "matched", "matched", "matched", "matched",
            "matched", "matched"
        ]
    );
}

#[test]
fn modify_content_and_mode() {
    let f = modules_fleet();
    let env = [("TOKEN", "tok-0123456789-abcdef")];
    assert_eq!(f.run("ssh", &["--loadenv"], &env).code, 0);
    std::fs::write(f.root("h1").join("payload.bin"), "tampered").unwrap();
    std::fs::set_permissions(
        f.root("h2").join("payload.bin"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = f.run("ssh", &["--loadenv", "--limit-hosts", "h1:h2"], &env);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("h1 [2/3] copy: {{root_dir}}/payload.bin => modified (content)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("h2 [2/3] copy: {{root_dir}}/payload.bin => modified (mode)"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("h3 "), "--limit-hosts: {}", r.stdout);
    assert_eq!(
        std::fs::metadata(f.root("h2").join("payload.bin"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert_eq!(
        std::fs::read_to_string(f.root("h1").join("payload.bin"))
            .unwrap()
            .len(),
        4096
    );
}

#[test]
fn check_mode_changes_nothing_over_ssh() {
    let f = modules_fleet();
    let env = [("TOKEN", "tok-0123456789-abcdef")];
    std::fs::write(f.root("h1").join("app.conf"), "old content\n").unwrap();
    let r = f.run("check-ssh", &["--loadenv"], &env);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("would create"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("h1 [3/3] template: {{root_dir}}/app.conf => would modify (content, mode)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("-<line hidden: held secret content>"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("(ENV_TOKEN: may change)"), "{}", r.stdout);
    assert!(!r.all().contains("tok-0123456789-abcdef"), "{}", r.all());
    assert_eq!(
        std::fs::read_to_string(f.root("h1").join("app.conf")).unwrap(),
        "old content\n"
    );
    assert!(!f.root("h2").join("payload.bin").exists());
    assert!(!f.root("h1").join("shell.txt").exists());
}

#[test]
fn sudo_wraps_the_whole_command() {
    let f = Fleet::new(&["h1"]);
    f.p.file(
        "playbooks/pb.yml",
        "- name: s\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: \"id -un > {{root_dir}}/a && id -un > {{root_dir}}/b\"\n    - !shell\n      cmd: echo $SUDO_USER > {{root_dir}}/c\n      with: {sudo: root}\n",
    );
    let r = f.run("ssh", &["--sudo", "root"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    for file in ["a", "b", "c"] {
        assert_eq!(
            std::fs::read_to_string(f.root("h1").join(file)).unwrap(),
            "root\n",
            "{file}"
        );
    }
}

#[test]
fn unreachable_host_alongside_healthy_ones() {
    let f = Fleet::new(&["h1", "h2"]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    f.p.file("inv/groups/web", "hosts: [h1, h2, dead]\n").file(
        "inv/host_vars/dead",
        &format!("jet_ssh_hostname: 127.0.0.1\njet_ssh_port: {closed}\njet_ssh_user: root\nroot_dir: /nonexistent\n"),
    );
    f.p.file("playbooks/pb.yml", "- name: u\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: touch {{root_dir}}/ok\n    - !shell\n      cmd: \"true\"\n");
    let r = f.run("ssh", &["--output", "json"], &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    let ev = r.events();
    let unreachable: Vec<_> = ev.iter().filter(|e| e["event"] == "unreachable").collect();
    assert_eq!(unreachable.len(), 1, "{}", r.stdout);
    assert_eq!(unreachable[0]["host"], "dead");
    assert!(f.root("h1").join("ok").exists() && f.root("h2").join("ok").exists());
    let recap = ev.last().unwrap();
    assert_eq!(recap["hosts"]["dead"]["unreachable"], 1);
    assert_eq!(recap["hosts"]["h1"]["ok"], 2);
}

#[test]
fn unknown_host_key_is_rejected_unless_accepted() {
    let f = Fleet::new(&["h1"]);
    f.p.file(
        "playbooks/pb.yml",
        "- name: k\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: touch {{root_dir}}/ok\n",
    );
    std::fs::write(&f.sshd.known_hosts, "").unwrap();
    let r = f.run("ssh", &[], &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stdout.contains("unreachable"), "{}", r.stdout);
    assert!(
        r.stdout.contains("known_hosts") && r.stdout.contains("--accept-new-host-keys"),
        "{}",
        r.stdout
    );
    assert!(!f.root("h1").join("ok").exists());
    let r = f.run("ssh", &["--accept-new-host-keys"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(f.root("h1").join("ok").exists());
    assert!(
        std::fs::read_to_string(&f.sshd.known_hosts)
            .unwrap()
            .contains("ssh-ed25519"),
        "key recorded"
    );
}

#[test]
fn host_dropping_mid_run_fails_alone_without_hanging() {
    let f = Fleet::new(&["h1"]);
    let victim = Sshd::start();
    let vroot = f.p.path().join("hosts/victim");
    std::fs::create_dir_all(&vroot).unwrap();
    f.p.file("inv/groups/web", "hosts: [h1, victim]\n")
        .file("inv/host_vars/victim", &victim.host_vars(&vroot));
    // The victim's key goes into the same known_hosts.
    let vkey = std::fs::read_to_string(&victim.known_hosts).unwrap();
    let mut kh = std::fs::read_to_string(&f.sshd.known_hosts).unwrap();
    kh.push_str(&vkey);
    std::fs::write(&f.sshd.known_hosts, kh).unwrap();
    f.p.file(
        "playbooks/pb.yml",
        "- name: d\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: touch {{root_dir}}/started\n    - !shell\n      cmd: sleep 3\n    - !shell\n      cmd: touch {{root_dir}}/finished\n",
    );
    let killer = {
        let vroot = vroot.clone();
        let pid = victim.pid;
        std::thread::spawn(move || {
            for _ in 0..200 {
                if vroot.join("started").exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            let _ = std::process::Command::new("pkill")
                .args(["-KILL", "-P", &pid.to_string()])
                .status();
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        })
    };
    let start = std::time::Instant::now();
    let r = f.run("ssh", &["--output", "json"], &[]);
    killer.join().unwrap();
    assert!(
        start.elapsed() < std::time::Duration::from_secs(40),
        "the run hung"
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        f.root("h1").join("finished").exists(),
        "the healthy host went on"
    );
    assert!(!vroot.join("finished").exists());
    let failed: Vec<_> = r
        .events()
        .into_iter()
        .filter(|e| e["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", r.stdout);
    assert_eq!(failed[0]["host"], "victim");
    drop(victim);
}

#[test]
fn threads_1_runs_hosts_one_at_a_time() {
    let f = Fleet::new(&["h1", "h2", "h3"]);
    f.p.file("playbooks/pb.yml", "- name: t\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: \"true\"\n    - !shell\n      cmd: \"true\"\n");
    let r = f.run("ssh", &["--threads", "1", "--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let hosts: Vec<String> = r
        .events()
        .iter()
        .filter(|e| e["event"] == "task")
        .map(|e| e["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts.len(), 6);
    for pair in hosts.chunks(2) {
        assert_eq!(
            pair[0], pair[1],
            "hosts interleaved with --threads 1: {hosts:?}"
        );
    }
}

#[test]
fn secrets_do_not_come_back_from_remote_output() {
    let canary = "cnry-ssh-7Hq2LmZ9xW4pT8vB3nK6";
    let f = Fleet::new(&["h1", "h2"]);
    f.p.file("templates/s.hb", "secret={{ENV_CANARY}}\n").file(
        "playbooks/pb.yml",
        "- name: s\n  groups: [web]\n  tasks:\n    - !template\n      src: s.hb\n      dest: \"{{root_dir}}/s.conf\"\n    - !shell\n      cmd: cat {{root_dir}}/s.conf; base64 {{root_dir}}/s.conf\n    - !shell\n      cmd: cat {{root_dir}}/s.conf >&2; exit 3\n",
    );
    for extra in [
        &["-vvv"][..],
        &["--output", "json", "-vvv"][..],
        &["--diff"][..],
    ] {
        let mut args = vec!["--loadenv"];
        args.extend_from_slice(extra);
        let r = f.run("ssh", &args, &[("CANARY", canary)]);
        assert_eq!(r.code, 1, "{}", r.all());
        for form in [
            canary.to_string(),
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("secret={canary}\n"),
            ),
        ] {
            assert!(!r.all().contains(&form), "leaked {form}: {}", r.all());
        }
        assert!(r.all().contains("***"), "{}", r.all());
    }
    for h in ["h1", "h2"] {
        assert_eq!(
            std::fs::read_to_string(f.root(h).join("s.conf")).unwrap(),
            format!("secret={canary}\n")
        );
    }
}
