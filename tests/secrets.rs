//! Leak tests: a random canary secret, given to jetlike only through its environment (as a
//! secret injector like `op run` would), must reach the rendered file and no other byte:
//! stdout, stderr, JSON, error text, argv of spawned processes, child environments, files.

mod project;

use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;
use project::{Project, Run};

fn canary() -> String {
    project::canary("cnry-")
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
    // The shells were started, but the commands reach them on stdin: no task's command line
    // (`cat ...` here) is ever an argv.
    assert!(
        argv.contains("eval \"$(head -c "),
        "wrapper recorded the shells: {argv}"
    );
    assert!(!argv.contains("cat "), "a command line in an argv: {argv}");
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

/// Every string inside the JSON events of `--output json`, decoded: a secret that survived
/// in an escaped form shows up here in its original form.
fn json_strings(stdout: &str) -> String {
    fn walk(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| {
                out.push_str(k);
                out.push('\n');
                walk(v, out);
            }),
            _ => {}
        }
    }
    let mut out = String::new();
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        walk(&v, &mut out);
    }
    out
}

/// What `cmd` prints for `arg`, to know the exact encoded forms a task produces.
fn printed(cmd: &[&str], arg: &str) -> String {
    let out = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .arg(arg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{cmd:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn proc_environ_of_jetlike_holds_no_secret() {
    let secret = canary();
    let unrelated = canary();
    let p = Project::new();
    p.file("templates/t.hb", "token={{ENV_APP_TOKEN}}\n").file(
        "playbooks/pb.yml",
        "- name: procenv\n  groups: [all]\n  tasks:\n    - !template\n      src: t.hb\n      dest: @OUT@/t.conf\n    - !shell\n      name: read the parent's environ\n      cmd: tr '\\0' '\\n' < /proc/$PPID/environ > @OUT@/environ.txt; tr '\\0' '\\n' < /proc/$PPID/environ\n",
    );
    for loadenv in [true, false] {
        let mut args = vec!["local", "-p", "playbooks/pb.yml", "-vvv"];
        if loadenv {
            args.push("--loadenv");
        } else {
            p.file("templates/t.hb", "token=none\n");
        }
        let r = p.run_env(
            &args,
            &[("APP_TOKEN", &secret), ("OTHER_INJECTED", &unrelated)],
        );
        assert_eq!(r.code, 0, "{}", r.all());
        let environ = std::fs::read(p.out().join("environ.txt")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        for s in [&secret, &unrelated] {
            assert_clean("/proc/<jetlike>/environ", &environ, s);
            assert_run_clean(&r, s);
        }
        assert!(!environ.contains("OTHER_INJECTED"), "{environ}");
        assert!(
            !environ.contains("PATH="),
            "the whole block is wiped: {environ}"
        );
    }
}

#[test]
fn copy_from_proc_sys_dev_is_rejected_before_anything_runs() {
    let secret = canary();
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("files")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", p.path().join("files/env")).unwrap();
    for src in [
        "/proc/self/environ",
        "env",
        "/sys/kernel/hostname",
        "/dev/zero",
    ] {
        p.file(
            "playbooks/pb.yml",
            &format!("- name: ce\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n    - !copy\n      src: {src}\n      dest: @OUT@/copied\n"),
        );
        let r = p.run_env(
            &["local", "-p", "playbooks/pb.yml", "--loadenv"],
            &[("APP_TOKEN", &secret)],
        );
        assert_eq!(r.code, 3, "{src}: {}", r.all());
        assert!(r.stderr.contains("pb.yml:7:"), "{}", r.stderr);
        assert!(
            r.stderr.contains("/proc, /sys or /dev"),
            "{src}: {}",
            r.stderr
        );
        assert!(!p.out().join("ran").exists());
        assert!(!p.out().join("copied").exists());
        assert_run_clean(&r, &secret);
    }
}

/// A `src` known only at run time (from a `save:`) goes through the same resolver as the
/// pre-run check: a kernel path is refused, nothing of it is copied.
#[test]
fn copy_src_from_a_saved_fact_is_still_refused_under_proc() {
    let secret = canary();
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("files")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", p.path().join("files/env")).unwrap();
    for src in [
        "/proc/self/status",
        "/proc/self/environ",
        "env",
        "/dev/zero",
    ] {
        p.file(
            "playbooks/pb.yml",
            &format!("- name: ce\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: echo {src}\n      save: p\n    - !copy\n      src: \"{{{{p.out}}}}\"\n      dest: @OUT@/copied\n"),
        );
        let r = p.run_env(
            &["local", "-p", "playbooks/pb.yml", "--loadenv"],
            &[("APP_TOKEN", &secret)],
        );
        assert_eq!(r.code, 1, "{src}: {}", r.all());
        assert!(
            r.all().contains("/proc, /sys or /dev"),
            "{src}: {}",
            r.all()
        );
        assert!(!p.out().join("copied").exists(), "{src} was copied");
        assert_run_clean(&r, &secret);
    }
}

#[test]
fn json_and_human_output_mask_escaped_forms() {
    use rand::Rng;
    let tag: String = (0..12)
        .map(|_| char::from(b'a' + rand::thread_rng().gen_range(0..26)))
        .collect();
    // Quotes, a backslash, a slash, non-ASCII and a space: every escaping rule applies.
    let secret = format!("p@ss\"w\\ord/ü-{tag}-123 x");
    let json_ascii = printed(
        &[
            "python3",
            "-c",
            "import json,sys; print(json.dumps(sys.argv[1]))",
        ],
        &secret,
    );
    let json_utf8 = printed(
        &[
            "python3",
            "-c",
            "import json,sys; print(json.dumps(sys.argv[1], ensure_ascii=False))",
        ],
        &secret,
    );
    let shell_q = printed(&["bash", "-c", "printf '%q' \"$1\"", "_"], &secret);
    let p = Project::new();
    p.file("templates/t.hb", "token={{ENV_APP_TOKEN}}\n").file(
        "playbooks/pb.yml",
        "- name: esc\n  groups: [all]\n  tasks:\n    - !template\n      src: t.hb\n      dest: @OUT@/t.conf\n    - !shell\n      name: print escaped forms\n      unsafe: true\n      cmd: |\n        v=$(cut -d= -f2- @OUT@/t.conf)\n        python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' \"$v\"\n        python3 -c 'import json,sys; print(json.dumps(sys.argv[1], ensure_ascii=False))' \"$v\"\n        python3 -c 'import json,sys; print(json.dumps({\"k\": sys.argv[1]}))' \"$v\"\n        bash -c 'printf \"%q\\n\" \"$1\"' _ \"$v\"\n        printf '%s\\n' \"$v\"\n        exit 1\n",
    );
    let mut forms_seen = vec![
        secret.clone(),
        json_ascii.trim_matches('"').to_string(),
        json_utf8.trim_matches('"').to_string(),
        shell_q.clone(),
        format!("{tag}-123"),
    ];
    forms_seen.extend(forms(&secret));
    for extra in [
        &["--output", "json"][..],
        &["-vvv"][..],
        &["--output", "json", "-vvv"][..],
        &[][..],
    ] {
        let mut args = vec!["local", "-p", "playbooks/pb.yml", "--loadenv"];
        args.extend_from_slice(extra);
        let r = p.run_env(&args, &[("APP_TOKEN", &secret)]);
        assert_eq!(r.code, 1, "{}", r.all());
        let mut texts = vec![("stdout", r.stdout.clone()), ("stderr", r.stderr.clone())];
        if extra.contains(&"json") {
            texts.push(("decoded JSON strings", json_strings(&r.stdout)));
        }
        for (what, text) in &texts {
            for f in &forms_seen {
                assert!(
                    !text.contains(f.as_str()),
                    "{what} {extra:?} leaks the secret (form {f:?}):\n{text}"
                );
            }
        }
        assert!(r.stdout.contains("***"), "{}", r.stdout);
    }
}

/// Writes an executable wrapper `tool` into `bin` that records its environment and argv,
/// then exits 255 (as `ssh` does when it cannot connect).
fn recording_wrapper(bin: &std::path::Path, tool: &str, log: &std::path::Path) {
    std::fs::create_dir_all(bin).unwrap();
    let w = bin.join(tool);
    std::fs::write(
        &w,
        format!(
            "#!/bin/sh\nenv >> '{l}.env'\nprintf '%s\\n' \"$@\" >> '{l}.argv'\nexit 255\n",
            l = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn ssh_inherits_only_the_allowlist_with_or_without_loadenv() {
    let secret = canary();
    let tz_secret = format!("Secret-tz-{}", canary());
    let p = Project::new();
    p.file("inv/groups/web", "hosts: [web1]\n")
        .file("inv/host_vars/web1", "jet_ssh_hostname: 127.0.0.1\njet_ssh_port: 1\n")
        .file("templates/t.hb", "tz={{ENV_TZ}}\n")
        .file(
            "playbooks/pb.yml",
            "- name: remote\n  groups: [web]\n  tasks:\n    - !shell\n      cmd: echo hi\n",
        )
        .file(
            "playbooks/tz.yml",
            "- name: remote\n  groups: [web]\n  tasks:\n    - !template\n      src: t.hb\n      dest: /tmp/never\n",
        );
    let bin = p.path().join("bin");
    let log = p.path().join("ssh");
    recording_wrapper(&bin, "ssh", &log);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for (pb, loadenv) in [("playbooks/pb.yml", false), ("playbooks/tz.yml", true)] {
        let _ = std::fs::remove_file(log.with_extension("env"));
        let mut args = vec!["ssh", "-i", "inv", "-p", pb, "--connect-timeout", "5"];
        if loadenv {
            args.push("--loadenv");
        }
        let r = p.run_env(
            &args,
            &[
                ("PATH", &path),
                ("OP_SECRET", &secret),
                ("JET_SSH_USER", "user-from-jet-ssh-user"),
                ("LC_TIME", "C.UTF-8"),
                ("KRB5CCNAME", "FILE:/tmp/krb5cc_test"),
                ("TZ", &tz_secret),
            ],
        );
        assert_eq!(r.code, 4, "{pb}: {}", r.all());
        let env = std::fs::read_to_string(log.with_extension("env"))
            .unwrap_or_else(|_| panic!("the ssh wrapper ran: {}", r.all()));
        let argv = std::fs::read_to_string(log.with_extension("argv")).unwrap();
        assert_clean("ssh's environment", &env, &secret);
        assert!(!env.contains("OP_SECRET"), "{env}");
        assert!(!env.contains("JET_SSH_USER"), "{env}");
        assert!(env.contains("PATH="), "{env}");
        assert!(
            env.contains("LC_TIME=C.UTF-8"),
            "LC_* is allowlisted: {env}"
        );
        assert!(env.contains("KRB5CCNAME=FILE:/tmp/krb5cc_test"), "{env}");
        assert!(
            argv.contains("user-from-jet-ssh-user"),
            "JET_SSH_USER is read before the scrub: {argv}"
        );
        if loadenv {
            // TZ's value is a secret a template uses: ssh must not get it.
            assert!(!env.contains("TZ="), "{env}");
            assert_clean("ssh's environment", &env, &tz_secret);
        } else {
            assert!(env.contains(&format!("TZ={tz_secret}")), "{env}");
        }
        assert_run_clean(&r, &secret);
    }
}

#[test]
fn allowlisted_variable_loaded_as_a_secret_is_not_passed_to_children() {
    let secret = format!("Secret-tz-value-{}", canary());
    let p = Project::new();
    p.file("templates/tz.hb", "tz={{ENV_TZ}}\n").file(
        "playbooks/pb.yml",
        "- name: tz\n  groups: [all]\n  tasks:\n    - !template\n      src: tz.hb\n      dest: @OUT@/tz.conf\n    - !shell\n      name: read TZ\n      cmd: echo \"[$TZ]\" | rev; env > @OUT@/env.txt\n",
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv", "-vvv"],
        &[("TZ", &secret), ("LC_MEASUREMENT", "C")],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/tz.conf"), format!("tz={secret}\n"));
    let reversed: String = secret.chars().rev().collect();
    assert!(!r.all().contains(&reversed), "{}", r.all());
    assert!(
        r.stdout.contains("]["),
        "TZ is empty in the child: {}",
        r.stdout
    );
    let env = p.read("out/env.txt");
    assert!(!env.contains("TZ="), "{env}");
    assert!(env.contains("LC_MEASUREMENT=C"), "{env}");
    assert_run_clean(&r, &secret);
}

#[test]
fn non_utf8_secret_is_rejected_by_name_before_anything_runs() {
    use std::os::unix::ffi::OsStrExt;
    let p = Project::new();
    p.file("templates/t.hb", "token={{ENV_APP_TOKEN}}\n").file(
        "playbooks/pb.yml",
        "- name: bin\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n    - !template\n      src: t.hb\n      dest: @OUT@/t.conf\n",
    );
    let value: &[u8] = b"caf\xe9-latin1-secret-\xff\xfe-value";
    let out = p
        .cmd(&["local", "-p", "playbooks/pb.yml", "--loadenv"])
        .env("APP_TOKEN", std::ffi::OsStr::from_bytes(value))
        .env("UNUSED_BINARY", std::ffi::OsStr::from_bytes(b"\xff\xfe"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("ENV_APP_TOKEN"), "{stderr}");
    assert!(stderr.contains("not valid UTF-8"), "{stderr}");
    assert!(stderr.contains("t.hb:1:7"), "{stderr}");
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !stream.windows(8).any(|w| value.windows(8).any(|v| v == w)),
            "no byte of the value is printed"
        );
        assert!(!String::from_utf8_lossy(stream).contains("latin1-secret"));
    }
    assert!(!p.out().join("ran").exists());
    assert!(!p.out().join("t.conf").exists());
}

/// Runs `program args` in `dir` with a fresh pty as its controlling terminal (stdin on the
/// pty, stdout/stderr captured), and returns (exit code, stdout+stderr, what reached the
/// terminal).
fn run_with_terminal(
    dir: &std::path::Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: out-pointers to two ints; the name, termios and winsize pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &raw mut master,
            &raw mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just opened by openpty and are owned here only.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let slave_fd = slave.as_raw_fd();
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::from(slave.try_clone().unwrap()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: runs between fork and exec; setsid and ioctl are async-signal-safe syscalls and
    // the closure only reads an integer captured by value.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() == -1 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    // The slave stays open here, so whatever reached the terminal is still readable.
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let mut tty = Vec::new();
    let mut f = std::fs::File::from(master);
    let mut buf = [0u8; 4096];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        tty.extend_from_slice(&buf[..n]);
    }
    drop(slave);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        String::from_utf8_lossy(&tty).into_owned(),
    )
}

#[test]
fn a_local_task_cannot_write_to_the_terminal() {
    let secret = canary();
    let literal = format!("TTYLIT{}", &canary()[5..]);
    let p = Project::new();
    p.file("templates/app.conf.hb", "token={{ENV_APP_TOKEN}}\n")
        .file(
            "playbooks/pb.yml",
            &format!(
                "- name: tty\n  groups: [all]\n  tasks:\n    - !template\n      src: app.conf.hb\n      dest: @OUT@/app.conf\n    - !shell\n      cmd: cat @OUT@/app.conf > /dev/tty; echo {literal} > /dev/tty; tty\n      failed_when: \"false\"\n"
            ),
        );
    // The harness works: a process started the same way does reach the terminal.
    let (_, _, tty) =
        run_with_terminal(p.path(), "sh", &["-c", "echo CONTROL-LINE > /dev/tty"], &[]);
    assert!(
        tty.contains("CONTROL-LINE"),
        "the test terminal works: {tty:?}"
    );
    let bin = env!("CARGO_BIN_EXE_jetlike");
    for extra in [&[][..], &["-vvv"][..], &["--output", "json", "-vvv"][..]] {
        let mut args = vec!["local", "-p", "playbooks/pb.yml", "--loadenv"];
        args.extend_from_slice(extra);
        let (code, out, tty) = run_with_terminal(p.path(), bin, &args, &[("APP_TOKEN", &secret)]);
        assert_eq!(code, 0, "{out}");
        assert_clean("the terminal", &tty, &secret);
        assert!(
            !tty.contains(&literal),
            "the task reached the terminal: {tty:?}"
        );
        assert_clean("output", &out, &secret);
        if !extra.is_empty() {
            // The task ran, without a terminal to write to.
            assert!(out.contains("not a tty"), "{out}");
            assert!(out.contains("/dev/tty"), "{out}");
        }
    }
}

/// Every process's command line, read from /proc until `stop` is set.
fn sample_cmdlines(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut rounds = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) || rounds < 1 {
        rounds += 1;
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
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
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    seen.into_iter().collect()
}

#[test]
fn no_command_line_is_visible_in_proc_while_a_local_task_runs() {
    let marker = format!("ARGVMARK{}", &canary()[5..]);
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &format!(
            "- name: argv\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: \"sleep 1.5; echo {marker} > @OUT@/ran\"\n"
        ),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || sample_cmdlines(stop))
    };
    let r = p.local(&[]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = sampler.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(p.read("out/ran").contains(&marker), "the task ran");
    // The sampler saw the run: the shell jetlike started, and the task's sleep.
    assert!(
        seen.iter().any(|c| c.contains("head -c")),
        "the sampler saw no shell: {seen:?}"
    );
    assert!(seen.iter().any(|c| c.starts_with("sleep 1.5")), "{seen:?}");
    let leaked: Vec<_> = seen.iter().filter(|c| c.contains(&marker)).collect();
    assert!(
        leaked.is_empty(),
        "command line visible in /proc: {leaked:?}"
    );
}

/// A shell snippet printing the secret held in `file` (as `token=...`) once per cut point,
/// split there: the first part, a pause (so it arrives as a chunk of its own), the rest.
fn print_split_at_every_boundary(file: &str) -> String {
    format!(
        "s=$(cut -d= -f2 {file}); n=${{#s}}; k=1; while [ $k -lt $n ]; do \
         printf 'cut %s: %s' $k \"$(printf %s \"$s\" | cut -c1-$k)\"; sleep 0.03; \
         printf '%s\\n' \"$(printf %s \"$s\" | cut -c$((k+1))-)\"; k=$((k+1)); done"
    )
}

#[test]
fn a_secret_split_at_every_chunk_boundary_of_streamed_output_is_masked() {
    let secret = canary();
    let p = Project::new();
    let split = print_split_at_every_boundary("@OUT@/app.conf");
    p.file("templates/app.conf.hb", "token={{ENV_APP_TOKEN}}\n")
        .file(
            "playbooks/pb.yml",
            &format!(
                "- name: split\n  groups: [all]\n  tasks:\n    - !template\n      src: app.conf.hb\n      dest: @OUT@/app.conf\n    - !shell\n      name: split it\n      cmd: \"{}; exit 1\"\n",
                split.replace('\\', "\\\\").replace('"', "\\\"")
            ),
        );
    let cuts = secret.len() - 1;
    for extra in [&["-vvv"][..], &["--output", "json", "-vvv"][..], &[][..]] {
        let mut args = vec!["local", "-p", "playbooks/pb.yml", "--loadenv"];
        args.extend_from_slice(extra);
        let r = p.run_env(&args, &[("APP_TOKEN", &secret)]);
        assert_eq!(r.code, 1, "{}", r.all());
        assert_run_clean(&r, &secret);
        // Every cut was printed, and masked whole. (The failure tail repeats the last lines.)
        for k in 1..=cuts {
            let line = format!("cut {k}: ***");
            assert!(r.stdout.contains(&line), "{line:?} missing:\n{}", r.stdout);
        }
        if extra.contains(&"json") {
            let streamed: usize = r
                .stdout
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|e| e["event"] == "output")
                .map(|e| e["lines"].as_array().unwrap().len())
                .sum();
            assert_eq!(streamed, cuts, "{}", r.stdout);
        }
    }
}
