//! The ENV_ policy: any reference to an ENV_ variable outside a template file is rejected
//! before anything runs, wherever it hides, with file, line, column, task, field and variable.

mod project;

use project::Project;

/// A play whose first task would leave a trace if anything ran, plus `tail` (play-level YAML
/// placed after the marker task, indented as play keys).
fn play_with(tail: &str) -> String {
    format!(
        "- name: web\n  groups: [all]\n  tasks:\n    - !shell\n      name: marker\n      cmd: touch @OUT@/ran\n{tail}"
    )
}

fn assert_rejected(p: &Project, field: &str, line: usize) {
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("SECRET", "policy-canary-value")],
    );
    assert_eq!(
        r.code,
        3,
        "expected a policy violation for {field}: {}",
        r.all()
    );
    assert!(r.stderr.contains("ENV_SECRET"), "{}", r.stderr);
    assert!(
        r.stderr.contains(field),
        "field {field} not named: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("pb.yml:{line}:")),
        "line {line} not named for {field}: {}",
        r.stderr
    );
    assert!(r.stderr.contains("play \"web\""), "{}", r.stderr);
    assert!(
        !p.out().join("ran").exists(),
        "a task ran despite the violation"
    );
    assert!(!r.all().contains("policy-canary-value"));
}

#[test]
fn every_task_field_is_checked() {
    let cases: &[(&str, &str, usize)] = &[
        ("    - !shell\n      cmd: echo {{ENV_SECRET}}\n", "field cmd", 8),
        ("    - !shell\n      cmd: echo {{{ENV_SECRET}}}\n", "field cmd", 8),
        ("    - !shell\n      cmd: \"{{#if ENV_SECRET}}x{{/if}}\"\n", "field cmd", 8),
        ("    - !shell\n      cmd: \"{{lookup this \\\"ENV_SECRET\\\"}}\"\n", "field cmd", 8),
        ("    - !shell\n      cmd: \"{{  ENV_SECRET  }}\"\n", "field cmd", 8),
        ("    - !shell\n      cmd: \"{{!-- a comment --}}{{to_upper_case ENV_SECRET}}\"\n", "field cmd", 8),
        ("    - !shell\n      name: deploy {{ENV_SECRET}}\n      cmd: echo\n", "field name", 8),
        ("    - !shell\n      cmd: echo\n      with: {condition: (eq ENV_SECRET \"x\")}\n", "field with.condition", 9),
        ("    - !shell\n      cmd: echo\n      with:\n        condition: (eq 1 2)\n        items: [\"{{ENV_SECRET}}\"]\n", "field with.items[0]", 11),
        ("    - !shell\n      cmd: echo\n      with: {items: ENV_SECRET}\n", "field with.items", 9),
        ("    - !shell\n      cmd: echo\n      with: {delegate_to: \"{{ENV_SECRET}}\"}\n", "field with.delegate_to", 9),
        ("    - !shell\n      cmd: echo\n      with: {sudo: \"{{ENV_SECRET}}\"}\n", "field with.sudo", 9),
        ("    - !shell\n      cmd: echo\n      failed_when: (eq out ENV_SECRET)\n", "field failed_when", 9),
        ("    - !shell\n      cmd: echo\n      changed_when: (eq out ENV_SECRET)\n", "field changed_when", 9),
        ("    - !shell\n      cmd: echo\n      and: {notify: \"{{ENV_SECRET}}\"}\n", "field and.notify", 9),
        ("    - !copy\n      src: \"{{ENV_SECRET}}\"\n      dest: /tmp/x\n", "field src", 8),
        ("    - !template\n      src: t.hb\n      dest: /tmp/{{ENV_SECRET}}\n", "field dest", 9),
        ("    - !template\n      src: t.hb\n      dest: /tmp/x\n      attributes: {owner: \"{{ENV_SECRET}}\"}\n", "field attributes.owner", 10),
    ];
    for (task, field, line) in cases {
        let p = Project::new();
        p.file("templates/t.hb", "x\n");
        p.file("playbooks/pb.yml", &play_with(task));
        assert_rejected(&p, field, *line);
    }
}

