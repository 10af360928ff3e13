//! Hostile input (issue 17), through the built binary: FIFOs, devices and oversized files
//! wherever the project names a file; nesting deep enough to overflow a recursive parser; and
//! inventories large or deep enough to expose superlinear resolution. Every run has a timeout,
//! so a hang fails the test instead of hanging CI.

mod project;

use std::path::Path;
use std::time::Duration;

use project::Project;

/// Longer than any of these runs takes, short enough that a hang fails quickly.
const TIMEOUT: Duration = Duration::from_secs(20);

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(p: &Project, args: &[&str]) -> Out {
    let out = p
        .cmd(args)
        .env("NO_COLOR", "1")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    Out {
        // None: killed by a signal (the timeout, or an abort such as a stack overflow).
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs and checks the run was refused as invalid input (exit 3), naming `needle`.
#[track_caller]
fn refused(p: &Project, args: &[&str], needle: &str) -> Out {
    let o = run(p, args);
    assert_eq!(
        o.code,
        Some(3),
        "{args:?}: expected exit 3 (None = killed: hung or aborted)\nstdout:\n{}\nstderr:\n{}",
        o.stdout,
        o.stderr
    );
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(all.contains(needle), "{args:?}: no {needle:?} in:\n{all}");
    o
}

fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

fn symlink_dev_zero(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/dev/zero", path).unwrap();
}

const FIFO: &str = "FIFO (named pipe), not a regular file";
const DEVICE: &str = "character device, not a regular file";

fn inventory(p: &Project) {
    p.file("inv/groups/web", "hosts: [web1]\n");
}

/// A playbook naming a vars file, a role (with a task file) and nothing else odd.
fn with_vars_and_role(p: &Project) {
    p.file(
        "playbooks/pb.yml",
        "- name: p\n  groups: [all]\n  vars_files: [vars.yml]\n  roles:\n    - role: r\n  tasks: []\n",
    )
    .file("playbooks/roles/r/role.yml", "name: r\ntasks: [main.yml]\n");
    inventory(p);
}

#[test]
fn fifo_vars_file() {
    let p = Project::new();
    with_vars_and_role(&p);
    p.file("playbooks/roles/r/tasks/main.yml", "[]\n");
    mkfifo(&p.path().join("playbooks/vars.yml"));
    let o = refused(&p, &["check-local", "-p", "playbooks/pb.yml"], FIFO);
    // Shown where the playbook names it.
    assert!(o.stderr.contains("playbooks/pb.yml:3:"), "{}", o.stderr);
    refused(&p, &["lint", "-p", "playbooks/pb.yml"], FIFO);
    refused(&p, &["lint", "-p", "playbooks/pb.yml", "-i", "inv"], FIFO);
}

#[test]
fn fifo_and_dev_zero_role_files() {
    for (file, needle) in [("tasks/main.yml", FIFO), ("role.yml", FIFO)] {
        let p = Project::new();
        with_vars_and_role(&p);
        p.file("playbooks/vars.yml", "a: 1\n");
        if file == "role.yml" {
            std::fs::remove_file(p.path().join("playbooks/roles/r/role.yml")).unwrap();
        } else {
            p.file("playbooks/roles/r/role.yml", "name: r\ntasks: [main.yml]\n");
        }
        mkfifo(&p.path().join("playbooks/roles/r").join(file));
        refused(&p, &["check-local", "-p", "playbooks/pb.yml"], needle);
        refused(&p, &["lint", "-p", "playbooks/pb.yml"], needle);
    }
    let p = Project::new();
    with_vars_and_role(&p);
    p.file("playbooks/vars.yml", "a: 1\n");
    symlink_dev_zero(&p.path().join("playbooks/roles/r/tasks/main.yml"));
    refused(&p, &["check-local", "-p", "playbooks/pb.yml"], DEVICE);
    refused(&p, &["lint", "-p", "playbooks/pb.yml"], DEVICE);
}

#[test]
fn dev_zero_vars_file_and_extra_vars() {
    let p = Project::new();
    with_vars_and_role(&p);
    p.file("playbooks/roles/r/tasks/main.yml", "[]\n");
    symlink_dev_zero(&p.path().join("playbooks/vars.yml"));
    refused(&p, &["check-local", "-p", "playbooks/pb.yml"], DEVICE);
    refused(&p, &["lint", "-p", "playbooks/pb.yml"], DEVICE);

    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: p\n  groups: [all]\n  tasks: []\n",
    );
    inventory(&p);
    for arg in ["@/dev/zero", "@fifo"] {
        if arg == "@fifo" {
            mkfifo(&p.path().join("fifo"));
        }
        let needle = if arg == "@fifo" { FIFO } else { DEVICE };
        refused(
            &p,
            &["check-local", "-p", "playbooks/pb.yml", "-e", arg],
            needle,
        );
        refused(&p, &["lint", "-p", "playbooks/pb.yml", "-e", arg], needle);
        refused(
            &p,
            &[
                "check-ssh",
                "-p",
                "playbooks/pb.yml",
                "-i",
                "inv",
                "-e",
                arg,
            ],
            needle,
        );
    }
}

#[test]
fn fifo_playbook() {
    let p = Project::new();
    mkfifo(&p.path().join("playbooks/pb.yml"));
    inventory(&p);
    refused(&p, &["check-local", "-p", "playbooks/pb.yml"], FIFO);
    refused(&p, &["lint", "-p", "playbooks/pb.yml"], FIFO);
    refused(
        &p,
        &["check-ssh", "-p", "playbooks/pb.yml", "-i", "inv"],
        FIFO,
    );
}

#[test]
fn fifo_and_dev_zero_in_the_inventory() {
    for dir in ["groups/db", "group_vars/web", "host_vars/web1.yml"] {
        for zero in [false, true] {
            let p = Project::new();
            inventory(&p);
            p.file(
                "playbooks/pb.yml",
                "- name: p\n  groups: [web]\n  tasks: []\n",
            );
            let path = p.path().join("inv").join(dir);
            if zero {
                symlink_dev_zero(&path);
            } else {
                mkfifo(&path);
            }
            let needle = if zero { DEVICE } else { FIFO };
            let o = refused(&p, &["show-inventory", "-i", "inv"], needle);
            assert!(o.stderr.contains(dir), "{dir}: {}", o.stderr);
            refused(&p, &["lint", "-p", "playbooks/pb.yml", "-i", "inv"], needle);
        }
    }
}

#[test]
fn fifo_and_dev_zero_templates_and_copy_sources() {
    for (module, dir, src) in [
        ("template", "templates", "t.hb"),
        ("copy", "files", "f.txt"),
    ] {
        for zero in [false, true] {
            let p = Project::new();
            p.file(
                "playbooks/pb.yml",
                &format!(
                    "- name: p\n  groups: [all]\n  tasks:\n    - !{module}\n      src: {src}\n      dest: @OUT@/x\n"
                ),
            );
            let path = p.path().join(dir).join(src);
            if zero {
                symlink_dev_zero(&path);
                // A source resolving into /dev is refused as a kernel path, before any read.
                let o = run(&p, &["check-local", "-p", "playbooks/pb.yml"]);
                assert_eq!(o.code, Some(3), "{module}: {}", o.stderr);
                let o = run(&p, &["lint", "-p", "playbooks/pb.yml"]);
                assert_eq!(o.code, Some(3), "{module}: {}", o.stderr);
            } else {
                mkfifo(&path);
                let o = refused(&p, &["check-local", "-p", "playbooks/pb.yml"], FIFO);
                assert!(o.stderr.contains("playbooks/pb.yml:5:"), "{}", o.stderr);
                refused(&p, &["lint", "-p", "playbooks/pb.yml"], FIFO);
            }
        }
    }
}

#[test]
fn fifo_env_file() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: p\n  groups: [all]\n  tasks: []\n",
    );
    mkfifo(&p.path().join("secrets.env"));
    refused(
        &p,
        &[
            "lint",
            "-p",
            "playbooks/pb.yml",
            "--env-file",
            "secrets.env",
        ],
        FIFO,
    );
}

