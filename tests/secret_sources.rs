//! Secret sources with the real tools: `pass` (a throw-away `GnuPG` key), `sops` + `age`, the
//! `file` provider, `command` providers (timeout, failure, bad UTF-8), the play's `secrets:`
//! declaration and the Clace form `{{secret "provider" "key"}}`. Each provider is leak-tested:
//! the value reaches the rendered file and nothing else (output plain, -vvv, JSON; errors;
//! argv of every process during the run; child environments; other files).
//!
//! The tools are installed by scripts/test.sh; a missing tool fails the test loudly.

mod project;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use project::{Project, Run};

fn canary() -> String {
    project::canary("cnry-")
}

fn forms(secret: &str) -> Vec<String> {
    let b = secret.as_bytes();
    vec![
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(b),
        secret[..16].to_string(),
        secret[8..].to_string(),
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

/// The absolute path of a tool; panics (the test fails) when it is missing.
fn tool(name: &str) -> PathBuf {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "{name} is not installed: run scripts/test.sh (it installs pass, gnupg, age and sops)"
    );
    if path.contains("/shims/") {
        // pyenv shims need the caller's HOME; the real script does not.
        let out = std::process::Command::new("pyenv")
            .args(["which", name])
            .output()
            .unwrap();
        assert!(out.status.success(), "pyenv which {name}");
        return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    }
    PathBuf::from(path)
}

fn sh(cmd: &str, env: &[(&str, &str)], cwd: &Path) {
    let mut c = std::process::Command::new("sh");
    c.args(["-c", cmd]).current_dir(cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir` (recursively) except `skip`, checked for the secret.
fn assert_files_clean(dir: &Path, skip: &[PathBuf], secret: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if skip.contains(&p) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            assert_files_clean(&p, skip, secret);
        } else if meta.is_file() {
            let content = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            assert_clean(&format!("file {}", p.display()), &content, secret);
        }
    }
}

/// Samples /proc/*/cmdline and /proc/*/environ (of this uid's processes) while running `f`.
fn sampling<T>(f: impl FnOnce() -> T) -> (T, String) {
    sampling_with(None, f)
}

/// `sampling`, with a handshake for a task that must be seen: once the task creates
/// `dir/sample-me`, three whole scans are made before `dir/sampled` tells it to go on (a
/// fixed sleep is not enough when the machine is loaded: one scan can take longer).
fn sampling_with<T>(handshake: Option<&Path>, f: impl FnOnce() -> T) -> (T, String) {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let me = std::process::id().to_string();
    let handshake = handshake.map(Path::to_path_buf);
    if let Some(h) = &handshake {
        let _ = std::fs::remove_file(h.join("sample-me"));
        let _ = std::fs::remove_file(h.join("sampled"));
    }
    let sampler = std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        let mut samples = 0;
        let mut scans_while_wanted = 0;
        while !s2.load(Ordering::Relaxed) || samples == 0 {
            samples += 1;
            let wanted = handshake
                .as_ref()
                .is_some_and(|h| h.join("sample-me").exists());
            for e in std::fs::read_dir("/proc").unwrap().flatten() {
                let pid = e.file_name().to_string_lossy().into_owned();
                if !pid.chars().all(|c| c.is_ascii_digit()) || pid == me {
                    continue;
                }
                for what in ["cmdline", "environ"] {
                    if let Ok(b) = std::fs::read(e.path().join(what)) {
                        seen.insert(String::from_utf8_lossy(&b).replace('\0', " "));
                    }
                }
            }
            if wanted {
                scans_while_wanted += 1;
                if scans_while_wanted == 3 {
                    if let Some(h) = &handshake {
                        std::fs::write(h.join("sampled"), "").unwrap();
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        seen.into_iter().collect::<Vec<_>>().join("\n")
    });
    let out = f();
    stop.store(true, Ordering::Relaxed);
    (out, sampler.join().unwrap())
}

/// A project whose play declares `decl` (YAML lines under `secrets:`) and renders
/// `templates/app.conf.hb` into out/app.conf; then a shell task dumps its environment and
/// prints the rendered file (so masking is exercised), and a slow task gives the argv sampler
/// time.
fn project(decl: &str, template: &str) -> Project {
    let p = Project::new();
    let secrets = if decl.is_empty() {
        String::new()
    } else {
        format!("  secrets:\n{decl}")
    };
    p.file("templates/app.conf.hb", template).file(
        "playbooks/pb.yml",
        &format!(
            "- name: sources\n  groups: [all]\n{secrets}  tasks:\n    - !template\n      name: render\n      src: app.conf.hb\n      dest: @OUT@/app.conf\n    - !shell\n      name: show\n      cmd: env > @OUT@/child-env.txt; cat @OUT@/app.conf; touch @OUT@/sample-me; i=0; while [ ! -e @OUT@/sampled ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n"
        ),
    );
    p
}

/// Runs the project in plain, -vvv and JSON modes with `env`, sampling every process's
/// argv and environment; asserts success, the rendered file, and no leak anywhere else.
fn run_everywhere(p: &Project, env: &[(&str, &str)], extra: &[&str], secret: &str, want: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let tmp_s = tmp.path().to_str().unwrap().to_string();
    let mut env = env.to_vec();
    env.push(("TMPDIR", &tmp_s));
    for mode in [&[][..], &["-vvv"][..], &["--output", "json", "-vvv"][..]] {
        let _ = std::fs::remove_file(p.out().join("app.conf"));
        let mut args = vec!["local", "-p", "playbooks/pb.yml"];
        args.extend_from_slice(extra);
        args.extend_from_slice(mode);
        let (r, procs) = sampling_with(Some(&p.out()), || p.run_env(&args, &env));
        assert_eq!(r.code, 0, "{mode:?}: {}", r.all());
        assert_run_clean(&r, secret);
        if !mode.is_empty() {
            assert!(
                r.stdout.contains("***"),
                "masked output expected: {}",
                r.stdout
            );
        }
        assert!(
            procs.contains("sleep 0.05"),
            "the sampler saw the run's processes: {procs}"
        );
        assert_clean(
            "argv/environment of processes during the run",
            &procs,
            secret,
        );
        assert_eq!(p.read("out/app.conf"), want);
        assert_eq!(
            std::fs::metadata(p.out().join("app.conf"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_clean("child environment", &p.read("out/child-env.txt"), secret);
    }
    assert_files_clean(&p.out(), &[p.out().join("app.conf")], secret);
    assert_files_clean(tmp.path(), &[], secret);
}

#[test]
fn file_provider_refuses_group_readable_files_and_reads_owner_only_ones() {
    let secret = canary();
    let p = project(
        "    DB_PASSWORD: {provider: file, key: secret.txt}\n",
        "db={{ENV_DB_PASSWORD}}\nagain={{secret \"file\" \"secret.txt\"}}\n",
    );
    let f = p.path().join("secret.txt");
    std::fs::write(&f, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains(
            "secret ENV_DB_PASSWORD: file secret.txt is readable by group or others (mode 0644)"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("chmod 600 secret.txt"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was run"), "{}", r.stderr);
    assert!(!p.out().join("app.conf").exists());
    assert!(!p.out().join("child-env.txt").exists(), "no task ran");
    assert_run_clean(&r, &secret);

    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    // One trailing newline is trimmed; the value is rendered twice (declared and Clace form).
    run_everywhere(
        &p,
        &[],
        &[],
        &secret,
        &format!("db={secret}\nagain={secret}\n"),
    );

    // Rotation: check mode tells which secrets would change, showing neither value.
    let rotated = canary();
    std::fs::write(&f, format!("{rotated}\n")).unwrap();
    for mode in [&[][..], &["--output", "json"][..]] {
        let mut args = vec!["check-local", "-p", "playbooks/pb.yml"];
        args.extend_from_slice(mode);
        let r = p.run(&args);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(r.stdout.contains("ENV_DB_PASSWORD"), "{}", r.stdout);
        assert!(r.stdout.contains("changed"), "{}", r.stdout);
        assert_run_clean(&r, &secret);
        assert_run_clean(&r, &rotated);
    }
}

/// A throw-away `pass` store with a `GnuPG` key without passphrase, in its own HOME.
struct PassStore {
    home: tempfile::TempDir,
}

impl PassStore {
    fn new(entries: &[(&str, &str)]) -> PassStore {
        tool("pass");
        tool("gpg");
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap().to_string();
        let env = [("HOME", h.as_str()), ("GNUPGHOME", "")];
        std::fs::create_dir_all(home.path().join(".gnupg")).unwrap();
        std::fs::set_permissions(
            home.path().join(".gnupg"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(
            home.path().join("key.params"),
            "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\nName-Real: jetlike test\nName-Email: test@jetlike.invalid\nExpire-Date: 0\n%commit\n",
        )
        .unwrap();
        sh(
            "unset GNUPGHOME; gpg --batch --quiet --gen-key key.params && pass init test@jetlike.invalid >/dev/null",
            &env,
            home.path(),
        );
        for (k, v) in entries {
            std::fs::write(home.path().join("value.tmp"), format!("{v}\n")).unwrap();
            sh(
                &format!(
                    "unset GNUPGHOME; pass insert -m -f '{k}' < value.tmp >/dev/null; rm value.tmp"
                ),
                &env,
                home.path(),
            );
        }
        PassStore { home }
    }

    fn home(&self) -> &str {
        self.home.path().to_str().unwrap()
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("HOME", self.home())
            .env_remove("GNUPGHOME")
            .output();
    }
}

#[test]
fn pass_provider_with_a_throwaway_gpg_key() {
    let secret = canary();
    let store = PassStore::new(&[("prod/db", &secret)]);
    let p = project(
        "    DB_PASSWORD: {provider: pass, key: prod/db}\n",
        "db={{ENV_DB_PASSWORD}}\nclace={{secret \"pass\" \"prod/db\"}}\n",
    );
    p.file(
        "jetlike-secrets.yml",
        "providers:\n  pass:\n    command: [pass, show, \"{key}\"]\n    timeout: 20\n",
    );
    run_everywhere(
        &p,
        &[("HOME", store.home())],
        &[],
        &secret,
        &format!("db={secret}\nclace={secret}\n"),
    );
    // The same store through --secrets-config elsewhere and the Jinja form, no declaration.
    let p = Project::new();
    p.file(
        "conf/providers.yml",
        "providers:\n  pw:\n    command: [pass, show, \"{key}\"]\n",
    )
    .file("templates/app.conf.j2", "db={{ secret(\"pw\", \"prod/db\") }}\n")
    .file(
        "playbooks/pb.yml",
        "- name: jinja\n  groups: [all]\n  tasks:\n    - !template\n      src: app.conf.j2\n      dest: @OUT@/app.conf\n    - !shell\n      cmd: env > @OUT@/child-env.txt; cat @OUT@/app.conf; touch @OUT@/sample-me; i=0; while [ ! -e @OUT@/sampled ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n",
    );
    run_everywhere(
        &p,
        &[("HOME", store.home())],
        &["--secrets-config", "conf/providers.yml"],
        &secret,
        &format!("db={secret}\n"),
    );
    // A missing entry: pass's own error (masked) names the problem; exit 3, nothing ran.
    p.file(
        "templates/app.conf.j2",
        "db={{ secret(\"pw\", \"prod/nothing\") }}\n",
    );
    let r = p.run_env(
        &[
            "local",
            "-p",
            "playbooks/pb.yml",
            "--secrets-config",
            "conf/providers.yml",
        ],
        &[("HOME", store.home())],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("secret ENV_secret:pw:prod/nothing: provider pw, key \"prod/nothing\": exited with status 1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("not in the password store"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("templates/app.conf.j2:1:"),
        "{}",
        r.stderr
    );
    assert_run_clean(&r, &secret);
}

#[test]
fn sops_and_age_provider() {
    let secret = canary();
    let sops = tool("sops");
    tool("age-keygen");
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_str().unwrap();
    let p = project(
        "    DB_PASSWORD: {command: [@SOPS@, -d, --extract, '[\"db\"][\"password\"]', secrets.enc.yaml]}\n",
        "db={{ENV_DB_PASSWORD}}\n",
    );
    let pb = p
        .read("playbooks/pb.yml")
        .replace("@SOPS@", sops.to_str().unwrap());
    std::fs::write(p.path().join("playbooks/pb.yml"), pb).unwrap();
    std::fs::write(
        p.path().join("plain.yaml"),
        format!("db:\n  password: {secret}\n"),
    )
    .unwrap();
    sh(
        &format!(
            "mkdir -p $HOME/.config/sops/age && age-keygen -o $HOME/.config/sops/age/keys.txt 2>/dev/null && \
             {} -e --age \"$(age-keygen -y $HOME/.config/sops/age/keys.txt)\" --input-type yaml --output-type yaml plain.yaml > secrets.enc.yaml && rm plain.yaml",
            sops.display()
        ),
        &[("HOME", h)],
        p.path(),
    );
    assert_clean("the encrypted file", &p.read("secrets.enc.yaml"), &secret);
    run_everywhere(&p, &[("HOME", h)], &[], &secret, &format!("db={secret}\n"));
    assert_files_clean(home.path(), &[], &secret);
}

#[test]
fn command_provider_timeout_failure_and_bad_utf8_never_show_a_value() {
    let secret = canary();
    let other = canary();
    let p = Project::new();
    std::fs::write(p.path().join("value.txt"), &secret).unwrap();
    std::fs::write(p.path().join("other.txt"), &other).unwrap();
    p.file("templates/a.hb", "a={{ENV_A}}\n");
    let play = |decl: &str| {
        format!("- name: cmd\n  groups: [all]\n  secrets:\n    A: {decl}\n    OTHER: {{command: [cat, other.txt]}}\n  tasks:\n    - !template\n      src: a.hb\n      dest: @OUT@/a.conf\n    - !template\n      src: o.hb\n      dest: @OUT@/o.conf\n")
    };
    p.file("templates/o.hb", "o={{ENV_OTHER}}\n");

    // Fails after printing the value to stdout and stderr, and the other secret to stderr.
    p.file(
        "playbooks/pb.yml",
        &play("{command: [sh, -c, 'cat value.txt; echo; cat value.txt other.txt >&2; echo \" gave up\" >&2; exit 7']}"),
    );
    for mode in [&[][..], &["-vvv"][..], &["--output", "json"][..]] {
        let mut args = vec!["local", "-p", "playbooks/pb.yml"];
        args.extend_from_slice(mode);
        let r = p.run(&args);
        assert_eq!(r.code, 3, "{}", r.all());
        assert!(
            r.all().contains("secret ENV_A: command `sh -c"),
            "{}",
            r.all()
        );
        assert!(r.all().contains("exited with status 7"), "{}", r.all());
        assert!(
            r.all().contains("gave up"),
            "stderr is shown, masked: {}",
            r.all()
        );
        assert!(r.all().contains("templates/a.hb:1:3"), "{}", r.all());
        assert_run_clean(&r, &secret);
        assert_run_clean(&r, &other);
        assert!(!p.out().join("o.conf").exists(), "nothing ran");
    }

    // A timeout names the secret and the provider; the process group is killed.
    p.file(
        "playbooks/pb.yml",
        &play("{command: [sh, -c, 'cat value.txt; cat value.txt >&2; sleep 30'], timeout: 1}"),
    );
    let t = std::time::Instant::now();
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("secret ENV_A: command `sh -c cat value.txt; cat value.txt >&2; sleep 30` did not finish within 1s; it was stopped"),
        "{}",
        r.stderr
    );
    assert_run_clean(&r, &secret);
    assert_run_clean(&r, &other);

    // Bad UTF-8 is refused by name.
    p.file(
        "playbooks/pb.yml",
        &play("{command: [printf, '\\377\\376ab']}"),
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains(
            "secret ENV_A: command `printf \\377\\376ab` gave a value that is not valid UTF-8"
        ),
        "{}",
        r.stderr
    );
    assert_run_clean(&r, &other);

    // A background process holding its output open, or an output too large to be a secret:
    // an error, never a partial value.
    p.file(
        "playbooks/pb.yml",
        &play("{command: [sh, -c, 'sleep 4 & cat value.txt'], timeout: 1}"),
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("secret ENV_A: command `sh -c sleep 4 & cat value.txt`: it exited, but its output stayed open"), "{}", r.stderr);
    assert!(!p.out().join("a.conf").exists());
    assert_run_clean(&r, &secret);
    p.file(
        "playbooks/pb.yml",
        &play("{command: [sh, -c, 'yes aaaaaaaa | head -c 2000000']}"),
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("its output is larger than 1048576 bytes"),
        "{}",
        r.stderr
    );

    // It gets no terminal, no stdin, and only the allowlisted environment.
    p.file(
        "playbooks/pb.yml",
        &play("{command: [sh, -c, 'env > provider-env.txt; tty > provider-tty.txt; cat > provider-stdin.txt; cat value.txt']}"),
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("INJECTED_TOKEN", &other), ("SOME_SETTING", "x")],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/a.conf"), format!("a={secret}\n"));
    let penv = p.read("provider-env.txt");
    assert!(penv.contains("PATH="), "{penv}");
    assert!(
        !penv.contains("INJECTED_TOKEN") && !penv.contains("SOME_SETTING"),
        "{penv}"
    );
    assert_clean("provider environment", &penv, &other);
    assert!(p.read("provider-tty.txt").contains("not a tty"));
    assert_eq!(p.read("provider-stdin.txt"), "");
}

