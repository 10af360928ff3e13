//! `jetlike lint`: one fixture per finding code under tests/fixtures/lint/, each with golden
//! human and JSON output; a clean fixture; the bundled example; planted secrets never printed.

mod project;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use project::Project;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

fn run_in(dir: &Path, args: &[&str]) -> Out {
    let out = assert_cmd::Command::cargo_bin("jetlike")
        .unwrap()
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .args(args)
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fixture: its directory, extra arguments, and every finding it must produce as
/// (code, "<file:line:column>", or "" for command-line findings). It must produce no other.
struct Fixture {
    name: &'static str,
    args: &'static [&'static str],
    expect: &'static [(&'static str, &'static str)],
}

const INV: &[&str] = &["-i", "inv"];

const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "invalid-playbook",
        args: &["-p", "playbooks/pb.yml:playbooks/broken.yml"],
        expect: &[
            ("invalid-playbook", "playbooks/broken.yml:6:1"),
            ("invalid-playbook", "playbooks/pb.yml:7:7"),
            ("invalid-playbook", "playbooks/pb.yml:9:7"),
            ("invalid-playbook", "playbooks/pb.yml:14:20"),
        ],
    },
    Fixture {
        name: "invalid-inventory",
        args: INV,
        expect: &[
            ("invalid-inventory", "inv/groups/db:1:1"),
            ("invalid-inventory", "inv/groups/web:2:1"),
        ],
    },
    Fixture {
        name: "missing-role",
        args: &[],
        expect: &[("missing-role", "playbooks/pb.yml:4:7")],
    },
    Fixture {
        name: "missing-file",
        args: &[],
        expect: &[
            ("missing-file", "playbooks/pb.yml:3:16"),
            ("missing-file", "playbooks/pb.yml:6:12"),
        ],
    },
    Fixture {
        name: "missing-template",
        args: &[],
        expect: &[("missing-template", "playbooks/pb.yml:5:12")],
    },
    Fixture {
        name: "template-syntax",
        args: &[],
        expect: &[
            ("template-syntax", "templates/bad.hb:3:1"),
            ("template-syntax", "templates/bad.j2:2:1"),
        ],
    },
    Fixture {
        name: "undefined-variable",
        args: INV,
        expect: &[
            ("undefined-variable", "playbooks/pb.yml:7:14"),
            ("undefined-variable", "playbooks/pb.yml:9:30"),
            ("undefined-variable", "playbooks/pb.yml:12:21"),
            ("undefined-variable", "templates/t.hb:1:6"),
            ("undefined-variable", "templates/t.hb:3:7"),
        ],
    },
    Fixture {
        name: "env-outside-template",
        args: &[],
        expect: &[("env-outside-template", "playbooks/pb.yml:5:17")],
    },
    Fixture {
        name: "unknown-group",
        args: &["-i", "inv", "--limit-groups", "web,nosuchgroup2"],
        expect: &[
            ("unknown-group", ""),
            ("unknown-group", "playbooks/pb.yml:2:17"),
        ],
    },
    Fixture {
        name: "unknown-host",
        args: &["-i", "inv", "--limit-hosts", "web1:ghost"],
        expect: &[("unknown-host", "")],
    },
    Fixture {
        name: "invalid-mode",
        args: &[],
        expect: &[
            ("invalid-mode", "playbooks/pb.yml:7:26"),
            ("invalid-mode", "playbooks/pb.yml:11:26"),
        ],
    },
    Fixture {
        name: "env-reserved-name",
        args: &[],
        expect: &[
            ("env-reserved-name", "playbooks/pb.yml:4:17"),
            ("env-reserved-name", "playbooks/pb.yml:8:13"),
        ],
    },
    Fixture {
        name: "template-include",
        args: &[],
        expect: &[
            ("template-include", "templates/page.hb:2:1"),
            ("template-include", "templates/page.j2:2:1"),
        ],
    },
    Fixture {
        name: "forbidden-source",
        args: &[],
        expect: &[("forbidden-source", "playbooks/pb.yml:5:12")],
    },
    Fixture {
        name: "hardcoded-secret",
        args: &[],
        expect: &[
            ("hardcoded-secret", "files/deploy_key:1:1"),
            ("hardcoded-secret", "playbooks/pb.yml:6:14"),
            ("hardcoded-secret", "playbooks/pb.yml:7:28"),
            ("hardcoded-secret", "playbooks/vars/app.yml:1:1"),
            ("hardcoded-secret", "playbooks/vars/app.yml:2:1"),
            ("hardcoded-secret", "roles/r1/role.yml:3:11"),
            ("hardcoded-secret", "roles/r1/tasks/main.yml:3:8"),
            ("hardcoded-secret", "templates/app.conf.hb:1:1"),
        ],
    },
    Fixture {
        name: "high-entropy-string",
        args: &[],
        expect: &[("high-entropy-string", "playbooks/pb.yml:4:15")],
    },
    Fixture {
        name: "notify-without-handler",
        args: &[],
        expect: &[("notify-without-handler", "playbooks/pb.yml:6:21")],
    },
    Fixture {
        name: "handler-never-notified",
        args: &[],
        expect: &[("handler-never-notified", "playbooks/pb.yml:9:25")],
    },
    Fixture {
        name: "secret-file-readable",
        args: &[],
        expect: &[
            ("secret-file-readable", "playbooks/pb.yml:7:26"),
            ("secret-file-readable", "playbooks/pb.yml:11:26"),
        ],
    },
    Fixture {
        name: "secret-file-no-mode",
        args: &[],
        expect: &[("secret-file-no-mode", "playbooks/pb.yml:5:7")],
    },
    Fixture {
        name: "secret-in-shared-dir",
        args: &[],
        expect: &[
            ("secret-in-shared-dir", "playbooks/pb.yml:10:13"),
            ("secret-in-shared-dir", "playbooks/pb.yml:25:13"),
        ],
    },
    Fixture {
        name: "secret-to-several-groups",
        args: INV,
        expect: &[("secret-to-several-groups", "playbooks/pb.yml:19:7")],
    },
    Fixture {
        name: "shell-unsafe",
        args: &[],
        expect: &[("shell-unsafe", "playbooks/pb.yml:7:15")],
    },
    Fixture {
        name: "host-vars-unused",
        args: INV,
        expect: &[("host-vars-unused", "inv/host_vars/ghost:1:1")],
    },
    Fixture {
        name: "isdefined-quoted",
        args: &[],
        expect: &[
            ("isdefined-quoted", "playbooks/pb.yml:8:21"),
            ("isdefined-quoted", "templates/t.hb:2:8"),
        ],
    },
    Fixture {
        name: "shell-pipe-to-shell",
        args: &[],
        expect: &[
            ("shell-pipe-to-shell", "playbooks/pb.yml:5:12"),
            ("shell-pipe-to-shell", "playbooks/pb.yml:7:12"),
            ("shell-pipe-to-shell", "playbooks/pb.yml:11:9"),
            ("shell-pipe-to-shell", "playbooks/pb.yml:13:12"),
        ],
    },
    Fixture {
        name: "reads-secret-file",
        args: &[],
        expect: &[
            ("reads-secret-file", "playbooks/pb.yml:10:12"),
            ("reads-secret-file", "playbooks/pb.yml:19:15"),
        ],
    },
    Fixture {
        name: "env-unused",
        args: &["--env-file", ".env"],
        expect: &[("env-unused", ".env:2:1")],
    },
    Fixture {
        name: "env-undefined",
        args: &["--env-file", ".env"],
        expect: &[("env-undefined", "templates/t.hb:2:4")],
    },
];