#[test]
fn oversized_playbook() {
    let p = Project::new();
    let path = p.path().join("playbooks/pb.yml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Sparse: 17 MiB on paper, nothing on disk.
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(17 << 20).unwrap();
    refused(
        &p,
        &["check-local", "-p", "playbooks/pb.yml"],
        "over the 16777216-byte limit",
    );
    refused(&p, &["lint", "-p", "playbooks/pb.yml"], "16 MiB");
}

/// A playbook of one `!template` task rendering `templates/<src>` to `out/t`.
fn template_playbook(src: &str) -> String {
    format!("- name: p\n  groups: [all]\n  tasks:\n    - !template\n      src: {src}\n      dest: @OUT@/t\n")
}

fn nested_handlebars(n: usize) -> String {
    format!(
        "{{{{{}to_upper_case \"x\"{}}}}}",
        "to_upper_case (".repeat(n),
        ")".repeat(n)
    )
}

#[test]
fn deep_handlebars_is_refused_before_parsing() {
    let deep = nested_handlebars(2000);
    // In a template file: located in the file, on line 2.
    let p = Project::new();
    p.file("playbooks/pb.yml", &template_playbook("t.hb"))
        .file("templates/t.hb", &format!("first line\n{deep}\n"));
    let o = refused(
        &p,
        &["check-local", "-p", "playbooks/pb.yml"],
        "nested more than 100 levels deep (line 2, column 1517)",
    );
    assert!(o.stderr.contains("templates/t.hb"), "{}", o.stderr);
    refused(
        &p,
        &["lint", "-p", "playbooks/pb.yml"],
        "nested more than 100 levels deep",
    );
    refused(
        &p,
        &["local", "-p", "playbooks/pb.yml"],
        "nested more than 100 levels deep",
    );

    // Deep blocks, too.
    let blocks = format!("{}x{}", "{{#if a}}".repeat(3000), "{{/if}}".repeat(3000));
    p.file("templates/t.hb", &blocks);
    refused(
        &p,
        &["check-local", "-p", "playbooks/pb.yml", "-e", "a: 1"],
        "nested more than 100 levels deep (line 1, column 901)",
    );

    // In a playbook field.
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &format!("- name: p\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: 'echo {deep}'\n"),
    );
    refused(
        &p,
        &["check-local", "-p", "playbooks/pb.yml"],
        "nested more than 100 levels deep",
    );
    refused(
        &p,
        &["lint", "-p", "playbooks/pb.yml"],
        "nested more than 100 levels deep",
    );

    // Within the limit, the same shape renders.
    let p = Project::new();
    p.file("playbooks/pb.yml", &template_playbook("t.hb"))
        .file("templates/t.hb", &nested_handlebars(100));
    let o = run(&p, &["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(p.read("out/t"), "X");
}

#[test]
fn deep_jinja_is_refused() {
    let p = Project::new();
    let n = 5000;
    p.file("playbooks/pb.yml", &template_playbook("t.j2")).file(
        "templates/t.j2",
        &format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
    );
    let o = run(&p, &["check-local", "-p", "playbooks/pb.yml"]);
    assert_eq!(o.code, Some(3), "{}", o.stderr);
    assert!(o.stderr.contains("templates/t.j2"), "{}", o.stderr);
    let blocks = format!("{}x{}", "{% if 1 %}".repeat(n), "{% endif %}".repeat(n));
    p.file("templates/t.j2", &blocks);
    let o = run(&p, &["lint", "-p", "playbooks/pb.yml"]);
    assert_eq!(o.code, Some(3), "{}", o.stderr);
}

/// minijinja's parser builds chains (`x|f|f|…`, `a ~ a ~ …`, `x.a.a…`, `not not …`) in a
/// loop, without its recursion limit, and its compiler then recurses once per link: 100,000
/// links overflowed the stack of a release build. Each shape is refused before parsing, with
/// its position, by every command; 250 links render.
#[test]
fn long_jinja_chains_are_refused_before_parsing() {
    let p = Project::new();
    p.file("playbooks/pb.yml", &template_playbook("t.j2"));
    for (link, tail) in [("|upper", ""), (" ~ 'a'", ""), (".a", ""), ("not ", "true")] {
        let chain = |n: usize| {
            if tail.is_empty() {
                format!("{{{{ 'x'{} }}}}", link.repeat(n))
            } else {
                format!("{{{{ {}{tail} }}}}", link.repeat(n))
            }
        };
        p.file("templates/t.j2", &format!("line one\n{}\n", chain(100_000)));
        for command in ["check-local", "lint", "local"] {
            let o = refused(
                &p,
                &[command, "-p", "playbooks/pb.yml"],
                "nested more than 500",
            );
            let all = o.stdout + &o.stderr;
            // The error says where: `(line 2, column …)`, or lint's `templates/t.j2:2:…`.
            let located = all.contains("templates/t.j2")
                && (all.contains("(line 2, column") || all.contains("templates/t.j2:2:"));
            assert!(located, "{command} {link}: {all}");
        }
        if link != ".a" {
            p.file("templates/t.j2", &chain(250));
            let o = run(&p, &["local", "-p", "playbooks/pb.yml"]);
            assert_eq!(o.code, Some(0), "{link}: {}", o.stderr);
        }
    }
}

/// A Jinja loop that never ends in practice (3^60 iterations) fails on its instruction budget
/// within seconds, naming the template, and writes nothing (not even a temp file), and the
/// secret it renders reaches no output byte; 90,000 iterations render.
#[test]
fn a_runaway_jinja_loop_fails_on_its_budget() {
    let p = Project::new();
    p.file("playbooks/pb.yml", &template_playbook("t.j2"));
    // The secret is rendered inside the loop: whatever the budget's error says, not its value.
    let nested = |n: usize, range: &str| {
        let open = format!("{{% for i in range({range}) %}}");
        format!(
            "{}{{{{ ENV_TOKEN }}}}{}",
            open.repeat(n),
            "{% endfor %}".repeat(n)
        )
    };
    let secret = project::canary("runaway-");
    p.file("templates/t.j2", &nested(60, "3"));
    // A debug build spends some 6 s on the budget: more than `TIMEOUT` allows under load.
    let args = ["local", "-p", "playbooks/pb.yml", "--loadenv"];
    let slow = p
        .cmd(&args)
        .env("NO_COLOR", "1")
        .env("TOKEN", &secret)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(slow.status.code(), Some(1));
    let all = String::from_utf8_lossy(&[slow.stdout, slow.stderr].concat()).into_owned();
    assert!(all.contains("budget of 10000000 instructions"), "{all}");
    assert!(all.contains("templates/t.j2"), "{all}");
    assert!(!all.contains(&secret), "the secret leaked: {all}");
    assert!(!p.path().join("out/t").exists());
    assert!(p.temp_files().is_empty(), "{:?}", p.temp_files());
    p.file("templates/t.j2", &nested(2, "300"));
    let done = p
        .cmd(&args)
        .env("TOKEN", &secret)
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(0));
    assert_eq!(p.read("out/t"), secret.repeat(90_000));
}

/// Each `{% elif %}` and `{{else if}}` nests inside the branch before it: 100,000 of them
/// overflowed the stack of a release build. Refused with their position; 400 render.
#[test]
fn long_elif_chains_are_refused_before_parsing() {
    let p = Project::new();
    for (file, open, branch, close) in [
        (
            "t.j2",
            "{% if a %}",
            "{% elif a %}",
            "{% else %}z{% endif %}",
        ),
        ("t.hb", "{{#if a}}", "{{else if a}}", "{{else}}z{{/if}}"),
    ] {
        p.file("playbooks/pb.yml", &template_playbook(file));
        let chain = |n: usize| format!("{open}x{}{close}", format!("{branch}y").repeat(n));
        p.file(
            &format!("templates/{file}"),
            &format!("line one\n{}\n", chain(100_000)),
        );
        for command in ["check-local", "lint", "local"] {
            let o = refused(
                &p,
                &[command, "-p", "playbooks/pb.yml", "-e", "a: 0"],
                "nested more than 500",
            );
            let all = o.stdout + &o.stderr;
            let located = all.contains("(line 2, column") || all.contains(&format!("{file}:2:"));
            assert!(located, "{command} {file}: {all}");
        }
        p.file(&format!("templates/{file}"), &chain(400));
        let o = run(&p, &["local", "-p", "playbooks/pb.yml", "-e", "a: 0"]);
        assert_eq!(o.code, Some(0), "{file}: {}", o.stderr);
        assert_eq!(p.read("out/t"), "z", "{file}");
    }
}

#[test]
fn deep_yaml_is_refused_with_its_position() {
    let n = 50_000;
    let deep = format!("x: {}1{}\n", "[".repeat(n), "]".repeat(n));
    let deep_map = format!("x: {}1{}\n", "{a: ".repeat(n), "}".repeat(n));
    // The 129th level: line 1, column 3 + 128 for `[`.
    let at = "nested more than 128 levels deep (line 1, column 132)";
    let p = Project::new();
    inventory(&p);
    p.file(
        "playbooks/pb.yml",
        &format!(
            "- name: p\n  groups: [all]\n  tasks: []\n  vars: {}1{}\n",
            "[".repeat(n),
            "]".repeat(n)
        ),
    );
    refused(
        &p,
        &["check-local", "-p", "playbooks/pb.yml"],
        "playbooks/pb.yml:4:",
    );
    refused(
        &p,
        &["lint", "-p", "playbooks/pb.yml"],
        "nested more than 128",
    );

    p.file(
        "playbooks/pb.yml",
        "- name: p\n  groups: [web]\n  vars_files: [v.yml]\n  tasks: []\n",
    )
    .file("playbooks/v.yml", &deep);
    refused(&p, &["check-local", "-p", "playbooks/pb.yml"], at);
    p.file("deep.yml", &deep_map);
    refused(
        &p,
        &["check-local", "-p", "playbooks/pb.yml", "-e", "@deep.yml"],
        "deep.yml:1:",
    );
    p.file("inv/group_vars/web", &deep);
    let o = refused(&p, &["show-inventory", "-i", "inv"], at);
    assert!(
        o.stderr.contains("inv/group_vars/web:1:132"),
        "{}",
        o.stderr
    );
    // The quoted source line is a window around the column, not 100 KB.
    assert!(o.stderr.len() < 2000, "{} bytes of stderr", o.stderr.len());
    p.file("inv/group_vars/web", &deep_map);
    refused(
        &p,
        &["show-inventory", "-i", "inv"],
        "inv/group_vars/web:1:",
    );
    p.file("inv/group_vars/web", "a: 1\n")
        .file("inv/groups/web", &deep);
    refused(&p, &["show-inventory", "-i", "inv"], "inv/groups/web:1:132");
}

/// `show-inventory` output: each host's `groups:` line.
fn groups_line<'a>(stdout: &'a str, host: &str) -> &'a str {
    let start = stdout
        .find(&format!("\n  {host}:\n"))
        .unwrap_or_else(|| panic!("no host {host}"));
    let rest = &stdout[start..];
    let g = rest.find("groups: ").unwrap() + "groups: ".len();
    rest[g..].lines().next().unwrap()
}