#[test]
fn handlers_roles_vars_and_defaults_are_checked() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &play_with("  handlers:\n    - !shell\n      cmd: echo {{ENV_SECRET}}\n      with: {subscribe: x}\n"),
    );
    assert_rejected(&p, "handler", 9);

    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &play_with("  vars:\n    token: \"{{ENV_SECRET}}\"\n"),
    );
    assert_rejected(&p, "variable token", 8);

    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &play_with("  defaults:\n    nested: {deep: [\"{{ENV_SECRET}}\"]}\n"),
    );
    assert_rejected(&p, "variable nested.deep[0]", 8);

    let p = Project::new();
    p.file("playbooks/vars.yml", "a: 1\nb: \"{{ENV_SECRET}}\"\n");
    p.file("playbooks/pb.yml", &play_with("  vars_files: [vars.yml]\n"));
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("SECRET", "x")],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("vars.yml:2:"), "{}", r.stderr);

    let p = Project::new();
    p.file("roles/r/role.yml", "name: r\ntasks: [main.yml]\n");
    p.file(
        "roles/r/tasks/main.yml",
        "- !shell\n  cmd: \"true\"\n- !shell\n  cmd: echo {{ENV_SECRET}}\n",
    );
    p.file("playbooks/pb.yml", &play_with("  roles:\n    - role: r\n"));
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("SECRET", "x")],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("roles/r/tasks/main.yml:4:"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("role \"r\""), "{}", r.stderr);
    assert!(!p.out().join("ran").exists());
}

#[test]
fn extra_vars_cannot_smuggle_env_into_a_shell() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &play_with("    - !shell\n      cmd: echo {{x}}\n"),
    );
    p.file("ev.yml", "x: \"{{ENV_SECRET}}\"\n");
    for arg in ["{\"x\": \"{{ENV_SECRET}}\"}", "@ev.yml"] {
        let r = p.run_env(
            &["local", "-p", "playbooks/pb.yml", "--loadenv", "-e", arg],
            &[("SECRET", "x")],
        );
        assert_eq!(r.code, 3, "{}", r.all());
        assert!(r.stderr.contains("--extra-vars"), "{}", r.stderr);
        assert!(!p.out().join("ran").exists());
    }
}

#[test]
fn all_violations_are_reported_at_once() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &play_with(
            "    - !shell\n      cmd: echo {{ENV_A}}\n    - !shell\n      cmd: echo {{ENV_B}}\n",
        ),
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml", "--loadenv"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("ENV_A") && r.stderr.contains("ENV_B"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("2 problems found"), "{}", r.stderr);
}

#[test]
fn templates_need_loadenv() {
    let p = Project::new();
    p.file("templates/t.hb", "token={{ENV_SECRET}}\n");
    p.file(
        "playbooks/pb.yml",
        &play_with("    - !template\n      src: t.hb\n      dest: @OUT@/t\n"),
    );
    let r = p.run_env(&["local", "-p", "playbooks/pb.yml"], &[("SECRET", "x")]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("--loadenv"), "{}", r.stderr);
    assert!(r.stderr.contains("t.hb:1:"), "{}", r.stderr);
    assert!(!p.out().join("ran").exists());

    // With --loadenv but the variable unset: a clear error naming it.
    let r = p.run(&["local", "-p", "playbooks/pb.yml", "--loadenv"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("SECRET is not set"), "{}", r.stderr);
}

#[test]
fn seed_example_short_values_render_with_a_warning() {
    // The Jet chapter's example: FOO=1 BAR=2 with {{ENV_FOO}} in a template.
    let p = Project::new();
    p.file(
        "templates/foo.conf.hb",
        "[excellent_application]\nfoo={{ENV_FOO}}\nbar={{ENV_BAR}}\nsplines=5\n",
    );
    p.file(
        "playbooks/pb.yml",
        &play_with("    - !template\n      src: foo.conf.hb\n      dest: @OUT@/foo.conf\n"),
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("FOO", "1"), ("BAR", "2")],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(p.read("out/foo.conf").contains("foo=1\nbar=2\n"));
    assert!(
        r.stderr.contains("ENV_FOO is shorter than 4 bytes"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("ENV_BAR"), "{}", r.stderr);

    // The same reference in a !shell is rejected before anything runs.
    p.file("playbooks/pb.yml", &play_with("    - !shell\n      cmd: \"echo hey I shouldn't tell you this but bar is {{ ENV_BAR }}\"\n"));
    std::fs::remove_file(p.out().join("ran")).unwrap();
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("FOO", "1"), ("BAR", "2")],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(!p.out().join("ran").exists());
}

#[test]
fn without_loadenv_env_references_are_still_rejected() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &play_with("    - !shell\n      cmd: echo {{ENV_SECRET}}\n"),
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("ENV_SECRET"), "{}", r.stderr);
}