fn fixture_args<'a>(f: &'a Fixture, format: &'a str) -> Vec<&'a str> {
    let mut args = vec!["lint"];
    if !f.args.contains(&"-p") {
        args.extend(["-p", "playbooks/pb.yml"]);
    }
    args.extend_from_slice(f.args);
    args.extend(["--format", format]);
    args
}

fn check_fixture(f: &Fixture) {
    let dir = fixtures().join(f.name);
    let json = run_in(&dir, &fixture_args(f, "json"));
    let doc: serde_json::Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}{}", f.name, json.stdout, json.stderr));
    let got: Vec<(String, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let at = match x["file"].as_str() {
                Some(file) => format!("{file}:{}:{}", x["line"], x["column"]),
                None => String::new(),
            };
            (x["code"].as_str().unwrap().to_string(), at)
        })
        .collect();
    let mut want: Vec<(String, String)> = f
        .expect
        .iter()
        .map(|(c, a)| (c.to_string(), a.to_string()))
        .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(
        got_sorted, want,
        "{}: findings differ:\n{}",
        f.name, json.stdout
    );
    for x in doc["findings"].as_array().unwrap() {
        for key in ["severity", "code", "message", "line", "column", "hint"] {
            assert!(x.get(key).is_some(), "{}: finding lacks {key}: {x}", f.name);
        }
    }
    let errors = doc["errors"].as_u64().unwrap();
    assert_eq!(json.code, if errors > 0 { 3 } else { 0 }, "{}", f.name);
    insta::assert_snapshot!(format!("{}.json", f.name), json.stdout);

    let human = run_in(&dir, &fixture_args(f, "human"));
    assert_eq!(human.code, json.code, "{}: {}", f.name, human.stderr);
    for (code, at) in f.expect {
        assert!(
            human.stdout.lines().any(|l| l
                .starts_with(&format!("{at}{}", if at.is_empty() { "" } else { ": " }))
                && l.contains(&format!("[{code}]"))),
            "{}: no human line for {code} at {at}:\n{}",
            f.name,
            human.stdout
        );
    }
    insta::assert_snapshot!(format!("{}.human", f.name), human.stdout);
}

