//! Jet's control modules and `!facts`, driven through the built binary on the Jet-style
//! playbooks in `tests/jet_compat/control/`: effects on files (not wording), locally, in check
//! mode and over a real sshd; and the ENV_ promise: `!debug` never shows a secret, and an
//! `ENV_` name where it could reach output is refused before anything runs.

mod project;
mod support;

use std::path::Path;

use project::{canary, Project};
use support::{Fleet, Sshd};

const FIXTURES: &str = "tests/jet_compat/control";

/// A project holding the fixtures' `roles/` and `templates/`, with `playbook` as
/// `playbooks/pb.yml` (`@OUT@` replaced by the project's `out/`).
fn project(playbook: &str) -> Project {
    let p = Project::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES);
    for dir in ["roles", "templates"] {
        p.copy_tree(&root, &root.join(dir));
    }
    let text = std::fs::read_to_string(root.join(playbook)).unwrap();
    p.file("playbooks/pb.yml", &text);
    p
}

fn uname_m() -> String {
    let out = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `ID` of this machine's `/etc/os-release`, read independently of jetlike.
fn os_release_id() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("ID="))
        .unwrap()
        .trim_matches('"')
        .to_string()
}

/// The messages of the JSON task events for tasks of `module`.
fn messages(r: &project::Run) -> Vec<String> {
    r.events()
        .iter()
        .filter(|e| e["event"] == "task")
        .filter_map(|e| e["msg"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn set_stores_templated_variables_for_later_tasks() {
    let p = project("set.yml");
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/set.txt"), "hello world 8080 ahello\n");
}

#[test]
fn bare_tags_and_an_ignored_fail() {
    let p = project("bare_tags.yml");
    let r = p.json("local", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(p.out().join("after-ignored").exists());
    let msgs = messages(&r);
    assert_eq!(msgs.len(), 1, "{}", r.all());
    assert!(msgs[0].contains("jet_os_type: Linux"), "{}", msgs[0]);
    assert!(
        msgs[0].contains(&format!("jet_arch: {}", uname_m())),
        "{}",
        msgs[0]
    );
}

#[test]
fn a_role_starting_with_facts_branches_on_the_flavor() {
    let p = project("facts_role.yml");
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/os.txt"), format!("Linux {}\n", uname_m()));
    let flavor = p.read("out/flavor.txt");
    let (flavor, id) = flavor.trim().split_once(' ').unwrap();
    assert_eq!(id, os_release_id());
    assert!(
        ["EL", "Debian", "Arch", "Unknown"].contains(&flavor),
        "{flavor}"
    );
    if id == "debian" || id == "ubuntu" {
        assert_eq!(flavor, "Debian");
    }
    assert_eq!(p.out().join("branch-debian").exists(), flavor == "Debian");
    assert_eq!(p.out().join("branch-el").exists(), flavor == "EL");
    assert!(!p.out().join("branch-macos").exists());
}

#[test]
fn check_mode_gives_the_same_facts_and_sets() {
    let p = project("check.yml");
    let r = p.json("check-local", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let seen = format!("seen=Linux-{}", uname_m());
    assert!(messages(&r).contains(&seen), "{}", r.all());
    let local = p.json("local", &[]);
    assert_eq!(local.code, 0, "{}", local.all());
    assert!(messages(&local).contains(&seen), "{}", local.all());
    // The assertion really is evaluated in check mode.
    let r = p.json("check-local", &["-e", r#"{"wanted": "Plan9"}"#]);
    assert_eq!(r.code, 1, "{}", r.all());
}

#[test]
fn fail_stops_the_host_in_both_modes() {
    let p = project("fail.yml");
    let r = p.local(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(p.out().join("before").exists());
    assert!(!p.out().join("after").exists());
    assert!(r.all().contains("stopping on purpose"), "{}", r.all());
    let r = p.check(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
}

#[test]
fn assert_passes_and_fails_naming_the_condition() {
    let p = project("assert.yml");
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(p.out().join("after").exists());
    std::fs::remove_file(p.out().join("after")).unwrap();
    let r = p.local(&["-e", r#"{"v": "two"}"#]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.all().contains("v must be one"), "{}", r.all());
    assert!(r.all().contains("`true: "), "{}", r.all());
    assert!(!p.out().join("after").exists());
    let r = p.check(&["-e", r#"{"role_name": "db"}"#]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.all().contains("all_true[1]"), "{}", r.all());
}

#[test]
fn debug_never_shows_a_loaded_secret() {
    let p = project("debug_leak.yml");
    let secret = canary("dbg");
    let r = p.run_env(
        &[
            "local",
            "-p",
            "playbooks/pb.yml",
            "--loadenv",
            "--output",
            "json",
            "-vvv",
        ],
        &[("JETLIKE_TEST_TOKEN", secret.as_str())],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    // The secret did reach the template's file, and nothing else.
    assert_eq!(p.read("out/secret.txt"), format!("token={secret}\n"));
    assert!(!r.all().contains(&secret), "{}", r.all());
    assert!(!r.all().contains(&secret[3..15]), "{}", r.all());
    let msgs = messages(&r);
    assert_eq!(msgs.len(), 2, "{}", r.all());
    // The bare !debug shows the host's variables, the !set one included, and no ENV_ name.
    assert!(msgs[0].contains("visible-value-4711"), "{}", msgs[0]);
    assert!(msgs[0].contains("set-value-4712"), "{}", msgs[0]);
    assert!(!msgs[0].contains("ENV_"), "{}", msgs[0]);
    assert!(
        msgs[1].contains("shown_var: visible-value-4711"),
        "{}",
        msgs[1]
    );
    assert!(msgs[1].contains("later: set-value-4712"), "{}", msgs[1]);
}

/// Refused at load: exit 3, located, and the task before it never ran.
fn refused(playbook: &str, secret_env: bool) -> project::Run {
    let p = project(playbook);
    let secret = canary("ref");
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("JETLIKE_TEST_TOKEN", if secret_env { &secret } else { "" })],
    );
    assert_eq!(r.code, 3, "{playbook}: {}", r.all());
    assert!(!p.out().join("ran").exists(), "{playbook}: a task ran");
    assert!(!r.all().contains(&secret), "{}", r.all());
    assert!(r.stderr.contains("pb.yml:"), "{playbook}: {}", r.stderr);
    r
}

#[test]
fn env_names_where_output_could_show_them_are_refused_before_running() {
    for pb in [
        "refuse_debug_env.yml",
        "refuse_echo_env.yml",
        "refuse_assert_env.yml",
    ] {
        let r = refused(pb, true);
        assert!(
            r.stderr.contains("ENV_JETLIKE_TEST_TOKEN"),
            "{pb}: {}",
            r.stderr
        );
    }
    let r = refused("refuse_debug_env.yml", true);
    assert!(r.stderr.contains("pb.yml:7:21"), "{}", r.stderr);
    assert!(
        r.stderr.contains("task \"debug: shown, ENV_"),
        "{}",
        r.stderr
    );
    let r = refused("refuse_set_env.yml", true);
    assert!(r.stderr.contains("ENV_JETLIKE_TEST_TOKEN"), "{}", r.stderr);
}

#[test]
fn external_is_refused_at_load_by_run_and_lint() {
    let r = refused("refuse_external.yml", false);
    assert!(
        r.stderr.contains("!external is not supported"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("!shell"), "{}", r.stderr);
    let p = project("refuse_external.yml");
    let l = p.run(&["lint", "-p", "playbooks/pb.yml"]);
    assert_ne!(l.code, 0, "{}", l.all());
    assert!(
        l.all().contains("!external is not supported"),
        "{}",
        l.all()
    );
    assert!(!p.out().join("ran").exists());
}

#[test]
fn facts_and_set_over_ssh_and_in_check_ssh() {
    let sshd = Sshd::start();
    let mut f = Fleet::new();
    f.host("h1", &sshd, "127.0.0.1").trust(&sshd);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES);
    f.file(
        "templates/os.hb",
        std::fs::read(root.join("templates/os.hb")).unwrap(),
    )
    .playbook(&std::fs::read_to_string(root.join("ssh.yml")).unwrap());
    let r = f.run("check-ssh", &["--output", "json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!f.root("h1").join("os.txt").exists());
    let r = f.run("ssh", &[], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(f.read("h1", "os.txt"), format!("Linux {}\n", uname_m()));
    let conf = f.read("h1", "os.conf");
    assert!(conf.starts_with("type=Linux flavor="), "{conf}");
    assert!(!conf.trim_end().ends_with('='), "{conf}");
}

#[test]
fn realistic_roles_start_with_facts_and_converge_idempotently() {
    let p = project("realistic_roles.yml");
    // No error (warnings are possible: the temp dir's random name in the paths can look
    // like a high-entropy string to the credential detector).
    let lint = p.run(&["lint", "-p", "playbooks/pb.yml"]);
    assert_eq!(lint.code, 0, "{}", lint.all());
    let check = p.check(&[]);
    assert_eq!(check.code, 0, "{}", check.all());
    assert!(!p.out().join("etc").exists(), "check mode wrote files");
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let flavor = match os_release_id().as_str() {
        "debian" | "ubuntu" => "Debian",
        _ => "",
    };
    let (package, conf_dir) = if flavor == "Debian" {
        ("apache2", "etc/apache2/sites-enabled")
    } else {
        ("", "")
    };
    if !package.is_empty() {
        let site = p.read(&format!("out/{conf_dir}/shop.conf"));
        assert!(
            site.starts_with(&format!("# shop on Debian ({package})\n")),
            "{site}"
        );
        assert_eq!(
            p.read("out/etc/redis/redis.conf"),
            format!("port 6379\nmaxmemory 128mb\n# {}\n", os_release_id())
        );
    }
    let srv = std::fs::metadata(p.out().join("srv/shop")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&srv.permissions()) & 0o777,
        0o750
    );
    // The second run changes nothing.
    let again = p.local(&["--output", "json"]);
    assert_eq!(again.code, 0, "{}", again.all());
    let changed: Vec<String> = again
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "task" && e["changed"] == true)
        .map(|e| format!("{} {}", e["module"], e["task"]))
        .collect();
    assert!(changed.is_empty(), "changed on the second run: {changed:?}");
}
