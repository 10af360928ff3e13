//! Leak tests: a random canary secret, given to jetlike only through its environment (as a
//! secret injector like `op run` would), must reach the rendered file and no other byte:
//! stdout, stderr, JSON, error text, argv of spawned processes, child environments, files.

mod project;

use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;
use project::{Project, Run};

fn canary() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let s: String = (0..24)
        .map(|_| {
            char::from(
                b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rng.gen_range(0..57)],
            )
        })
        .collect();
    format!("cnry-{s}")
}

/// The canary and the encodings a careless command might print it in.
fn forms(secret: &str) -> Vec<String> {
    let b = secret.as_bytes();
    let mut with_nl = b.to_vec();
    with_nl.push(b'\n');
    vec![
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(b),
        base64::engine::general_purpose::STANDARD.encode(&with_nl),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b),
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_string(),
        // A long-enough fragment: catches partial leaks (a secret cut in two by a write).
        secret[..16].to_string(),
    ]
}

fn assert_clean(what: &str, text: &str, secret: &str) {
    for f in forms(secret) {
        assert!(
            !text.contains(&f),
            "{what} leaks the secret (form {f:?}):\n{text}"
        );
    }
}

fn assert_run_clean(r: &Run, secret: &str) {
    assert_clean("stdout", &r.stdout, secret);
    assert_clean("stderr", &r.stderr, secret);
}

const PLAYBOOK: &str = r#"- name: leaky
  groups: [all]
  tasks:
    - !template
      name: render the secret
      src: app.conf.hb
      dest: @OUT@/app.conf
    - !shell
      name: cat it
      cmd: cat @OUT@/app.conf
    - !shell
      name: base64 it
      cmd: base64 @OUT@/app.conf; printf '%s' "$(grep token @OUT@/app.conf | cut -d= -f2)" | base64
    - !shell
      name: print my environment
      cmd: env > @OUT@/child-env.txt; env
    - !shell
      name: fail loudly
      cmd: cat @OUT@/app.conf; echo "token was $(cut -d= -f2 @OUT@/app.conf)" >&2; exit 1
"#;

fn leaky_project() -> Project {
    let p = Project::new();
    p.file("templates/app.conf.hb", "token={{ENV_APP_TOKEN}}\n")
        .file("playbooks/pb.yml", PLAYBOOK);
    p
}