macro_rules! fixture_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let f = FIXTURES.iter().find(|f| f.name == $name).expect($name);
                check_fixture(f);
            }
        )*
    };
}

fixture_tests! {
    fixture_invalid_playbook => "invalid-playbook",
    fixture_invalid_inventory => "invalid-inventory",
    fixture_missing_role => "missing-role",
    fixture_missing_file => "missing-file",
    fixture_missing_template => "missing-template",
    fixture_template_syntax => "template-syntax",
    fixture_undefined_variable => "undefined-variable",
    fixture_env_outside_template => "env-outside-template",
    fixture_unknown_group => "unknown-group",
    fixture_unknown_host => "unknown-host",
    fixture_invalid_mode => "invalid-mode",
    fixture_env_reserved_name => "env-reserved-name",
    fixture_template_include => "template-include",
    fixture_forbidden_source => "forbidden-source",
    fixture_hardcoded_secret => "hardcoded-secret",
    fixture_high_entropy_string => "high-entropy-string",
    fixture_notify_without_handler => "notify-without-handler",
    fixture_handler_never_notified => "handler-never-notified",
    fixture_secret_file_readable => "secret-file-readable",
    fixture_secret_file_no_mode => "secret-file-no-mode",
    fixture_secret_in_shared_dir => "secret-in-shared-dir",
    fixture_secret_to_several_groups => "secret-to-several-groups",
    fixture_shell_unsafe => "shell-unsafe",
    fixture_isdefined_quoted => "isdefined-quoted",
    fixture_host_vars_unused => "host-vars-unused",
    fixture_shell_pipe_to_shell => "shell-pipe-to-shell",
    fixture_reads_secret_file => "reads-secret-file",
    fixture_env_unused => "env-unused",
    fixture_env_undefined => "env-undefined",
}