#[test]
fn declared_secrets_only_and_lazily() {
    let secret = canary();
    let p = Project::new();
    p.file("templates/a.hb", "a={{ENV_A}}\n").file(
        "playbooks/pb.yml",
        "- name: decl\n  groups: [all]\n  secrets:\n    A: {provider: env, key: APP_A}\n    UNUSED: {command: [touch, unused-was-read]}\n  tasks:\n    - !template\n      src: a.hb\n      dest: @OUT@/a.conf\n",
    );
    // An env secret under another name, with --loadenv; the unused declaration is not read.
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv", "-vvv"],
        &[("APP_A", &secret)],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/a.conf"), format!("a={secret}\n"));
    assert!(!p.path().join("unused-was-read").exists());
    assert_run_clean(&r, &secret);

    // Undeclared ENV_ names and undeclared secret calls are errors before the run, located.
    p.file(
        "templates/a.hb",
        "a={{ENV_A}}\nb={{ENV_APP_A}}\nc={{secret \"env\" \"HOME\"}}\nd={{secret \"env\" \"APP_A\"}}\n",
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("APP_A", &secret)],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains(
            "ENV_APP_A is used by template templates/a.hb, but play \"decl\" does not declare it"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("templates/a.hb:2:3"), "{}", r.stderr);
    assert!(
        r.stderr.contains("template templates/a.hb uses provider env, variable HOME, which play \"decl\" does not declare"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("templates/a.hb:3:3"), "{}", r.stderr);
    // (line 4 names a declared source: allowed.)
    assert!(!r.stderr.contains("templates/a.hb:4:"), "{}", r.stderr);
    assert!(!p.path().join("unused-was-read").exists());
    assert_run_clean(&r, &secret);

    // The env provider needs --loadenv, as ENV_ always did.
    p.file("templates/a.hb", "a={{ENV_A}}\n");
    let r = p.run_env(&["local", "-p", "playbooks/pb.yml"], &[("APP_A", &secret)]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("--loadenv"), "{}", r.stderr);

    // Malformed declarations and unknown providers.
    p.file(
        "playbooks/pb.yml",
        "- name: decl\n  groups: [all]\n  secrets:\n    A: {provider: nowhere}\n  tasks:\n    - !template\n      src: a.hb\n      dest: @OUT@/a.conf\n",
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("secret A: give either provider and key"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("pb.yml:4:"), "{}", r.stderr);
    p.file(
        "playbooks/pb.yml",
        "- name: decl\n  groups: [all]\n  secrets:\n    A: {provider: nowhere, key: x}\n  tasks:\n    - !template\n      src: a.hb\n      dest: @OUT@/a.conf\n",
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("provider \"nowhere\" is not configured"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_secret_form_outside_template_files_is_rejected_before_the_run() {
    let p = Project::new();
    std::fs::write(p.path().join("s.txt"), "value-of-the-file\n").unwrap();
    std::fs::set_permissions(
        p.path().join("s.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    for (field, at) in [
        ("    - !shell\n      cmd: echo {{secret \"file\" \"s.txt\"}}\n", "pb.yml:7:17"),
        ("    - !shell\n      cmd: echo hi\n      with:\n        condition: (eq (secret \"file\" \"s.txt\") \"x\")\n", "pb.yml:"),
    ] {
        p.file(
            "playbooks/pb.yml",
            &format!("- name: outside\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n{field}"),
        );
        let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
        assert_eq!(r.code, 3, "{}", r.all());
        assert!(
            r.stderr.contains("{{secret ...}} is used outside a template file"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains(at), "{}", r.stderr);
        assert!(!p.out().join("ran").exists());
        assert!(!r.all().contains("value-of-the-file"));
    }
    // In play vars too.
    p.file(
        "playbooks/pb.yml",
        "- name: outside\n  groups: [all]\n  vars:\n    x: '{{secret \"file\" \"s.txt\"}}'\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n",
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("outside a template file"), "{}", r.stderr);
    assert!(r.stderr.contains("pb.yml:4:"), "{}", r.stderr);
    // A computed provider or key cannot be checked before the run.
    p.file("templates/t.hb", "x={{secret \"file\" name}}\n").file(
        "playbooks/pb.yml",
        "- name: computed\n  groups: [all]\n  vars:\n    name: s.txt\n  tasks:\n    - !template\n      src: t.hb\n      dest: @OUT@/t\n",
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("without a literal provider and key"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("templates/t.hb:1:3"), "{}", r.stderr);
}

#[test]
fn pass_env_reaches_the_provider_only_and_is_masked() {
    let token = canary();
    let p = Project::new();
    p.file(
        "jetlike-secrets.yml",
        "providers:\n  tok:\n    command: [sh, -c, 'printf \"%s-%s\" \"$MY_TOKEN\" \"$1\" | rev', sh, \"{key}\"]\n    pass_env: [MY_TOKEN]\n  bad:\n    command: [sh, -c, 'echo \"token $MY_TOKEN\" >&2; exit 2']\n    pass_env: [MY_TOKEN]\n",
    )
    .file("templates/t.hb", "v={{secret \"tok\" \"abc\"}}\n")
    .file(
        "playbooks/pb.yml",
        "- name: tok\n  groups: [all]\n  tasks:\n    - !template\n      src: t.hb\n      dest: @OUT@/t.conf\n    - !shell\n      cmd: env > @OUT@/child-env.txt; cat @OUT@/t.conf; echo \"$MY_TOKEN\"\n",
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "-vvv"],
        &[("MY_TOKEN", &token)],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let want: String = format!("{token}-abc").chars().rev().collect();
    assert_eq!(p.read("out/t.conf"), format!("v={want}\n"));
    assert!(!r.all().contains(&want), "{}", r.all());
    assert_run_clean(&r, &token);
    let env = p.read("out/child-env.txt");
    assert!(!env.contains("MY_TOKEN"), "{env}");
    assert_clean("child environment", &env, &token);

    // A failing provider printing the token: its stderr is masked.
    p.file("templates/t.hb", "v={{secret \"bad\" \"abc\"}}\n");
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml"],
        &[("MY_TOKEN", &token)],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("its stderr (masked): token ***"),
        "{}",
        r.stderr
    );
    assert_run_clean(&r, &token);

    // Not set: a clear error naming the variable.
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("it needs MY_TOKEN (pass_env)"),
        "{}",
        r.stderr
    );
}

#[test]
fn lint_reports_declarations_and_the_blast_radius_of_a_secret() {
    let p = Project::new();
    p.file("templates/a.hb", "a={{ENV_DB}}\nb={{ENV_OTHER}}\n")
        .file(
            "templates/b.j2",
            "c={{ secret(\"pass\", \"prod/api\") }}\nd={{ secret(\"pass\", \"prod/db\") }}\n",
        )
        .file(
            "playbooks/pb.yml",
            "- name: decl\n  groups: [web]\n  secrets:\n    DB: {provider: pass, key: prod/db}\n    UNUSED: {provider: pass, key: prod/unused}\n  tasks:\n    - !template\n      src: a.hb\n      dest: /etc/app/a.conf\n      attributes: {mode: 0o640, owner: app, group: app}\n    - !template\n      src: b.j2\n      dest: /etc/app/b.conf\n- name: nodecl\n  groups: [db]\n  tasks:\n    - !template\n      src: a.hb\n      dest: /srv/a.conf\n",
        );
    let r = p.run(&["lint", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stdout.contains("templates/a.hb:2:3: error[secret-undeclared]: ENV_OTHER is used by this template, but play \"decl\" does not declare it"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("templates/b.j2:1:6: error[secret-undeclared]: this template uses provider pass, key \"prod/api\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("playbooks/pb.yml:5:14: warning[secret-unused]: secret ENV_UNUSED is declared by play \"decl\""),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("ENV_DB is used by"), "{}", r.stdout);
    // Named providers are checked against jetlike-secrets.yml (none here, then one lacking
    // "pass"): warnings, as a run may name another file with --secrets-config.
    assert!(
        r.stdout.contains("playbooks/pb.yml:4:10: warning[secret-provider-unknown]: provider \"pass\" is not configured in jetlike-secrets.yml"),
        "{}",
        r.stdout
    );
    p.file(
        "jetlike-secrets.yml",
        "providers:\n  vault_prod:\n    command: [vault, kv, get, \"{key}\"]\n",
    );
    let r2 = p.run(&["lint", "-p", "playbooks/pb.yml"]);
    assert!(
        r2.stdout.contains("playbooks/pb.yml:4:10: warning[secret-provider-unknown]: provider \"pass\" is not configured in jetlike-secrets.yml"),
        "{}",
        r2.stdout
    );
    assert!(
        r2.stdout
            .contains("templates/b.j2:1:6: warning[secret-provider-unknown]"),
        "{}",
        r2.stdout
    );
    p.file(
        "jetlike-secrets.yml",
        "providers:\n  env:\n    command: [x]\n",
    );
    let r2 = p.run(&["lint", "-p", "playbooks/pb.yml"]);
    assert!(
        r2.stdout.contains("error[secret-config]: cannot read the secrets configuration jetlike-secrets.yml: provider \"env\" is built in"),
        "{}",
        r2.stdout
    );
    std::fs::remove_file(p.path().join("jetlike-secrets.yml")).unwrap();
    // Play "nodecl" reads ENV_DB from the environment, "decl" from pass: the run refuses it.
    assert!(
        r.stdout.contains("templates/a.hb:1:3: error[secret-source-conflict]: ENV_DB comes from provider env, variable DB in play \"nodecl\", but from provider pass, key \"prod/db\" in play \"decl\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("[ENV_secret:pass:prod/api, ENV_secret:pass:prod/db]"),
        "secret flow: {}",
        r.stdout
    );

    let r = p.run(&["check-local", "-p", "playbooks/pb.yml", "--loadenv"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("ENV_DB comes from provider env, variable DB here, but from provider pass, key \"prod/db\" at templates/a.hb:1:3"),
        "{}",
        r.stderr
    );

    let r = p.run(&["lint", "-p", "playbooks/pb.yml", "--secret", "DB"]);
    assert!(
        r.stdout
            .contains("ENV_DB (also named ENV_secret:pass:prod/db): 3 file(s) would receive it"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("/etc/app/a.conf (play \"decl\", template a.hb): hosts groups web; mode 0640; owner app; group app"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("/srv/a.conf (play \"nodecl\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("/etc/app/b.conf (play \"decl\", template b.j2)"),
        "the secret call of the same source: {}",
        r.stdout
    );
    let r = p.run(&[
        "lint",
        "-p",
        "playbooks/pb.yml",
        "--secret",
        "ENV_DB",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["secret"], "ENV_DB");
    assert_eq!(doc["receivers"].as_array().unwrap().len(), 3);
    assert_eq!(doc["receivers"][0]["owner"], "app");
}

/// Only the secrets of the selected hosts' templates are read, and all of them before any
/// host is contacted: a failing provider stops the run with exit 3 and no `ssh` started.
#[test]
fn resolution_is_lazy_per_selected_host_and_before_any_connection() {
    let p = Project::new();
    let bin = p.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = p.path().join("ssh.log");
    let w = bin.join("ssh");
    std::fs::write(
        &w,
        format!(
            "#!/bin/sh\necho \"ssh $*\" >> '{}'\nexit 255\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    p.file("inv/groups/web", "hosts: [web1]\n")
        .file("inv/groups/db", "hosts: [db1]\n")
        .file("templates/w.hb", "w={{ENV_W}}\n")
        .file("templates/d.hb", "d={{ENV_D}}\n")
        .file(
            "playbooks/pb.yml",
            "- name: web\n  groups: [web]\n  secrets:\n    W: {command: [sh, -c, 'touch web-read; echo web-secret-value']}\n  tasks:\n    - !template\n      src: w.hb\n      dest: /tmp/w.conf\n- name: db\n  groups: [db]\n  secrets:\n    D: {command: [sh, -c, 'touch db-read; echo no >&2; exit 1']}\n  tasks:\n    - !template\n      src: d.hb\n      dest: /tmp/d.conf\n",
        );
    // Only web1: the db play's provider is never run; then web1 is contacted (and fails).
    let r = p.run_env(
        &[
            "check-ssh",
            "-p",
            "playbooks/pb.yml",
            "-i",
            "inv",
            "--limit-hosts",
            "web1",
            "--connect-timeout",
            "2",
        ],
        &[("PATH", &path)],
    );
    assert_eq!(r.code, 4, "web1 is unreachable: {}", r.all());
    assert!(p.path().join("web-read").exists());
    assert!(!p.path().join("db-read").exists(), "the db secret was read");
    assert!(log.exists(), "ssh was started for web1");
    assert!(!r.all().contains("web-secret-value"), "{}", r.all());
    std::fs::remove_file(&log).unwrap();
    std::fs::remove_file(p.path().join("web-read")).unwrap();

    // Every host: the db provider fails before any connection.
    let r = p.run_env(
        &[
            "check-ssh",
            "-p",
            "playbooks/pb.yml",
            "-i",
            "inv",
            "--connect-timeout",
            "2",
        ],
        &[("PATH", &path)],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("secret ENV_D: command `sh -c touch db-read; echo no >&2; exit 1`: exited with status 1; its stderr (masked): no"),
        "{}",
        r.stderr
    );
    assert!(p.path().join("db-read").exists());
    assert!(
        !log.exists(),
        "no host may be contacted: {:?}",
        std::fs::read_to_string(&log)
    );
}

/// playbooks/rotate-db-password.yml, as shipped: first run, idempotent second run, then a
/// rotation that check mode reports by name only and that fires the restart handler.
#[test]
fn bundled_rotation_example_rotates_and_restarts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let playbook = root.join("playbooks/rotate-db-password.yml");
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    std::fs::create_dir_all(work.path().join("secrets")).unwrap();
    let secret_file = work.path().join("secrets/db_password");
    let write = |v: &str| {
        std::fs::write(&secret_file, format!("{v}\n")).unwrap();
        std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let extra = format!("{{\"app_dir\": \"{}\"}}", app.display());
    let run = |mode: &str| {
        let out = assert_cmd::Command::cargo_bin("jetlike")
            .unwrap()
            .current_dir(work.path())
            .args([mode, "-p", playbook.to_str().unwrap(), "-e", &extra, "-vvv"])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let old = canary();
    write(&old);
    let r = run("local");
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(p_read(&app.join("db.conf")).contains(&format!("password = {old}\n")));
    assert_eq!(p_read(&app.join("restarts.log")), "restart\n");
    assert_run_clean(&r, &old);
    let r = run("local");
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        p_read(&app.join("restarts.log")),
        "restart\n",
        "nothing changed"
    );

    let new = canary();
    write(&new);
    let r = run("check-local");
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("ENV_DB_PASSWORD: changed"),
        "{}",
        r.stdout
    );
    assert_run_clean(&r, &old);
    assert_run_clean(&r, &new);
    assert!(
        p_read(&app.join("db.conf")).contains(&old),
        "check mode changes nothing"
    );
    let r = run("local");
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(p_read(&app.join("db.conf")).contains(&format!("password = {new}\n")));
    assert_eq!(
        p_read(&app.join("restarts.log")),
        "restart\nrestart\n",
        "the handler fired"
    );
    assert_run_clean(&r, &old);
    assert_run_clean(&r, &new);
}

fn p_read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Over SSH (a real sshd on loopback), a `pass` secret reaches the rendered file on each host
/// and nothing else: output in every mode, the argv and environment of every process during
/// the run (`ssh` included), the remote command's environment, and check mode after rotation.
#[test]
fn pass_secret_over_ssh_reaches_the_target_file_only() {
    support::require_sshd();
    let secret = canary();
    let store = PassStore::new(&[("prod/db", &secret)]);
    let sshd = support::Sshd::start_on(&["127.0.0.1", "127.0.0.2"]);
    let mut f = support::Fleet::new();
    f.host("h1", &sshd, "127.0.0.1")
        .host("h2", &sshd, "127.0.0.2");
    f.trust(&sshd);
    f.file(
        "jetlike-secrets.yml",
        "providers:\n  pass:\n    command: [pass, show, \"{key}\"]\n",
    )
    .file("templates/db.conf.hb", "password={{ENV_DB_PASSWORD}}\n")
    .playbook(
        "- name: db\n  groups: [web]\n  secrets:\n    DB_PASSWORD: {provider: pass, key: prod/db}\n  tasks:\n    - !template\n      src: db.conf.hb\n      dest: \"{{root_dir}}/db.conf\"\n    - !shell\n      cmd: env > {{root_dir}}/remote-env.txt; cat {{root_dir}}/db.conf; sleep 0.3\n",
    );
    for mode in [&[][..], &["-vvv"][..], &["--output", "json", "-vvv"][..]] {
        let (r, procs) = sampling(|| f.run("ssh", mode, &[("HOME", store.home())]));
        assert_eq!(r.code, 0, "{mode:?}: {}", r.all());
        assert_clean("output", &r.all(), &secret);
        assert!(procs.contains("ssh"), "the sampler saw ssh: {procs}");
        assert_clean(
            "argv/environment of processes during the run",
            &procs,
            &secret,
        );
        for h in ["h1", "h2"] {
            assert_eq!(f.read(h, "db.conf"), format!("password={secret}\n"));
            assert_eq!(f.mode(h, "db.conf"), 0o600);
            assert_clean("remote environment", &f.read(h, "remote-env.txt"), &secret);
        }
    }
    // Rotation: check-ssh names the secret per host, shows neither value.
    let rotated = canary();
    std::fs::write(store.home.path().join("value.tmp"), format!("{rotated}\n")).unwrap();
    sh(
        "unset GNUPGHOME; pass insert -m -f prod/db < value.tmp >/dev/null; rm value.tmp",
        &[("HOME", store.home())],
        store.home.path(),
    );
    let r = f.run("check-ssh", &[], &[("HOME", store.home())]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("ENV_DB_PASSWORD: changed"),
        "{}",
        r.stdout
    );
    assert_clean("check-ssh output", &r.all(), &secret);
    assert_clean("check-ssh output", &r.all(), &rotated);
}