#[test]
fn thousand_deep_group_chain_resolves() {
    let p = Project::new();
    let n = 1000;
    for k in 0..n {
        let sub = if k + 1 < n {
            format!("subgroups: [g{:04}]\n", k + 1)
        } else {
            String::new()
        };
        p.file(
            &format!("inv/groups/g{k:04}"),
            &format!("hosts: [h{k:04}]\n{sub}"),
        );
    }
    // Vars in a few groups only: with vars in every group the output is quadratic in size.
    for k in [0, 500, 999] {
        p.file(
            &format!("inv/group_vars/g{k:04}"),
            &format!("level: {k}\nmine_{k}: true\n"),
        );
    }
    let o = run(&p, &["show-inventory", "-i", "inv"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    // The deepest host is in every group, shallowest first.
    let expected: Vec<String> = std::iter::once("all".to_string())
        .chain((0..n).map(|k| format!("g{k:04}")))
        .collect();
    assert_eq!(groups_line(&o.stdout, "h0999"), expected.join(", "));
    assert_eq!(groups_line(&o.stdout, "h0000"), "all, g0000");
    // Every group counts the hosts below it; the deepest group's vars win.
    assert!(o
        .stdout
        .contains("  g0000: 1000 host(s), subgroups: g0001\n"));
    assert!(o.stdout.contains("  g0999: 1 host(s)\n"));
    assert!(o.stdout.contains("  all: 1000 host(s)"));
    let h999 = &o.stdout[o.stdout.find("\n  h0999:\n").unwrap()..];
    assert!(h999.contains("      level: 999\n"), "{}", &h999[..200]);
    assert!(h999.contains("      mine_0: true\n"));
    assert!(h999.contains("      mine_999: true\n"));
}

#[test]
fn ten_thousand_hosts_resolve() {
    let p = Project::new();
    let n = 10_000;
    let hosts: String = (0..n).fold(String::new(), |mut s, i| {
        s.push_str(&format!("  - host{i:05}\n"));
        s
    });
    p.file("inv/groups/web", &format!("hosts:\n{hosts}"))
        .file("inv/groups/db", "hosts: [host00007, db1]\n")
        .file("inv/group_vars/web", "port: 80\n")
        .file("inv/group_vars/db", "port: 5432\n")
        .file("inv/host_vars/host09999", "port: 8080\n");
    let o = run(&p, &["show-inventory", "-i", "inv"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stdout.contains("  web: 10000 host(s)\n"),
        "{}",
        &o.stdout[..300]
    );
    assert!(o.stdout.contains("  all: 10001 host(s)"));
    assert_eq!(o.stdout.matches("\n    groups: ").count(), n + 1);
    assert_eq!(groups_line(&o.stdout, "host00007"), "all, db, web");
    assert_eq!(groups_line(&o.stdout, "host00008"), "all, web");
    let var = |h: &str| {
        let s = &o.stdout[o.stdout.find(&format!("\n  {h}:\n")).unwrap()..];
        s[s.find("port: ").unwrap()..]
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    // Siblings at one depth apply by name: `web` sorts after `db` and wins.
    assert_eq!(var("host00007"), "port: 80");
    assert_eq!(var("host09999"), "port: 8080");
    assert_eq!(var("db1"), "port: 5432");
}

#[test]
fn group_cycle_is_a_located_error() {
    let p = Project::new();
    p.file("inv/groups/a", "subgroups: [b]\n")
        .file("inv/groups/b", "hosts: [h]\nsubgroups:\n  - c\n  - a\n")
        .file("inv/groups/c", "hosts: [x]\n");
    let o = refused(&p, &["show-inventory", "-i", "inv"], "a cycle: a -> b -> a");
    assert!(o.stderr.contains("inv/groups/a:1:13"), "{}", o.stderr);
    // A long cycle is found without recursion.
    let p = Project::new();
    let n = 5000;
    for k in 0..n {
        p.file(
            &format!("inv/groups/g{k:04}"),
            &format!("subgroups: [g{:04}]\n", (k + 1) % n),
        );
    }
    refused(&p, &["show-inventory", "-i", "inv"], "is its own subgroup");
}

/// Found by `tests/fuzz_load.rs`: a task whose key is itself a mapping (`? ? name: ...`) failed
/// `check-local` but vanished from `lint` without a finding (exit 0).
#[test]
fn complex_key_task_is_a_lint_error() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: p\n  groups: [all]\n  tasks:\n    - !shell\n      ? ? name: x\n      cmd: echo hi\n",
    );
    refused(
        &p,
        &["check-local", "-p", "playbooks/pb.yml"],
        "playbooks/pb.yml:5:",
    );
    let o = refused(&p, &["lint", "-p", "playbooks/pb.yml"], "invalid-playbook");
    assert!(o.stdout.contains("cannot be loaded"), "{}", o.stdout);
}