#[test]
fn secret_never_reaches_human_json_or_verbose_output() {
    let secret = canary();
    let p = leaky_project();
    for extra in [&["-vvv"][..], &["--output", "json", "-vvv"][..], &[][..]] {
        let mut args = vec!["local", "-p", "playbooks/pb.yml", "--loadenv"];
        args.extend_from_slice(extra);
        let r = p.run_env(&args, &[("APP_TOKEN", &secret)]);
        assert_eq!(r.code, 1, "the last task fails: {}", r.all());
        assert_run_clean(&r, &secret);
        assert!(
            r.all().contains("***"),
            "masked output expected: {}",
            r.all()
        );
    }
    // ... while the target file does hold it, with safe permissions.
    let conf = p.out().join("app.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        format!("token={secret}\n")
    );
    assert_eq!(
        std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn check_mode_diff_masks_the_secret() {
    let secret = canary();
    let p = leaky_project();
    std::fs::write(p.out().join("app.conf"), "token=old\n").unwrap();
    let r = p.run_env(
        &["check-local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("APP_TOKEN", &secret)],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        !r.stdout.contains("token=old"),
        "the old value is hidden too: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("-token=***ENV_APP_TOKEN***"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("+token=***ENV_APP_TOKEN***   (ENV_APP_TOKEN: changed)"),
        "{}",
        r.stdout
    );
    assert_run_clean(&r, &secret);
}

#[test]
fn child_processes_get_no_secret_and_no_injected_variables() {
    let secret = canary();
    let p = leaky_project();
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[
            ("APP_TOKEN", &secret),
            ("OTHER_INJECTED", "injected-but-unused-value"),
        ],
    );
    assert_eq!(r.code, 1);
    let env = std::fs::read_to_string(p.out().join("child-env.txt")).unwrap();
    assert_clean("child environment", &env, &secret);
    assert!(!env.contains("APP_TOKEN"), "{env}");
    assert!(!env.contains("OTHER_INJECTED"), "{env}");
    assert!(
        env.contains("PATH="),
        "allowlisted variables still pass: {env}"
    );

    // Without --loadenv nothing is loaded, and still nothing but the allowlist reaches children.
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: e\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: env > @OUT@/env.txt\n",
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml"],
        &[("OP_SECRET", &secret)],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_clean("child environment", &p.read("out/env.txt"), &secret);
}

#[test]
fn no_secret_in_any_argv() {
    let secret = canary();
    let p = leaky_project();
    // Wrappers earlier in PATH record the argv of every sh/ssh/sudo jetlike starts.
    let bin = p.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = p.path().join("argv.log");
    for tool in ["sh", "ssh", "sudo"] {
        let real = ["/bin", "/usr/bin"]
            .iter()
            .map(|d| format!("{d}/{tool}"))
            .find(|p| std::path::Path::new(p).exists());
        let Some(real) = real else { continue };
        let w = bin.join(tool);
        std::fs::write(
            &w,
            format!("#!/bin/sh\nprintf '%s\\0' \"{tool}\" \"$@\" >> '{}'\nprintf '\\n' >> '{}'\nexec {real} \"$@\"\n", log.display(), log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv", "-vvv"],
        &[("APP_TOKEN", &secret), ("PATH", &path)],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    let argv =
        String::from_utf8_lossy(&std::fs::read(&log).expect("the sh wrapper ran")).into_owned();
    assert!(
        argv.contains("cat "),
        "wrapper recorded the commands: {argv}"
    );
    assert_clean("argv of spawned processes", &argv, &secret);
}

#[test]
fn no_secret_left_in_files_other_than_the_target() {
    let secret = canary();
    let p = leaky_project();
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("APP_TOKEN", &secret)],
    );
    assert_eq!(r.code, 1);
    assert!(p.temp_files().is_empty(), "{:?}", p.temp_files());
    for entry in std::fs::read_dir(p.out()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let content = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
        if name == "app.conf" {
            continue;
        }
        assert_clean(&format!("file {name}"), &content, &secret);
    }
}

#[test]
fn errors_never_quote_the_secret() {
    let secret = canary();
    let p = Project::new();
    // The template renders fine, but its destination is a directory: the error talks about
    // the task, never the content.
    std::fs::create_dir_all(p.out().join("dir")).unwrap();
    p.file("templates/t.hb", "v={{ENV_APP_TOKEN}}\n").file(
        "playbooks/pb.yml",
        "- name: e\n  groups: [all]\n  tasks:\n    - !template\n      src: t.hb\n      dest: @OUT@/dir\n",
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv", "-vvv"],
        &[("APP_TOKEN", &secret)],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("not a regular file"), "{}", r.stdout);
    assert_run_clean(&r, &secret);

    // A Jinja template failing after the secret was used.
    p.file("templates/j.j2", "v={{ ENV_APP_TOKEN }}\n{% set x = none %}{{ x.y.z }}\n").file(
        "playbooks/pb.yml",
        "- name: e\n  groups: [all]\n  tasks:\n    - !template\n      src: j.j2\n      dest: @OUT@/j\n",
    );
    let r = p.run_env(
        &[
            "local",
            "-p",
            "playbooks/pb.yml",
            "--loadenv",
            "--output",
            "json",
        ],
        &[("APP_TOKEN", &secret)],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_run_clean(&r, &secret);
}

#[test]
fn sensitive_tasks_show_no_output_only_counts() {
    let secret = canary();
    let p = Project::new();
    p.file("templates/t.hb", "{{ENV_APP_TOKEN}}\n").file(
        "playbooks/pb.yml",
        "- name: s\n  groups: [all]\n  tasks:\n    - !template\n      src: t.hb\n      dest: @OUT@/t\n    - !shell\n      cmd: rev @OUT@/t; echo line2\n      sensitive: true\n    - !shell\n      cmd: rev @OUT@/t; exit 4\n      no_log: true\n",
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv", "-vvv"],
        &[("APP_TOKEN", &secret)],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    let reversed: String = secret.chars().rev().collect();
    assert!(!r.all().contains(&reversed), "{}", r.all());
    assert!(
        r.stdout.contains("output suppressed: 2 lines"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rc: 4"), "{}", r.stdout);
}
