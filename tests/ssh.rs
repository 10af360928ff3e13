//! SSH mode end to end, against real sshds on loopback (see tests/support): every module on
//! several hosts, modify paths and attributes, check mode, sudo, unreachable hosts, host-key
//! checking, a host dying mid-run, `--threads 1`, and secrets that must not come back.
//!
//! Each test starts its own sshd(s) and uses its own temp dirs, so they run in parallel.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use support::{free_port, Fleet, Sshd};

const ADDRS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

/// Three hosts h1..h3 on three loopback addresses of one sshd, keys trusted.
fn three_hosts() -> (Fleet, Sshd) {
    let sshd = Sshd::start_on(&ADDRS);
    let mut f = Fleet::new();
    for (i, addr) in ADDRS.iter().enumerate() {
        f.host(&format!("h{}", i + 1), &sshd, addr);
    }
    f.trust(&sshd);
    for (i, _) in ADDRS.iter().enumerate() {
        let h = format!("h{}", i + 1);
        let vars = std::fs::read_to_string(f.path().join(format!("inv/host_vars/{h}"))).unwrap();
        f.file(
            &format!("inv/host_vars/{h}"),
            format!("{vars}host_label: label-{h}\n"),
        );
    }
    (f, sshd)
}

/// Deterministic binary payload: every byte value, including NUL and invalid UTF-8.
fn payload() -> Vec<u8> {
    (0..4096u32)
        .map(|i| u8::try_from(i * 7 % 256).expect("a byte"))
        .collect()
}

const MODULES: &str = r#"- name: modules
  groups: [web]
  vars: {app: demo}
  tasks:
    - !shell
      name: mark
      cmd: echo {{app}} {{host_label}} > {{root_dir}}/shell.txt
    - !copy
      name: payload
      src: payload.bin
      dest: "{{root_dir}}/payload.bin"
    - !template
      name: conf
      src: app.conf.hb
      dest: "{{root_dir}}/app.conf"
"#;

const RELEASE: &str = "rel-2024.11+ssh";

fn modules_fleet() -> (Fleet, Sshd) {
    let (f, sshd) = three_hosts();
    f.file("files/payload.bin", payload())
        .file(
            "templates/app.conf.hb",
            "# generated\nlabel={{host_label}}\napp={{app}}\nroot={{root_dir}}\nrelease={{ENV_RELEASE}}\n",
        )
        .playbook(MODULES);
    (f, sshd)
}

fn no_temp_files_left(f: &Fleet, host: &str) {
    let left: Vec<String> = std::fs::read_dir(f.root(host))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".jetlike"))
        .collect();
    assert!(left.is_empty(), "{host}: temp files left behind: {left:?}");
}

#[test]
fn every_module_on_three_hosts_then_idempotent_rerun() {
    let (f, _sshd) = modules_fleet();
    let env = [("RELEASE", RELEASE)];
    let r = f.run("ssh", &["--loadenv", "--output", "json"], &env);
    assert_eq!(r.code, 0, "{}", r.all());
    for (i, h) in ["h1", "h2", "h3"].iter().enumerate() {
        assert_eq!(
            r.statuses_of(h),
            ["complete", "created", "created"],
            "{}",
            r.all()
        );
        assert_eq!(f.read(h, "shell.txt"), format!("demo label-{h}\n"));
        assert_eq!(
            std::fs::read(f.root(h).join("payload.bin")).unwrap(),
            payload(),
            "{h}: copy is byte-exact"
        );
        assert_eq!(
            f.read(h, "app.conf"),
            format!(
                "# generated\nlabel=label-{h}\napp=demo\nroot={}\nrelease={RELEASE}\n",
                f.root(h).display()
            ),
            "{h} ({})",
            ADDRS[i]
        );
        no_temp_files_left(&f, h);
    }
    let recap = r.recap();
    for h in ["h1", "h2", "h3"] {
        assert_eq!(recap["hosts"][h]["changed"], 3, "{}", r.all());
        assert_eq!(recap["hosts"][h]["failed"], 0, "{}", r.all());
    }

    let again = f.run("ssh", &["--loadenv", "--output", "json"], &env);
    assert_eq!(again.code, 0, "{}", again.all());
    for h in ["h1", "h2", "h3"] {
        assert_eq!(
            again.statuses_of(h),
            ["complete", "matched", "matched"],
            "{}",
            again.all()
        );
        assert_eq!(
            again.recap()["hosts"][h]["changed"],
            1,
            "only the shell task"
        );
        no_temp_files_left(&f, h);
    }
}

#[test]
fn the_environment_reaches_templates_only_with_loadenv() {
    let (f, _sshd) = modules_fleet();
    let r = f.run("ssh", &["--output", "json"], &[("RELEASE", RELEASE)]);
    assert_ne!(r.code, 0, "ENV_RELEASE without --loadenv: {}", r.all());
    for h in ["h1", "h2", "h3"] {
        assert!(!f.root(h).join("app.conf").exists(), "{h}");
    }
}