#[test]
fn every_fixture_is_tested_and_every_code_documented() {
    let mut dirs: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "clean")
        .collect();
    dirs.sort();
    let mut names: Vec<String> = FIXTURES.iter().map(|f| f.name.to_string()).collect();
    names.sort();
    assert_eq!(
        dirs, names,
        "fixture directories and the FIXTURES table differ"
    );
    for f in FIXTURES {
        assert!(
            f.expect.iter().any(|(c, _)| *c == f.name),
            "fixture {} does not produce its own code",
            f.name
        );
    }
    // README's list of finding codes is exactly the set of codes the fixtures produce.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let list = readme
        .split("Finding codes")
        .nth(1)
        .expect("README lists the finding codes")
        .split("\n\n")
        .next()
        .unwrap();
    let documented: BTreeSet<String> = list
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'))
        .map(str::to_string)
        .collect();
    let produced: BTreeSet<String> = FIXTURES.iter().map(|f| f.name.to_string()).collect();
    assert_eq!(
        documented, produced,
        "README's finding codes are out of date"
    );
}

#[test]
fn clean_fixture_has_no_findings() {
    let dir = fixtures().join("clean");
    let args = [
        "lint",
        "-p",
        "playbooks/pb.yml",
        "-i",
        "inv",
        "--env-file",
        ".env",
        "--deny-warnings",
    ];
    let r = run_in(&dir, &args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("0 error(s), 0 warning(s)"),
        "{}",
        r.stdout
    );
    insta::assert_snapshot!("clean.human", r.stdout);
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let j = run_in(&dir, &json_args);
    assert_eq!(j.code, 0);
    let doc: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(doc["findings"], serde_json::json!([]));
    assert_eq!(
        doc["flows"][0]["templates"][0]["resolved_dest"][0]["path"],
        "/etc/app/app.conf"
    );
    insta::assert_snapshot!("clean.json", j.stdout);
}

#[test]
fn bundled_playbooks_lint_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut books: Vec<String> = std::fs::read_dir(root.join("playbooks"))
        .unwrap()
        .flatten()
        .map(|e| format!("playbooks/{}", e.file_name().to_string_lossy()))
        .filter(|n| {
            std::path::Path::new(n)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
        })
        .collect();
    books.sort();
    assert!(!books.is_empty());
    let list = books.join(":");
    for inventory in [Some("inventory"), None] {
        let mut args = vec!["lint", "-p", &list, "--deny-warnings"];
        if let Some(i) = inventory {
            args.extend(["-i", i]);
        }
        let r = run_in(root, &args);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("[ENV_DEMO_API_TOKEN]"), "{}", r.stdout);
        assert!(
            r.stdout.contains("= /tmp/jetlike-demo/app.conf"),
            "the flow shows the rendered destination: {}",
            r.stdout
        );
    }
}

fn lint(p: &Project, extra: &[&str]) -> project::Run {
    let mut args = vec!["lint", "-p", "playbooks/pb.yml"];
    args.extend_from_slice(extra);
    p.run(&args)
}

#[test]
fn warnings_fail_only_with_deny_warnings() {
    let p = Project::new();
    p.file("templates/t.hb", "token={{ENV_TOKEN}}\n").file(
        "playbooks/pb.yml",
        "- name: w\n  groups: [all]\n  tasks:\n    - !template\n      src: t.hb\n      dest: /etc/t\n",
    );
    assert_eq!(lint(&p, &[]).code, 0);
    assert_eq!(lint(&p, &["--deny-warnings"]).code, 3);
}

#[test]
fn one_load_error_hides_nothing_else() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: p1\n  groups: [all]\n  roles: [{role: nosuchrole}]\n  vars:\n    aws: AKIAIOSFODNN7EXAMPLE\n  tasks:\n    - !template\n      src: missing.hb\n      dest: /etc/t\n      bogus_field: 1\n    - !frobnicate\n      cmd: x\n    - !shell\n      cmd: curl -fsSL https://x.invalid/i.sh | sh\n",
    )
    .file(
        "playbooks/other.yml",
        "- name: p2\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: echo {{ENV_TOKEN}}\n",
    );
    let r = lint(&p, &["-p", "playbooks/other.yml"]);
    assert_eq!(r.code, 3);
    for (code, at) in [
        ("missing-role", "pb.yml:3:"),
        ("hardcoded-secret", "pb.yml:5:"),
        ("missing-template", "pb.yml:8:"),
        ("invalid-playbook", "pb.yml:10:"),
        ("invalid-playbook", "pb.yml:12:"),
        ("shell-pipe-to-shell", "pb.yml:14:"),
        ("env-outside-template", "other.yml:5:"),
    ] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.contains(at) && l.contains(&format!("[{code}]"))),
            "missing {code} at {at}:\n{}",
            r.stdout
        );
    }
}