#[test]
fn violations_point_at_the_exact_line_and_column_in_every_scalar_style() {
    let p = Project::new();
    // The auditor's blk.yml and uni.yml: block scalars, unicode, folded, quoted with escapes.
    p.file(
        "playbooks/pb.yml",
        concat!(
            "- name: blk\n",
            "  groups: [all]\n",
            "  tasks:\n",
            "    - !shell\n",
            "      cmd: |\n",
            "        echo one\n",
            "        echo {{ENV_B}}\n",
            "        echo three\n",
            "    - !shell\n",
            "      cmd: |\n",
            "        echo one\n",
            "        {{#if x}}y{{/if}} {{ENV_C}}\n",
            "    - !shell\n",
            "      cmd: |\n",
            "        {{#if x}}\n",
            "        {{ENV_D}}\n",
            "        {{/if}}\n",
            "    - !shell\n",
            "      name: \"ü€😀 {{ENV_E}}\"\n",
            "      cmd: |\n",
            "        echo ü€😀 ünïcödé\n",
            "          {{#if x}}😀{{/if}} {{ENV_F}}\n",
            "    - !shell\n",
            "      cmd: >\n",
            "        folded ü€😀\n",
            "        text {{ENV_G}}\n",
            "    - !shell\n",
            "      cmd: 'single ''quoted'' 😀 {{ENV_H}}'\n",
            "    - !shell\n",
            "      cmd: \"dq \\t \\u00fc \\\"x\\\" {{ENV_I}}\"\n",
            "    - !shell\n",
            "      cmd: plain first line\n",
            "        and {{ENV_J}}\n",
        ),
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml", "--loadenv"]);
    assert_eq!(r.code, 3, "{}", r.all());
    for (var, at) in [
        ("ENV_B", "7:14"),
        ("ENV_C", "12:27"),
        ("ENV_D", "16:9"),
        ("ENV_E", "19:18"),
        ("ENV_F", "22:29"),
        ("ENV_G", "26:14"),
        ("ENV_H", "28:33"),
        ("ENV_I", "30:32"),
        ("ENV_J", "33:13"),
    ] {
        let block = r
            .stderr
            .split("error: ")
            .find(|b| b.starts_with(&format!("{var} ")))
            .unwrap_or_else(|| panic!("{var} not reported: {}", r.stderr));
        assert!(
            block.contains(&format!("playbooks/pb.yml:{at}\n")),
            "{var} should be at {at}: {block}"
        );
    }
}

#[test]
fn save_cannot_create_an_env_fact() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &play_with("    - !shell\n      cmd: echo hi\n      save: ENV_SECRET\n"),
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("SECRET", "policy-canary-value")],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("save: ENV_SECRET"), "{}", r.stderr);
    assert!(r.stderr.contains("pb.yml:9:13"), "{}", r.stderr);
    assert!(!p.out().join("ran").exists());
}

#[test]
fn inline_extra_vars_violation_names_the_argument() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        &play_with("    - !shell\n      cmd: echo {{x}}\n"),
    );
    let r = p.run(&[
        "local",
        "-p",
        "playbooks/pb.yml",
        "--loadenv",
        "-e",
        "{\"x\": \"ok\"}",
        "-e",
        "{\"x\": \"{{ENV_SECRET}}\"}",
    ]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("--> --extra-vars #2"), "{}", r.stderr);
    assert!(
        r.stderr.contains("--extra-vars #2, variable x"),
        "{}",
        r.stderr
    );
    assert!(!p.out().join("ran").exists());
}

#[test]
fn variables_may_not_take_env_names() {
    let p = Project::new();
    p.file("templates/t.hb", "token={{ENV_SECRET}}\n").file(
        "playbooks/pb.yml",
        "- name: web\n  groups: [all]\n  vars:\n    ENV_SECRET: hard-coded\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n    - !template\n      src: t.hb\n      dest: @OUT@/t.conf\n",
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("SECRET", "policy-canary-value")],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("variable ENV_SECRET"), "{}", r.stderr);
    assert!(r.stderr.contains("reserved"), "{}", r.stderr);
    assert!(r.stderr.contains("pb.yml:4:"), "{}", r.stderr);
    assert!(!p.out().join("ran").exists());
    let r = p.run_env(
        &[
            "local",
            "-p",
            "playbooks/pb.yml",
            "--loadenv",
            "-e",
            "{\"ENV_OTHER\": 1}",
        ],
        &[("SECRET", "policy-canary-value")],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("variable ENV_OTHER"), "{}", r.stderr);
    assert!(!r.all().contains("policy-canary-value"));
}