#[test]
fn modified_content_and_mode_are_detected_and_fixed() {
    let (f, _sshd) = three_hosts();
    f.file("files/payload.bin", payload())
        .file("templates/app.conf.hb", "label={{host_label}}\n")
        .playbook(
            r#"- name: attrs
  groups: [web]
  tasks:
    - !copy
      name: payload
      src: payload.bin
      dest: "{{root_dir}}/payload.bin"
      attributes: {mode: 0o640}
    - !template
      name: conf
      src: app.conf.hb
      dest: "{{root_dir}}/app.conf"
      attributes: {mode: 0o600}
"#,
        );
    let r = f.run("ssh", &[], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    for h in ["h1", "h2", "h3"] {
        assert_eq!(f.mode(h, "payload.bin"), 0o640, "{h}");
        assert_eq!(f.mode(h, "app.conf"), 0o600, "{h}");
    }

    // h1: content only (mode kept at 0640); h2: mode only; h3: untouched.
    std::fs::write(f.root("h1").join("payload.bin"), "tampered").unwrap();
    std::fs::write(f.root("h1").join("app.conf"), "label=someone-else\n").unwrap();
    std::fs::set_permissions(
        f.root("h2").join("payload.bin"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    assert_eq!(f.mode("h1", "payload.bin"), 0o640);

    let r = f.run("ssh", &[], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    for line in [
        "h1 [1/2] payload => modified (content)",
        "h1 [2/2] conf => modified (content)",
        "h2 [1/2] payload => modified (mode)",
        "h2 [2/2] conf => matched",
        "h3 [1/2] payload => matched",
        "h3 [2/2] conf => matched",
    ] {
        assert!(r.stdout.contains(line), "missing {line:?}:\n{}", r.all());
    }
    for h in ["h1", "h2", "h3"] {
        assert_eq!(
            std::fs::read(f.root(h).join("payload.bin")).unwrap(),
            payload()
        );
        assert_eq!(f.mode(h, "payload.bin"), 0o640, "{h}");
        assert_eq!(f.read(h, "app.conf"), format!("label=label-{h}\n"));
        no_temp_files_left(&f, h);
    }

    // Both at once, in JSON: the changes list names each.
    std::fs::write(f.root("h3").join("payload.bin"), "x").unwrap();
    std::fs::set_permissions(
        f.root("h3").join("payload.bin"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let r = f.run("ssh", &["--output", "json", "--limit-hosts", "h3"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let t = &r.tasks()[0];
    assert_eq!(t["host"], "h3");
    assert_eq!(t["status"], "modified");
    assert_eq!(t["changed"], true);
    let mut changes: Vec<String> = t["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    changes.sort();
    assert_eq!(changes, ["content", "mode"], "{}", r.all());
    assert!(r.statuses_of("h1").is_empty(), "--limit-hosts h3");
    assert_eq!(f.mode("h3", "payload.bin"), 0o640);
}

/// Consecutive file tasks go to the host together; this checks that doing so changes nothing
/// a user can see: order, skips, an ignored failure in the middle, and a failure that stops
/// the host exactly where running the tasks one by one would.
#[test]
fn consecutive_file_tasks_behave_as_if_run_one_by_one() {
    let (f, _sshd) = three_hosts();
    f.file("files/a.txt", "a\n")
        .file("templates/b.hb", "b={{host_label}}\n")
        .playbook(
            r#"- name: batch
  groups: [web]
  tasks:
    - !copy
      name: first
      src: a.txt
      dest: "{{root_dir}}/a.txt"
    - !template
      name: skipped
      src: b.hb
      dest: "{{root_dir}}/skipped.txt"
      with: {condition: (eq host_label "nobody")}
    - !template
      name: items
      src: b.hb
      dest: "{{root_dir}}/{{item}}.txt"
      with: {items: [i1, i2]}
      attributes: {mode: "0640"}
    - !copy
      name: ignored failure
      src: a.txt
      dest: "{{root_dir}}/missing-dir/a.txt"
      and: {ignore_errors: true}
    - !copy
      name: after the ignored failure
      src: a.txt
      dest: "{{root_dir}}/after.txt"
    - !copy
      name: real failure
      src: a.txt
      dest: "{{root_dir}}/{{fail_dir}}/a.txt"
    - !copy
      name: never reached
      src: a.txt
      dest: "{{root_dir}}/never.txt"
"#,
        );
    // h1 and h2 fail at "real failure"; h3's directory exists.
    std::fs::create_dir(f.root("h3").join("here")).unwrap();
    for (h, dir) in [("h1", "gone"), ("h2", "gone"), ("h3", "here")] {
        let path = f.path().join(format!("inv/host_vars/{h}"));
        let vars = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{vars}fail_dir: {dir}\n")).unwrap();
    }
    let r = f.run("ssh", &["--output", "json"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    for h in ["h1", "h2"] {
        assert_eq!(
            r.statuses_of(h),
            ["created", "skipped", "created", "created", "failed", "created", "failed"],
            "{h}: {}",
            r.all()
        );
        assert!(
            !f.root(h).join("never.txt").exists(),
            "{h}: ran past a failure"
        );
    }
    assert_eq!(
        r.statuses_of("h3"),
        ["created", "skipped", "created", "created", "failed", "created", "created", "created"],
        "{}",
        r.all()
    );
    let failures: Vec<_> = r
        .tasks()
        .into_iter()
        .filter(|t| t["host"] == "h1" && t["status"] == "failed")
        .collect();
    assert_eq!(failures[0]["ignored"], true);
    assert_eq!(failures[1]["ignored"], false);
    let recap = &r.recap()["hosts"]["h1"];
    assert_eq!(
        (
            &recap["ok"],
            &recap["failed"],
            &recap["ignored"],
            &recap["skipped"]
        ),
        (&4.into(), &1.into(), &1.into(), &1.into()),
        "{recap}"
    );
    let message = failures[1]["failure"]["message"].as_str().unwrap();
    assert!(
        message.contains("gone/a.txt") && message.contains("does not exist"),
        "{message}"
    );
    for h in ["h1", "h2", "h3"] {
        assert_eq!(f.read(h, "a.txt"), "a\n");
        assert_eq!(f.read(h, "i2.txt"), format!("b=label-{h}\n"));
        assert_eq!(f.mode(h, "i1.txt"), 0o640);
        assert!(!f.root(h).join("skipped.txt").exists());
        no_temp_files_left(&f, h);
    }

    // The second run: everything that exists matches; the same failures, nothing rewritten.
    std::fs::write(f.root("h1").join("i1.txt"), "tampered\n").unwrap();
    let r = f.run("ssh", &["--output", "json"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(
        r.statuses_of("h1"),
        ["matched", "skipped", "modified", "matched", "failed", "matched", "failed"],
        "{}",
        r.all()
    );
    assert_eq!(
        r.statuses_of("h3"),
        ["matched", "skipped", "matched", "matched", "failed", "matched", "matched", "matched"],
        "{}",
        r.all()
    );
    assert_eq!(f.read("h1", "i1.txt"), "b=label-h1\n");
}

#[test]
fn a_file_written_twice_in_a_row_sees_its_first_write() {
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1").trust(&sshd);
    f.file("files/a.txt", "a\n")
        .file("files/b.txt", "b\n")
        .playbook(
            r#"- name: twice
  groups: [web]
  tasks:
    - !copy
      src: a.txt
      dest: "{{root_dir}}/x.txt"
    - !copy
      src: a.txt
      dest: "{{root_dir}}/x.txt"
    - !copy
      src: b.txt
      dest: "{{root_dir}}/x.txt"
"#,
        );
    let r = f.run("ssh", &["--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.statuses_of("h1"),
        ["created", "matched", "modified"],
        "{}",
        r.all()
    );
    assert_eq!(f.read("h1", "x.txt"), "b\n");
}

#[test]
fn check_mode_changes_nothing_and_shows_diffs() {
    let (f, _sshd) = three_hosts();
    f.file("files/payload.bin", payload())
        .file(
            "templates/app.conf.hb",
            "label={{host_label}}\nport=8080\nmode=fast\n",
        )
        .playbook(
            r#"- name: check
  groups: [web]
  tasks:
    - !shell
      name: mark
      cmd: touch {{root_dir}}/shell-ran
    - !copy
      name: payload
      src: payload.bin
      dest: "{{root_dir}}/payload.bin"
    - !template
      name: conf
      src: app.conf.hb
      dest: "{{root_dir}}/app.conf"
"#,
        );
    let old = "label=old-label\nport=8080\nmode=fast\n";
    std::fs::write(f.root("h1").join("app.conf"), old).unwrap();

    let r = f.run("check-ssh", &["--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.statuses_of("h1"),
        ["would_run", "would_create", "would_modify"],
        "{}",
        r.all()
    );
    assert_eq!(
        r.statuses_of("h2"),
        ["would_run", "would_create", "would_create"],
        "{}",
        r.all()
    );
    let modify = r
        .tasks()
        .into_iter()
        .find(|t| t["host"] == "h1" && t["status"] == "would_modify")
        .unwrap();
    let diff = serde_json::to_string(&modify["diff"]).unwrap();
    assert!(
        diff.contains("label=old-label") && diff.contains("label=label-h1"),
        "the diff shows the old and the new line: {}",
        r.all()
    );

    let human = f.run("check-ssh", &[], &[]);
    assert_eq!(human.code, 0, "{}", human.all());
    assert!(
        human.stdout.contains("h1 [3/3] conf => would modify"),
        "{}",
        human.all()
    );
    assert!(human.stdout.contains("-label=old-label"), "{}", human.all());
    assert!(human.stdout.contains("+label=label-h1"), "{}", human.all());
    assert!(
        human.stdout.contains("h2 [2/3] payload => would create"),
        "{}",
        human.all()
    );

    // Nothing changed on any target.
    assert_eq!(f.read("h1", "app.conf"), old);
    for h in ["h1", "h2", "h3"] {
        assert!(!f.root(h).join("shell-ran").exists(), "{h}: shell ran");
        assert!(!f.root(h).join("payload.bin").exists(), "{h}: copy wrote");
        no_temp_files_left(&f, h);
    }
    assert!(!f.root("h2").join("app.conf").exists());
}

#[test]
fn sudo_wraps_the_whole_compound_command() {
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1").trust(&sshd);
    // `nobody` must be able to write there; root (the SSH user) could anyway, so a command
    // only partly under sudo would leave `root` in one of the files.
    std::fs::set_permissions(f.root("h1"), std::fs::Permissions::from_mode(0o777)).unwrap();
    f.playbook(
        r#"- name: sudo
  groups: [web]
  tasks:
    - !shell
      cmd: "id -un > {{root_dir}}/a && id -un > {{root_dir}}/b; id -un > {{root_dir}}/c"
"#,
    );
    let r = f.run("ssh", &["--sudo", "nobody"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    for file in ["a", "b", "c"] {
        assert_eq!(f.read("h1", file), "nobody\n", "file {file}: {}", r.all());
    }

    // Play-level sudo, with a task that proves sudo (not just the SSH user) ran it.
    f.playbook(
        r#"- name: sudo
  groups: [web]
  sudo: root
  tasks:
    - !shell
      cmd: "id -un > {{root_dir}}/d && echo \"$SUDO_USER\" > {{root_dir}}/e"
"#,
    );
    let r = f.run("ssh", &[], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(f.read("h1", "d"), "root\n");
    assert_eq!(f.read("h1", "e"), "root\n", "SUDO_USER set: sudo ran it");
}

#[test]
fn sudo_applies_to_file_tasks() {
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1").trust(&sshd);
    std::fs::set_permissions(f.root("h1"), std::fs::Permissions::from_mode(0o777)).unwrap();
    f.file("files/payload.bin", payload()).playbook(
        r#"- name: sudo files
  groups: [web]
  tasks:
    - !copy
      src: payload.bin
      dest: "{{root_dir}}/payload.bin"
      with: {sudo: nobody}
    - !copy
      name: same user, batched with the first
      src: payload.bin
      dest: "{{root_dir}}/payload2.bin"
      with: {sudo: nobody}
    - !copy
      name: another user ends the batch
      src: payload.bin
      dest: "{{root_dir}}/payload3.bin"
"#,
    );
    let r = f.run("ssh", &[], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let owner = |name: &str| std::fs::metadata(f.root("h1").join(name)).unwrap().uid();
    assert_eq!(owner("payload2.bin"), owner("payload.bin"));
    assert_eq!(
        owner("payload3.bin"),
        0,
        "no sudo: the connecting user (root)"
    );
    let again = f.run("ssh", &[], &[]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        again.stdout.matches("=> matched").count(),
        3,
        "{}",
        again.all()
    );
    let meta = std::fs::metadata(f.root("h1").join("payload.bin")).unwrap();
    let nobody_uid = std::process::Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .unwrap();
    let nobody_uid: u32 = String::from_utf8_lossy(&nobody_uid.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(meta.uid(), nobody_uid, "written as the sudo user");
    assert_eq!(
        std::fs::read(f.root("h1").join("payload.bin")).unwrap(),
        payload()
    );
}

#[test]
fn unreachable_host_alongside_healthy_ones() {
    let sshd = Sshd::start_on(&["127.0.0.1", "127.0.0.2"]);
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1")
        .host("h2", &sshd, "127.0.0.2")
        .raw_host(
            "dead",
            &format!(
                "jet_ssh_hostname: 127.0.0.1\njet_ssh_port: {}\njet_ssh_user: root\n\
                 jet_ssh_private_key_file: {}\nroot_dir: /nonexistent\n",
                free_port(),
                sshd.client_key.display()
            ),
        )
        .trust(&sshd);
    f.playbook(
        r"- name: u
  groups: [web]
  tasks:
    - !shell
      cmd: touch {{root_dir}}/one
    - !shell
      cmd: touch {{root_dir}}/two
",
    );
    let r = f.run("ssh", &["--output", "json"], &[]);
    assert_eq!(r.code, 4, "unreachable only: {}", r.all());
    let unreachable = r.unreachable();
    assert_eq!(unreachable.len(), 1, "{}", r.all());
    assert_eq!(unreachable[0]["host"], "dead");
    assert!(
        !unreachable[0]["message"].as_str().unwrap().is_empty(),
        "a reason is given"
    );
    assert!(r.statuses_of("dead").is_empty(), "{}", r.all());
    for h in ["h1", "h2"] {
        assert_eq!(r.statuses_of(h), ["complete", "complete"], "{}", r.all());
        assert!(f.root(h).join("one").exists() && f.root(h).join("two").exists());
    }
    let recap = r.recap();
    assert_eq!(recap["hosts"]["dead"]["unreachable"], 1);
    assert_eq!(recap["hosts"]["h1"]["ok"], 2);
    assert_eq!(recap["hosts"]["h2"]["failed"], 0);

    // Human output names the host once, as unreachable.
    let r = f.run("ssh", &[], &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    let all = r.all();
    assert!(all.contains("dead") && all.contains("unreachable"), "{all}");
}

#[test]
fn unknown_host_key_is_rejected_unless_accepted() {
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1"); // known_hosts stays empty
    f.playbook(
        "- name: k\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: touch {{root_dir}}/ok\n",
    );
    let r = f.run("ssh", &["--output", "json"], &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    let u = r.unreachable();
    assert_eq!(u.len(), 1, "{}", r.all());
    let msg = u[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("known_hosts") || msg.contains("host key"),
        "the reason names the host key: {msg}"
    );
    assert!(!f.root("h1").join("ok").exists(), "nothing ran");

    let r = f.run("ssh", &["--accept-new-host-keys"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(f.root("h1").join("ok").exists());
    let kh = std::fs::read_to_string(&f.known_hosts).unwrap();
    assert!(
        kh.contains(sshd.host_key.split(' ').nth(1).unwrap()),
        "the key was recorded: {kh}"
    );

    // Recorded: a plain run now connects.
    let r = f.run("ssh", &[], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn changed_host_key_is_rejected_even_with_accept_new() {
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1");
    // A different ed25519 key recorded for this host:port (the client key stands in for it).
    let other = std::fs::read_to_string(sshd.client_key.with_extension("pub")).unwrap();
    let other: Vec<&str> = other.split_whitespace().take(2).collect();
    std::fs::write(
        &f.known_hosts,
        format!("[127.0.0.1]:{} {}\n", sshd.port, other.join(" ")),
    )
    .unwrap();
    f.playbook(
        "- name: k\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: touch {{root_dir}}/ok\n",
    );
    for extra in [&[][..], &["--accept-new-host-keys"][..]] {
        let mut args = vec!["--output", "json"];
        args.extend_from_slice(extra);
        let r = f.run("ssh", &args, &[]);
        assert_eq!(r.code, 4, "{extra:?}: {}", r.all());
        assert_eq!(r.unreachable().len(), 1, "{}", r.all());
        assert!(!f.root("h1").join("ok").exists(), "{extra:?}: it ran");
    }
}

#[test]
fn host_killed_mid_run_fails_alone_without_hanging() {
    let sshd = Sshd::start_on(&["127.0.0.1", "127.0.0.2"]);
    let victim = Sshd::start_on(&["127.0.0.3"]);
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1")
        .host("h2", &sshd, "127.0.0.2")
        .host("victim", &victim, "127.0.0.3")
        .trust(&sshd)
        .trust(&victim);
    f.playbook(
        r"- name: drop
  groups: [web]
  tasks:
    - !shell
      cmd: touch {{root_dir}}/started
    - !shell
      name: slow
      cmd: sleep 2
    - !shell
      cmd: touch {{root_dir}}/finished
",
    );
    let started = f.root("victim").join("started");
    let killer = std::thread::scope(|s| {
        let k = s.spawn(|| {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !started.exists() {
                if std::time::Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Well inside the 2 s sleep of task 2.
            std::thread::sleep(Duration::from_millis(500));
            victim.kill();
            true
        });
        let r = f.run("ssh", &["--output", "json"], &[]);
        (k.join().unwrap(), r)
    });
    let (killed, r) = killer;
    assert!(killed, "the victim never started: {}", r.all());
    assert!(
        r.elapsed < Duration::from_secs(30),
        "the run took {:?}",
        r.elapsed
    );
    assert_eq!(r.code, 1, "{}", r.all());
    for h in ["h1", "h2"] {
        assert_eq!(
            r.statuses_of(h),
            ["complete", "complete", "complete"],
            "{}",
            r.all()
        );
        assert!(f.root(h).join("finished").exists(), "{h} went on");
    }
    assert!(!f.root("victim").join("finished").exists());
    let failed: Vec<_> = r
        .tasks()
        .into_iter()
        .filter(|e| e["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", r.all());
    assert_eq!(failed[0]["host"], "victim");
    assert_eq!(failed[0]["task"], "slow");
    let message = failed[0]["failure"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("victim") && message.to_lowercase().contains("connection"),
        "a clear error names the host and the lost connection: {message}"
    );
    assert_eq!(r.recap()["hosts"]["victim"]["failed"], 1);
}

#[test]
fn threads_1_runs_hosts_one_at_a_time() {
    let (f, _sshd) = three_hosts();
    f.playbook(
        r#"- name: t
  groups: [web]
  tasks:
    - !shell
      cmd: sleep 0.2
    - !shell
      cmd: sleep 0.2
    - !shell
      cmd: "true"
"#,
    );
    let r = f.run("ssh", &["--threads", "1", "--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let hosts: Vec<String> = r
        .tasks()
        .iter()
        .map(|e| e["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts.len(), 9, "{}", r.all());
    // Contiguous blocks of 3: all of one host's tasks before any of the next.
    let mut seen = vec![];
    for block in hosts.chunks(3) {
        assert!(
            block.iter().all(|h| *h == block[0]),
            "interleaved with --threads 1: {hosts:?}"
        );
        assert!(!seen.contains(&block[0]), "{hosts:?}");
        seen.push(block[0].clone());
    }
    assert!(
        r.elapsed >= Duration::from_millis(6 * 200),
        "six 0.2 s sleeps one after another took only {:?}",
        r.elapsed
    );

    // Without the limit the hosts overlap: the check above can tell the difference.
    let r = f.run("ssh", &["--threads", "3", "--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let hosts: Vec<String> = r
        .tasks()
        .iter()
        .map(|e| e["host"].as_str().unwrap().to_string())
        .collect();
    assert!(
        hosts.chunks(3).any(|b| b.iter().any(|h| *h != b[0])),
        "--threads 3 should interleave hosts: {hosts:?}"
    );
}

/// Ctrl-C (and SIGTERM, as a cancelled CI job sends): the task in flight finishes, nothing
/// new starts, the exit code is 130, and no `ControlMaster` outlives the run.
#[test]
fn an_interrupt_finishes_in_flight_work_and_leaves_no_master_behind() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let sshd = Sshd::start();
        let mut f = Fleet::new();
        f.host("h1", &sshd, "127.0.0.1").trust(&sshd);
        f.playbook(
            r"- name: slow
  groups: [web]
  tasks:
    - !shell
      cmd: touch {{root_dir}}/started; sleep 2; touch {{root_dir}}/first
    - !shell
      cmd: touch {{root_dir}}/second
",
        );
        let tmp = tempfile::tempdir().unwrap();
        let child = f
            .command("ssh", &[])
            .env("TMPDIR", tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = f.root("h1").join("started");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !started.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the first task never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The masters' control sockets live under TMPDIR.
        let tmp_name = tmp.path().to_string_lossy().into_owned();
        let naming_tmp = || -> Vec<String> {
            std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .filter(|c| c.contains(&tmp_name) && c.starts_with("ssh"))
                .collect()
        };
        assert!(!naming_tmp().is_empty(), "no master found under TMPDIR");
        let pid = libc::pid_t::try_from(child.id()).expect("a pid");
        // SAFETY: a plain kill(2) of the child this test started.
        unsafe { libc::kill(pid, signal) };
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "signal {signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert!(
            f.root("h1").join("first").exists(),
            "the task in flight was cut short"
        );
        assert!(!f.root("h1").join("second").exists(), "a new task started");
        let lingering = naming_tmp();
        assert!(lingering.is_empty(), "left running: {lingering:?}");
    }
}

/// Every command the target runs, with and without sudo, is recorded by wrappers early in
/// the sessions' PATH: none carries a byte of the secret in its command line (visible in
/// `ps` on the target), including the perl writer that puts rendered files in place.
#[test]
fn no_secret_in_any_remote_command_line() {
    let canary = canary();
    let wrappers = tempfile::tempdir().unwrap();
    let log = wrappers.path().join("argv.log");
    for tool in [
        "bash",
        "sh",
        "perl",
        "head",
        "cat",
        "mv",
        "chmod",
        "chown",
        "stat",
        "sha256sum",
        "sudo",
    ] {
        let real = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
            .iter()
            .map(|d| format!("{d}/{tool}"))
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| panic!("{tool} not found"));
        let w = wrappers.path().join(tool);
        std::fs::write(
            &w,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"{tool} $*\" >> {}\nexec {real} \"$@\"\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "PATH={}:/usr/sbin:/usr/bin:/sbin:/bin",
        wrappers.path().display()
    );
    let sshd = Sshd::start_with(&["127.0.0.1"], &path);
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1").trust(&sshd);
    f.file("templates/s.hb", "password={{ENV_CANARY}}\n")
        .playbook(
            r#"- name: argv
  groups: [web]
  tasks:
    - !template
      src: s.hb
      dest: "{{root_dir}}/one.conf"
    - !template
      src: s.hb
      dest: "{{root_dir}}/two.conf"
    - !template
      src: s.hb
      dest: "{{root_dir}}/sudo-one.conf"
      with: {sudo: root}
    - !template
      src: s.hb
      dest: "{{root_dir}}/sudo-two.conf"
      with: {sudo: root}
    - !template
      src: s.hb
      dest: "{{root_dir}}/alone.conf"
      attributes: {mode: "0640"}
      with: {sudo: root}
    - !shell
      cmd: "true"
    - !template
      src: s.hb
      dest: "{{root_dir}}/alone-2.conf"
"#,
        );
    let r = f.run("ssh", &["--loadenv"], &[("CANARY", canary.as_str())]);
    assert_eq!(r.code, 0, "{}", r.all());
    for name in ["one", "two", "sudo-one", "sudo-two", "alone", "alone-2"] {
        assert_eq!(
            f.read("h1", &format!("{name}.conf")),
            format!("password={canary}\n")
        );
    }
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(argv.contains("perl -e"), "the perl writer ran: {argv}");
    assert!(argv.contains("sudo -n"), "the sudo path ran: {argv}");
    assert!(
        !argv.contains(&canary),
        "a command line carried the secret:\n{argv}"
    );
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &canary);
    assert!(!argv.contains(&b64[..16]), "{argv}");
}

fn canary() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..24)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

#[test]
fn secret_from_the_environment_never_reaches_output() {
    let canary = canary();
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    let sshd = Sshd::start_on(&["127.0.0.1", "127.0.0.2"]);
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1")
        .host("h2", &sshd, "127.0.0.2")
        .trust(&sshd);
    f.file(
        "templates/secret.conf.hb",
        "user=app\npassword={{ENV_CANARY}}\n",
    )
    .playbook(
        r#"- name: secrets
  groups: [web]
  tasks:
    - !template
      name: render
      src: secret.conf.hb
      dest: "{{root_dir}}/secret.conf"
    - !shell
      name: show
      cmd: "cat {{root_dir}}/secret.conf; sed -n 's/^password=//p' {{root_dir}}/secret.conf | tr -d '\\n' | base64"
    - !shell
      name: fail
      cmd: "cat {{root_dir}}/secret.conf >&2; base64 {{root_dir}}/secret.conf; exit 3"
"#,
    );
    let forms = [
        canary.clone(),
        b64(&canary),
        b64(&format!("user=app\npassword={canary}\n")),
    ];
    for extra in [
        &["-vvv"][..],
        &["--output", "json"][..],
        &["--output", "json", "-vvv"][..],
        &["--diff", "-vvv"][..],
    ] {
        let mut args = vec!["--loadenv"];
        args.extend_from_slice(extra);
        let r = f.run("ssh", &args, &[("CANARY", canary.as_str())]);
        assert_eq!(r.code, 1, "{extra:?}: {}", r.all());
        for form in &forms {
            for (name, stream) in [("stdout", &r.raw_stdout), ("stderr", &r.raw_stderr)] {
                assert!(
                    !stream.windows(form.len()).any(|w| w == form.as_bytes()),
                    "{extra:?}: {form:?} leaked on {name}:\n{}",
                    r.all()
                );
            }
        }
        // The output around the secret is there: what was hidden was only the secret.
        assert!(r.all().contains("user=app"), "{extra:?}: {}", r.all());
    }
    for h in ["h1", "h2"] {
        assert_eq!(
            f.read(h, "secret.conf"),
            format!("user=app\npassword={canary}\n"),
            "the secret is on the target"
        );
    }
}

/// Several hosts printing many lines at once: with -vvv every line is whole and carries its
/// host; in JSON every line of stdout is a complete event.
#[test]
fn parallel_hosts_print_whole_lines_each_prefixed_by_its_host() {
    let (f, _sshd) = three_hosts();
    f.playbook(
        r#"- name: lines
  groups: [web]
  tasks:
    - !shell
      cmd: "yes 'BEGIN {{host_label}} 0123456789abcdefghijklmnopqrstuvwxyz0123456789 END' | head -n 20000"
"#,
    );
    let r = f.run("ssh", &["-vvv"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let mut counts = std::collections::BTreeMap::new();
    // Output lines read `  hN | ...` (recap lines start with `  hN` too, without the bar);
    // a line cut or mixed with another would fail the match or the counts below.
    let output_line = |l: &&str| {
        l.starts_with("  h") && (l.get(4..7) == Some(" | ") || l.get(4..7) == Some(" + "))
    };
    for line in r.stdout.lines().filter(output_line) {
        let (host, rest) = line[2..]
            .split_once(" | ")
            .unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!(
            rest,
            format!("BEGIN label-{host} 0123456789abcdefghijklmnopqrstuvwxyz0123456789 END"),
            "a line cut or mixed with another host's"
        );
        *counts.entry(host.to_string()).or_insert(0) += 1;
    }
    for h in ["h1", "h2", "h3"] {
        assert_eq!(counts.get(h), Some(&20000), "{counts:?}");
    }

    let r = f.run("ssh", &["-vvv", "--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let mut counts = std::collections::BTreeMap::new();
    for ev in r.events().iter().filter(|e| e["event"] == "output") {
        let host = ev["host"].as_str().unwrap().to_string();
        for l in ev["lines"].as_array().unwrap() {
            assert_eq!(
                l.as_str().unwrap(),
                format!("BEGIN label-{host} 0123456789abcdefghijklmnopqrstuvwxyz0123456789 END")
            );
            *counts.entry(host.clone()).or_insert(0) += 1;
        }
    }
    for h in ["h1", "h2", "h3"] {
        assert_eq!(counts.get(h), Some(&20000), "{counts:?}");
    }
}

#[test]
fn a_secret_split_at_every_chunk_boundary_is_masked_over_ssh() {
    let canary = canary();
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1").trust(&sshd);
    // Print the secret once per cut point: the first part, a pause (a chunk of its own on
    // the channel), then the rest.
    f.file("templates/s.hb", "token={{ENV_CANARY}}\n").playbook(
        r#"- name: split
  groups: [web]
  tasks:
    - !template
      src: s.hb
      dest: "{{root_dir}}/s.conf"
    - !shell
      cmd: "s=$(cut -d= -f2 {{root_dir}}/s.conf); n=${#s}; k=1; while [ $k -lt $n ]; do printf 'cut %s: %s' $k $(printf %s $s | cut -c1-$k); sleep 0.03; printf '%s\n' $(printf %s $s | cut -c$((k+1))-); k=$((k+1)); done"
      unsafe: true
"#,
    );
    for extra in [&["-vvv"][..], &["-vvv", "--output", "json"][..]] {
        let mut args = vec!["--loadenv"];
        args.extend_from_slice(extra);
        let r = f.run("ssh", &args, &[("CANARY", canary.as_str())]);
        assert_eq!(r.code, 0, "{}", r.all());
        for k in 1..canary.len() {
            let line = format!("cut {k}: ***");
            assert!(r.stdout.contains(&line), "{line:?} missing:\n{}", r.all());
        }
        assert!(!r.all().contains(&canary), "{}", r.all());
        assert!(!r.all().contains(&canary[..12]), "{}", r.all());
        assert!(
            !r.all().contains(&canary[canary.len() - 12..]),
            "{}",
            r.all()
        );
    }
}

/// Every process's command line, read from /proc until `stop` is set (remote sessions run on
/// this machine too: the sshd is on loopback).
fn sample_cmdlines(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut rounds = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) || rounds < 1 {
        rounds += 1;
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            {
                if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
                    if !c.is_empty() {
                        seen.insert(String::from_utf8_lossy(&c).replace('\0', " "));
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    seen.into_iter().collect()
}

#[test]
fn remote_tasks_get_no_terminal_and_no_command_line_in_proc() {
    let marker = format!("ARGVMARK{}", &canary()[5..]);
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1").trust(&sshd);
    f.playbook(&format!(
        "- name: tty\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: \"tty; echo x > /dev/tty; sleep 1.5; echo {marker} > /dev/null\"\n      failed_when: \"false\"\n"
    ));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || sample_cmdlines(stop))
    };
    let r = f.run("ssh", &["-vvv"], &[]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = sampler.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.all());
    // SSH asked for no tty: the remote command has none.
    assert!(r.stdout.contains("h1 | not a tty"), "{}", r.all());
    assert!(r.stdout.contains("/dev/tty"), "{}", r.all());
    assert!(seen.iter().any(|c| c.starts_with("sleep 1.5")), "{seen:?}");
    let leaked: Vec<_> = seen.iter().filter(|c| c.contains(&marker)).collect();
    assert!(
        leaked.is_empty(),
        "command line visible in /proc: {leaked:?}"
    );
}

/// The persistent shell reads each request by its length in bytes: multibyte text and input
/// bytes keep it in step, a command holding a NUL byte (which would not) is refused alone,
/// and a task's `cd` does not reach the next one.
#[test]
fn requests_stay_in_step_with_multibyte_text_and_a_nul_is_refused() {
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1").trust(&sshd);
    f.file("files/in.txt", "één\n").playbook(
        r#"- name: framing
  groups: [web]
  tasks:
    - !shell
      name: with a nul
      cmd: "echo a\0b"
      and: {ignore_errors: true}
    - !shell
      name: multibyte
      cmd: "printf '%s\n' 'é ü — ✓' > {{root_dir}}/u.txt; cd /"
    - !copy
      src: in.txt
      dest: "{{root_dir}}/in.txt"
    - !shell
      name: after
      cmd: "pwd > {{root_dir}}/pwd.txt"
"#,
    );
    let r = f.run("ssh", &["--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.statuses_of("h1"),
        ["failed", "complete", "created", "complete"],
        "{}",
        r.all()
    );
    assert!(
        r.all().contains("the command holds a NUL byte"),
        "{}",
        r.all()
    );
    assert_eq!(f.read("h1", "u.txt"), "é ü — ✓\n");
    assert_eq!(f.read("h1", "in.txt"), "één\n");
    assert_ne!(f.read("h1", "pwd.txt"), "/\n");
}