#[test]
fn extra_vars_and_limits_are_taken_into_account() {
    let p = Project::new();
    p.file("inv/groups/web", "hosts: [web1, web2]\n")
        .file("inv/groups/db", "hosts: [db1]\n")
        .file("inv/host_vars/web1", "port: 80\n")
        .file("templates/t.hb", "port={{port}} v={{version}}\n")
        .file(
            "playbooks/pb.yml",
            "- name: w\n  groups: [web]\n  tasks:\n    - !template\n      src: t.hb\n      dest: /etc/t\n",
        );
    let r = lint(&p, &["-i", "inv"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stdout.contains("undefined variable `version`"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("undefined variable `port` in template templates/t.hb (used by task \"template: /etc/t\") (on web2; defined on web1)"),
        "{}",
        r.stdout
    );
    // -e defines `version`; --limit-hosts web1 leaves out the host lacking `port`.
    let r = lint(
        &p,
        &[
            "-i",
            "inv",
            "-e",
            "{\"version\": \"1.2\"}",
            "--limit-hosts",
            "web1",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("(1 host: web1)"), "{}", r.stdout);
    // Limits need the inventory; a bad -e is a usage error.
    assert_eq!(lint(&p, &["--limit-hosts", "web1"]).code, 2);
    assert_eq!(lint(&p, &["-e", "[1, 2]"]).code, 2);
}

#[test]
fn templated_destinations_are_rendered_per_host() {
    let p = Project::new();
    p.file("inv/groups/web", "hosts: [web1, web2]\n")
        .file("inv/host_vars/web1", "dir: /tmp/app\n")
        .file("inv/host_vars/web2", "dir: /etc/app\n")
        .file("templates/t.hb", "token={{ENV_TOKEN}}\n")
        .file(
            "playbooks/pb.yml",
            "- name: w\n  groups: [web]\n  tasks:\n    - !template\n      src: t.hb\n      dest: \"{{dir}}/t.conf\"\n      attributes: {mode: 0o600}\n",
        );
    let r = lint(&p, &["-i", "inv"]);
    assert!(
        r.stdout
            .contains("{{dir}}/t.conf = /etc/app/t.conf on web2; /tmp/app/t.conf on web1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("[secret-in-shared-dir]") && l.contains("/tmp/app/t.conf")),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("/etc/app/t.conf receives"),
        "{}",
        r.stdout
    );
}

/// Values planted everywhere a secret could hide, including fields whose errors serde would
/// quote: none may appear in any output beyond its 4-character prefix.
#[test]
fn planted_secret_values_are_never_printed() {
    const PLANTED: &[&str] = &[
        "Zq8mW4xK2wR9vTj3Hn5Yb",
        "Pk7Lr2Qs9Xv4Tn8Wm3Jd",
        "Hy6Fc1Bg8Rt5Np2Lk7Vw",
        "Gf5Uj2Io9Pl6Mk3Nb8Vc",
        "Tr4Ew7Qa1Sd8Fg5Hj2Kl",
        "Wm9Xc2Vb5Nz8Lk3Jh6Gf",
        "Ys1Ut4Ir7Oe0Pw3Qa6Zx",
        "Bn2Mv5Cx8Za1Sd4Fg7Hj",
        "Aq1Sw2De3Fr4Gt5Hy6Ju",
        "Lp0Ok9Ij8Uh7Yg6Tf5Rd",
        "Ce3Vf4Bg5Nh6Mj7Ki8Lo",
        "Rv6Tb3Ny0Um7Ik4Ol1Pz",
    ];
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: p\n  groups: [web]\n  roles: [{role: r1}]\n  vars:\n    db_password: Zq8mW4xK2wR9vTj3Hn5Yb\n  tasks:\n    - !template\n      src: t.hb\n      dest: /etc/t\n      attributes: {mode: \"Hy6Fc1Bg8Rt5Np2Lk7Vw\"}\n    - !copy\n      src: creds.txt\n      dest: /etc/creds\n      attributes: {mode: 0o600}\n    - !shell\n      cmd: echo hi\n      with: {sudo: [\"Ce3Vf4Bg5Nh6Mj7Ki8Lo\"]}\n    - !shell\n      cmd: mysql --password=Rv6Tb3Ny0Um7Ik4Ol1Pz -e {{ENV_TOKEN}} {{nosuch}}\n      and: {notify: nobody}\n",
    )
    .file(
        "playbooks/schema.yml",
        "- name: q\n  groups: [web]\n  vars: \"db_password=Pk7Lr2Qs9Xv4Tn8Wm3Jd\"\n  tasks: []\n",
    )
    .file(
        "playbooks/broken.yml",
        "- name: r\n  vars: {password: \"Lp0Ok9Ij8Uh7Yg6Tf5Rd}\n",
    )
    .file("inv/groups/web", "hosts: [web1]\n")
    .file("inv/groups/db", "hosts: \"Aq1Sw2De3Fr4Gt5Hy6Ju\"\n")
    .file("inv/group_vars/web", "db_password: Gf5Uj2Io9Pl6Mk3Nb8Vc\n")
    .file(
        "templates/t.hb",
        "password = \"Tr4Ew7Qa1Sd8Fg5Hj2Kl\"\ntoken={{ENV_TOKEN}}\n",
    )
    .file("files/creds.txt", "secret_key = Wm9Xc2Vb5Nz8Lk3Jh6Gf\n")
    .file("roles/r1/role.yml", "name: r1\ntasks: [main.yml]\n")
    .file(
        "roles/r1/tasks/main.yml",
        "- !shell\n  cmd: PGPASSWORD=Ys1Ut4Ir7Oe0Pw3Qa6Zx psql -c 'select 1'\n",
    )
    .file(".env", "TOKEN=Bn2Mv5Cx8Za1Sd4Fg7Hj\nUNUSED=Bn2Mv5Cx8Za1Sd4Fg7Hj\n");
    let books = "playbooks/pb.yml:playbooks/schema.yml:playbooks/broken.yml";
    let mut seen_findings = 0;
    for format in ["human", "json"] {
        let r = p.run(&[
            "lint",
            "-p",
            books,
            "-i",
            "inv",
            "--env-file",
            ".env",
            "--format",
            format,
        ]);
        assert_eq!(r.code, 3);
        let all = r.all();
        for v in PLANTED {
            let chars: Vec<char> = v.chars().collect();
            for w in chars.windows(5) {
                let w: String = w.iter().collect();
                assert!(
                    !all.contains(&w),
                    "{format}: output shows {w:?}, more than a prefix of a planted value:\n{all}"
                );
            }
        }
        seen_findings += all.matches("hardcoded-secret").count();
    }
    // The scan still found them (by prefix): vars, group_vars, template, copied file, role
    // task, the command, the file that does not parse and the mistyped `vars`; and messages
    // naming the unnamed task by its command show its prefix only.
    assert!(seen_findings >= 16, "{seen_findings}");
}

/// A playbook that does not parse cannot tell which env-file names are unused: none is
/// reported as unused.
#[test]
fn env_file_names_are_not_unused_when_the_playbook_did_not_parse() {
    let p = Project::new();
    p.file(".env", "DB_PASSWORD=op://vault/db/password\n")
        .file("templates/t.hb", "pw = {{ENV_DB_PASSWORD}}\n")
        .file(
            "playbooks/pb.yml",
            "- name: x\n  groups: [all]\n  tasks:\n    - !template\n      src: t.hb\n      dest: /tmp/t\n      bogus: 1\n",
        );
    let r = p.run(&["lint", "-p", "playbooks/pb.yml", "--env-file", ".env"]);
    assert!(r.stdout.contains("invalid-playbook"), "{}", r.stdout);
    assert!(!r.stdout.contains("env-unused"), "{}", r.stdout);
}