/// Inventory variables follow the play-vars rule: an `ENV_` reference in a value, or a
/// variable named `ENV_*`, is rejected before any host is contacted, located in its file.
#[test]
fn inventory_variables_follow_the_env_rule() {
    let p = Project::new();
    p.file("inventory/groups/web", "hosts: [web1]\n")
        .file(
            "inventory/group_vars/all.yml",
            "x: 1\ndb: \"{{ENV_SECRET}}\"\n",
        )
        .file("inventory/group_vars/web.yml", "ENV_SECRET: shadow\n")
        .file(
            "inventory/host_vars/web1.yml",
            "a:\n  b: \"pre {{ENV_OTHER}}\"\n",
        )
        .file("playbooks/pb.yml", &play_with(""));
    let r = p.run_env(
        &[
            "check-ssh",
            "-p",
            "playbooks/pb.yml",
            "--inventory",
            "inventory",
            "--loadenv",
        ],
        &[("SECRET", "policy-canary-value")],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    for (file, line) in [
        ("group_vars/all.yml", 2),
        ("group_vars/web.yml", 1),
        ("host_vars/web1.yml", 2),
    ] {
        assert!(
            r.stderr.contains(&format!("{file}:{line}:")),
            "{file}:{line} not named: {}",
            r.stderr
        );
    }
    assert!(r.stderr.contains("ENV_OTHER"), "{}", r.stderr);
    assert!(r.stderr.contains("reserved"), "{}", r.stderr);
    assert!(!r.all().contains("policy-canary-value"));
    // lint reports the same findings.
    let r = p.run(&["lint", "-p", "playbooks/pb.yml", "--inventory", "inventory"]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("env-outside-template"), "{}", r.stdout);
    assert!(r.stdout.contains("env-reserved-name"), "{}", r.stdout);
}

/// A `lookup` whose key is computed cannot be checked for `ENV_` names before the run: outside
/// template files it is a policy error at parse time, not a run-time failure.
#[test]
fn lookup_with_a_computed_key_is_rejected_before_the_run() {
    let p = Project::new();
    for cmd in [
        "\"echo {{lookup this (to_upper_case \\\"env_secret\\\")}}\"",
        "\"{{#if true}}{{lookup this (concat \\\"ENV_\\\" \\\"SECRET\\\")}}{{/if}}\"",
    ] {
        p.file(
            "playbooks/pb.yml",
            &play_with(&format!(
                "    - !shell\n      name: dyn\n      cmd: {cmd}\n"
            )),
        );
        let r = p.run_env(
            &["local", "-p", "playbooks/pb.yml", "--loadenv"],
            &[("SECRET", "policy-canary-value")],
        );
        assert_eq!(r.code, 3, "{cmd}: {}", r.all());
        assert!(r.stderr.contains("computed key"), "{}", r.stderr);
        assert!(r.stderr.contains("pb.yml:9:"), "{}", r.stderr);
        assert!(!p.out().join("ran").exists());
        assert!(!r.all().contains("policy-canary-value"));
    }
    // A literal key is still fine.
    p.file(
        "playbooks/pb.yml",
        "- name: web\n  groups: [all]\n  vars: {x: 1}\n  tasks:\n    - !shell\n      cmd: \"echo {{lookup this \\\"x\\\"}}\"\n",
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// A misspelt helper, filter or test is found before anything runs, in template files and in
/// task fields, with its position; not when the task renders after earlier tasks changed hosts.
#[test]
fn unknown_helpers_filters_and_tests_fail_before_the_run() {
    let p = Project::new();
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "t.hb",
            "a = 1\nb = {{to_uper_case x}}\n",
            "t.hb:2:",
            "unknown helper `to_uper_case`",
        ),
        (
            "t.j2",
            "a = 1\nb = {{ x|uppper }}\n",
            "t.j2:2:",
            "unknown filter `uppper`",
        ),
        (
            "t.j2",
            "{% if x is definedd %}y{% endif %}\n",
            "t.j2:1:",
            "unknown test `definedd`",
        ),
    ];
    for (file, text, at, message) in cases {
        p.file(&format!("templates/{file}"), text).file(
            "playbooks/pb.yml",
            &format!("- name: web\n  groups: [all]\n  vars: {{x: v}}\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n    - !template\n      src: {file}\n      dest: @OUT@/t\n"),
        );
        let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
        assert_eq!(r.code, 3, "{file}: {}", r.all());
        assert!(r.stderr.contains(at), "{at}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{message}: {}", r.stderr);
        assert!(!p.out().join("ran").exists());
        let r = p.run(&["lint", "-p", "playbooks/pb.yml"]);
        assert!(r.stdout.contains(message), "lint: {}", r.stdout);
    }
    p.file(
        "playbooks/pb.yml",
        &play_with("    - !shell\n      cmd: echo {{to_uper_case \"a\"}}\n"),
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("pb.yml:8:"), "{}", r.stderr);
    assert!(
        r.stderr.contains("unknown helper `to_uper_case`"),
        "{}",
        r.stderr
    );
    assert!(!p.out().join("ran").exists());
}
