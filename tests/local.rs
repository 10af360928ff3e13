//! Local mode, driven through the built binary: modules, check mode, handlers, conditions,
//! items, tags, precedence, exit codes and atomic writes.

mod project;

use std::os::unix::fs::PermissionsExt;

use project::Project;

fn mode_of(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn copy_creates_then_matches_then_modifies() {
    let p = Project::new();
    p.file("files/a.txt", "hello\n").file(
        "playbooks/pb.yml",
        "- name: copy\n  groups: [all]\n  tasks:\n    - !copy\n      src: a.txt\n      dest: @OUT@/a.txt\n      attributes: {mode: 0o640}\n",
    );
    let r = p.json("local", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.statuses(), ["created"]);
    assert_eq!(
        std::fs::read_to_string(p.out().join("a.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(mode_of(&p.out().join("a.txt")), 0o640);

    assert_eq!(p.json("local", &[]).statuses(), ["matched"]);

    std::fs::write(p.out().join("a.txt"), "changed by hand\n").unwrap();
    let r = p.json("local", &[]);
    assert_eq!(r.statuses(), ["modified"]);
    assert_eq!(r.events()[1]["changes"], serde_json::json!(["content"]));
    assert_eq!(
        std::fs::read_to_string(p.out().join("a.txt")).unwrap(),
        "hello\n"
    );

    std::fs::set_permissions(
        p.out().join("a.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = p.json("local", &[]);
    assert_eq!(r.events()[1]["changes"], serde_json::json!(["mode"]));
    assert_eq!(mode_of(&p.out().join("a.txt")), 0o640);
    assert!(p.temp_files().is_empty());
}

#[test]
fn template_renders_handlebars_and_jinja_with_quoted_mode() {
    let p = Project::new();
    p.file("templates/a.conf.hb", "name={{app}} port={{port}}\n")
        .file("templates/b.conf.j2", "{% for x in xs %}{{ x | upper }},{% endfor %}\n")
        .file(
            "playbooks/pb.yml",
            "- name: t\n  groups: [all]\n  vars: {app: demo, port: 80, xs: [a, b]}\n  tasks:\n    - !template\n      src: a.conf.hb\n      dest: @OUT@/a.conf\n      attributes: {mode: \"0600\"}\n    - !template\n      src: b.conf.j2\n      dest: @OUT@/b.conf\n",
        );
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/a.conf"), "name=demo port=80\n");
    assert_eq!(p.read("out/b.conf"), "A,B,\n");
    assert_eq!(mode_of(&p.out().join("a.conf")), 0o600);
    assert!(r.stdout.contains("=> created"), "{}", r.stdout);
}

#[test]
fn check_mode_changes_nothing_and_shows_a_diff() {
    let p = Project::new();
    p.file("templates/a.hb", "line one\nvalue={{v}}\n").file(
        "playbooks/pb.yml",
        "- name: t\n  groups: [all]\n  vars: {v: new}\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n    - !template\n      src: a.hb\n      dest: @OUT@/a.conf\n    - !template\n      src: a.hb\n      dest: @OUT@/b.conf\n",
    );
    std::fs::write(p.out().join("a.conf"), "line one\nvalue=old\n").unwrap();
    let r = p.check(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("would run"), "{}", r.stdout);
    assert!(r.stdout.contains("would modify (content)"), "{}", r.stdout);
    assert!(r.stdout.contains("would create"), "{}", r.stdout);
    assert!(
        r.stdout.contains("-value=old") && r.stdout.contains("+value=new"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("@@"), "{}", r.stdout);
    assert!(
        !p.out().join("ran").exists(),
        "check mode ran a shell command"
    );
    assert!(
        !p.out().join("b.conf").exists(),
        "check mode created a file"
    );
    assert_eq!(p.read("out/a.conf"), "line one\nvalue=old\n");
}

#[test]
fn check_mode_reports_a_file_whose_directory_an_earlier_task_would_create() {
    let p = Project::new();
    p.file("files/a.txt", "a\n").file(
        "playbooks/pb.yml",
        "- name: t\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: mkdir -p @OUT@/new\n    - !copy\n      src: a.txt\n      dest: @OUT@/new/a.txt\n",
    );
    let r = p.check(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("would create (its directory does not exist yet)"),
        "{}",
        r.stdout
    );
    assert!(!p.out().join("new").exists(), "check mode ran mkdir");
    // Applying creates the directory first, so the copy succeeds.
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/new/a.txt"), "a\n");
}

#[test]
fn check_mode_shows_attribute_changes_with_old_and_new_values() {
    let p = Project::new();
    p.file("files/a.txt", "hello\n").file(
        "playbooks/pb.yml",
        "- name: t\n  groups: [all]\n  tasks:\n    - !copy\n      src: a.txt\n      dest: @OUT@/a.txt\n      attributes: {mode: \"0600\"}\n",
    );
    std::fs::write(p.out().join("a.txt"), "hello\n").unwrap();
    std::fs::set_permissions(
        p.out().join("a.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = p.check(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("would modify (mode)"), "{}", r.stdout);
    assert!(r.stdout.contains("mode 0644 -> 0600"), "{}", r.stdout);
    assert!(r.stdout.contains("1 file would change"), "{}", r.stdout);
    let j = p.json("check-local", &[]);
    let task = j
        .events()
        .into_iter()
        .find(|e| e["event"] == "task")
        .unwrap();
    assert_eq!(
        task["diff"]["attribute_changes"],
        serde_json::json!([{"attribute": "mode", "old": "0644", "new": "0600"}]),
        "{}",
        j.all()
    );
    assert_eq!(
        std::fs::metadata(p.out().join("a.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644,
        "check mode changed nothing"
    );
}

#[test]
fn a_sensitive_file_task_shows_no_diff() {
    let p = Project::new();
    p.file("templates/a.hb", "visible-literal value={{v}}\n").file(
        "playbooks/pb.yml",
        "- name: t\n  groups: [all]\n  vars: {v: new}\n  tasks:\n    - !template\n      src: a.hb\n      dest: @OUT@/a.conf\n      sensitive: true\n",
    );
    for args in [&["check-local"][..], &["local", "--diff"][..]] {
        std::fs::write(p.out().join("a.conf"), "visible-literal value=old\n").unwrap();
        let mut full = args.to_vec();
        full.extend(["--playbooks", "playbooks/pb.yml"]);
        let r = p.run(&full);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(
            r.stdout.contains("diff hidden: sensitive task"),
            "{}",
            r.stdout
        );
        assert!(!r.all().contains("visible-literal"), "{}", r.all());
        assert!(r.stdout.contains("1 file"), "still counted: {}", r.stdout);
    }
}

#[test]
fn shell_save_failed_when_changed_when() {
    let p = Project::new();
    p.file("templates/t.hb", "rc={{res.rc}} out={{res.out}}\n")
        .file(
            "playbooks/pb.yml",
            r#"- name: s
  groups: [all]
  tasks:
    - !shell
      cmd: echo hello; exit 3
      save: res
      failed_when: (gt rc 5)
      changed_when: (eq out "nothing")
    - !template
      src: t.hb
      dest: @OUT@/saved
"#,
        );
    let r = p.json("local", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let ev = &r.events()[1];
    assert_eq!(ev["status"], "complete");
    assert_eq!(ev["changed"], false);
    assert_eq!(p.read("out/saved"), "rc=3 out=hello\n");
}

#[test]
fn failing_task_reports_cmd_rc_output_and_exits_1() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: f\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: echo about to fail; exit 7\n    - !shell\n      cmd: touch @OUT@/after\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("rc: 7"), "{}", r.stdout);
    assert!(r.stdout.contains("about to fail"), "{}", r.stdout);
    assert!(
        r.stdout.contains("cmd: echo about to fail; exit 7"),
        "{}",
        r.stdout
    );
    assert!(!p.out().join("after").exists(), "a failed host went on");
    // With ignore_errors the host carries on.
    p.file(
        "playbooks/pb.yml",
        "- name: f\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: exit 7\n      and: {ignore_errors: true}\n    - !shell\n      cmd: touch @OUT@/after\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(p.out().join("after").exists());
}

#[test]
fn handlers_run_once_and_only_when_notified() {
    let p = Project::new();
    p.file("files/a", "a\n").file(
        "playbooks/pb.yml",
        r"- name: h
  groups: [all]
  tasks:
    - !copy
      src: a
      dest: @OUT@/a
      and: {notify: changed-a}
    - !copy
      src: a
      dest: @OUT@/b
      and: {notify: changed-a}
  handlers:
    - !shell
      name: on change
      cmd: echo x >> @OUT@/handler.log
      with: {subscribe: changed-a}
    - !shell
      name: never
      cmd: touch @OUT@/never
      with: {subscribe: other}
",
    );
    assert_eq!(p.local(&[]).code, 0);
    assert_eq!(p.read("out/handler.log"), "x\n", "handler must run once");
    assert!(!p.out().join("never").exists());
    assert_eq!(p.local(&[]).code, 0);
    assert_eq!(
        p.read("out/handler.log"),
        "x\n",
        "nothing changed: no handler"
    );
}

#[test]
fn conditions_items_and_tags() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        r#"- name: c
  groups: [all]
  vars: {flavor: debian, names: [x, y]}
  tasks:
    - !shell
      cmd: touch @OUT@/debian
      with: {condition: (eq flavor "debian")}
    - !shell
      cmd: touch @OUT@/redhat
      with: {condition: (eq flavor "redhat")}
    - !shell
      cmd: touch @OUT@/item-{{item}}
      with: {items: [a, b]}
    - !shell
      cmd: touch @OUT@/var-{{item}}
      with: {items: names, tags: [web]}
"#,
    );
    let r = p.json("local", &["--tags", "web"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.statuses(), ["complete", "complete"]);
    assert!(
        !p.out().join("debian").exists(),
        "--tags must select only tagged tasks"
    );
    assert!(p.out().join("var-x").exists() && p.out().join("var-y").exists());

    let r = p.json("local", &[]);
    assert_eq!(
        r.statuses(),
        ["complete", "skipped", "complete", "complete", "complete", "complete"]
    );
    assert!(p.out().join("debian").exists());
    assert!(!p.out().join("redhat").exists());
    assert!(p.out().join("item-a").exists() && p.out().join("item-b").exists());
}

#[test]
fn precedence_defaults_vars_extra_vars() {
    let p = Project::new();
    p.file("vars.yml", "b: from-file\n")
        .file("templates/t.hb", "{{a}} {{b}} {{c}} {{d.x}} {{d.y}}\n")
        .file(
            "playbooks/pb.yml",
            r"- name: p
  groups: [all]
  defaults: {a: default, b: default, c: default, d: {x: 1, y: 1}}
  vars: {b: play, c: play, d: {y: 2}}
  tasks:
    - !template
      src: t.hb
      dest: @OUT@/t
",
        );
    let r = p.local(&["-e", "@vars.yml", "-e", "{\"c\": \"inline\"}"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/t"), "default from-file inline 1 2\n");
}

#[test]
fn sibling_groups_rule_is_deterministic() {
    let p = Project::new();
    p.file("inv/groups/alpha", "hosts: [h1]\n")
        .file("inv/groups/beta", "hosts: [h1]\n")
        .file("inv/groups/parent", "subgroups: [child]\n")
        .file("inv/groups/child", "hosts: [h1]\n")
        .file("inv/group_vars/alpha", "x: alpha\ny: alpha\n")
        .file("inv/group_vars/beta", "x: beta\n")
        .file("inv/group_vars/parent", "z: parent\nw: parent\n")
        .file("inv/group_vars/child", "z: child\n")
        .file("inv/host_vars/h1", "w: host\n");
    for _ in 0..3 {
        let r = p.run(&["show-inventory", "-i", "inv"]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(
            r.stdout.contains("x: \"beta\""),
            "later sibling wins: {}",
            r.stdout
        );
        assert!(r.stdout.contains("y: \"alpha\""), "{}", r.stdout);
        assert!(
            r.stdout.contains("z: \"child\""),
            "deeper group wins: {}",
            r.stdout
        );
        assert!(
            r.stdout.contains("w: \"host\""),
            "host vars win: {}",
            r.stdout
        );
    }
}

#[test]
fn exit_code_2_for_usage_errors() {
    let p = Project::new();
    p.file("playbooks/pb.yml", "- name: x\n  groups: [all]\n");
    assert_eq!(p.run(&["local"]).code, 2);
    assert_eq!(p.run(&["frobnicate"]).code, 2);
    assert_eq!(p.local(&["--threads", "0"]).code, 2);
    assert_eq!(p.local(&["-i", "inv"]).code, 2);
    assert_eq!(p.run(&["ssh", "-p", "playbooks/pb.yml"]).code, 2);
    let r = p.local(&["-e", "[1,2]"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("must be a mapping"), "{}", r.stderr);
}

#[test]
fn unknown_field_names_line_column_and_choices() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: echo\n      cmdd: typo\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("unknown field `cmdd`"), "{}", r.stderr);
    assert!(r.stderr.contains("playbooks/pb.yml:6:"), "{}", r.stderr);
    assert!(
        r.stderr.contains("`cmd`"),
        "lists the choices: {}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was run"), "{}", r.stderr);
}

#[test]
fn unknown_module_lists_modules() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  tasks:\n    - !shel\n      cmd: echo\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("unknown variant `shel`"), "{}", r.stderr);
    assert!(
        r.stderr.contains("!shell, !copy, !template"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("pb.yml:4:"), "{}", r.stderr);
}

#[test]
fn missing_template_lists_paths_tried() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n    - !template\n      src: nope.hb\n      dest: @OUT@/x\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("\"nope.hb\" not found"), "{}", r.stderr);
    assert!(
        r.stderr.contains("playbooks/templates/nope.hb"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("pb.yml:7:"), "{}", r.stderr);
    assert!(
        !p.out().join("ran").exists(),
        "nothing may run before the checks pass"
    );
}

#[test]
fn undefined_variables_are_found_before_running() {
    let p = Project::new();
    p.file("templates/t.hb", "a={{defined}}\nb={{undefined_in_template}}\n").file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  vars: {defined: 1}\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran {{nope}}\n    - !template\n      src: t.hb\n      dest: @OUT@/x\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("undefined variable `nope`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("pb.yml:6:"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("undefined variable `undefined_in_template`"),
        "{}",
        r.stderr
    );
    assert!(!p.out().join("ran").exists());
}

#[test]
fn template_syntax_error_is_reported_at_load() {
    let p = Project::new();
    p.file("templates/t.hb", "a={{#if x}}\n").file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  vars: {x: 1}\n  tasks:\n    - !template\n      src: t.hb\n      dest: @OUT@/x\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("template syntax error"), "{}", r.stderr);
}

#[test]
fn handler_without_subscribe_is_an_error() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  handlers:\n    - !shell\n      cmd: echo\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("subscribe"), "{}", r.stderr);
    assert!(r.stderr.contains("pb.yml:5:7"), "{}", r.stderr);
}

#[test]
fn failed_write_keeps_old_file_and_leaves_no_temp_file() {
    let p = Project::new();
    p.file("files/a", "new\n").file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  tasks:\n    - !copy\n      src: a\n      dest: @OUT@/a\n      attributes: {owner: no-such-user-jetlike}\n",
    );
    std::fs::write(p.out().join("a"), "old\n").unwrap();
    let r = p.local(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("no-such-user-jetlike"), "{}", r.stdout);
    assert_eq!(p.read("out/a"), "old\n");
    assert!(
        p.temp_files().is_empty(),
        "temp file left behind: {:?}",
        p.temp_files()
    );
}

#[test]
fn missing_parent_directory_is_a_clear_error() {
    let p = Project::new();
    p.file("files/a", "x\n").file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  tasks:\n    - !copy\n      src: a\n      dest: @OUT@/no/such/dir/a\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("parent directory"), "{}", r.stdout);
}

#[test]
fn roles_tasks_handlers_and_templates() {
    let p = Project::new();
    p.file(
        "roles/web/role.yml",
        "name: web\ndefaults: {greeting: hi}\ntasks: [main.yml]\nhandlers: [main.yml]\n",
    )
    .file(
        "roles/web/tasks/main.yml",
        "- !template\n  src: r.hb\n  dest: @OUT@/r\n  and: {notify: reload}\n",
    )
    .file(
        "roles/web/handlers/main.yml",
        "- !shell\n  cmd: touch @OUT@/reloaded\n  with: {subscribe: reload}\n",
    )
    .file("roles/web/templates/r.hb", "{{greeting}} {{who}}\n")
    .file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  roles:\n    - role: web\n      vars: {who: role-var}\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/r"), "hi role-var\n");
    assert!(p.out().join("reloaded").exists());
}

#[test]
fn shell_metacharacters_in_values_need_unsafe() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  vars: {v: \"a; touch @OUT@/injected\"}\n  tasks:\n    - !shell\n      cmd: echo {{v}}\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("metacharacters"), "{}", r.stdout);
    assert!(!p.out().join("injected").exists());
}

#[test]
fn json_output_is_one_object_per_line_with_a_recap() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: \"true\"\n",
    );
    let r = p.json("local", &[]);
    assert_eq!(r.code, 0);
    let ev = r.events();
    assert_eq!(ev[0]["event"], "play");
    assert_eq!(ev[1]["event"], "task");
    assert_eq!(ev[1]["host"], "localhost");
    let recap = ev.last().unwrap();
    assert_eq!(recap["event"], "recap");
    assert_eq!(recap["hosts"]["localhost"]["ok"], 1);
}

#[test]
fn no_colour_without_a_tty() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: \"true\"\n",
    );
    let r = p.local(&[]);
    assert!(!r.stdout.contains('\x1b'), "{}", r.stdout);
}

#[test]
fn bundled_demo_is_idempotent() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("demo");
    let extra = format!("{{\"demo_dir\": \"{}\"}}", dir.display());
    let run = || {
        let out = assert_cmd::Command::cargo_bin("jetlike")
            .unwrap()
            .current_dir(root)
            .args([
                "local",
                "--playbooks",
                "playbooks/demo.yml",
                "--loadenv",
                "--output",
                "json",
                "-e",
                &extra,
            ])
            .env("DEMO_API_TOKEN", "example-token-123")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    assert!(first.contains("\"created\""));
    let second = run();
    let statuses: Vec<String> = second
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "task")
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["complete", "matched", "matched"]);
    let conf = std::fs::read_to_string(dir.join("app.conf")).unwrap();
    assert!(conf.contains("token = example-token-123"));
    assert_eq!(
        mode_of(&dir.join("app.conf")),
        0o600,
        "secret-bearing template defaults to 0600"
    );
}

#[test]
fn jinja_global_functions_are_not_undefined_variables() {
    let p = Project::new();
    p.file(
        "templates/g.j2",
        "{% for i in range(3) %}{{ i }}{% endfor %}\n{{ dict(a=1).a }}\n{% set ns = namespace(n=2) %}{{ ns.n }}\n{% set c = cycler('x', 'y') %}{{ c.next() }}{{ c.next() }}\n{% set j = joiner(',') %}{% for i in items %}{{ j() }}{{ i }}{% endfor %}\n{{ lipsum(1, false, 2, 2) }}\n{{ (debug() | length) > 0 }}\n",
    )
    .file(
        "playbooks/pb.yml",
        "- name: g\n  groups: [all]\n  vars: {items: [a, b]}\n  tasks:\n    - !template\n      src: g.j2\n      dest: @OUT@/g\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/g"), "012\n1\n2\nxy\na,b\nLorem ipsum.\nTrue\n");
    // A real undefined variable next to them is still reported.
    p.file("templates/g.j2", "{{ range(2) | list }} {{ nope }}\n");
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("undefined variable `nope`"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("`range`"), "{}", r.stderr);
}

#[test]
fn undefined_variables_point_at_their_line_and_column() {
    let p = Project::new();
    p.file("templates/undef.hb", "line1\nline2\nx={{nope}}\n")
        .file(
            "templates/j.j2",
            "{# nope #}\n{% for x in xs %}{{ x.nope }}{% endfor %}\n  {{ \"nope\" ~ a.nope }} {{ nope }}\n",
        )
        .file(
            "playbooks/pb.yml",
            "- name: u\n  groups: [all]\n  vars: {xs: [], a: {}}\n  tasks:\n    - !template\n      src: undef.hb\n      dest: @OUT@/a\n    - !template\n      src: j.j2\n      dest: @OUT@/b\n    - !shell\n      cmd: |\n        echo\n          echo {{undefined_x}}\n",
        );
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    for at in [
        "templates/undef.hb:3:3\n",
        "templates/j.j2:3:28\n",
        "playbooks/pb.yml:14:16\n",
    ] {
        assert!(r.stderr.contains(at), "{at}: {}", r.stderr);
    }
    assert!(!r.stderr.contains(":1:1\n"), "{}", r.stderr);
}

#[test]
fn guarded_variables_may_be_missing_but_quoted_names_are_no_guard() {
    let p = Project::new();
    p.file(
        "templates/g.hb",
        "{{#if (isdefined maybe)}}{{maybe}}{{/if}}ok\n",
    )
    .file(
        "templates/g.j2",
        "{% if maybe is defined %}{{ maybe }}{% endif %}{{ other | default(\"d\") }}\n",
    )
    .file(
        "playbooks/pb.yml",
        "- name: g\n  groups: [all]\n  tasks:\n    - !template\n      src: g.hb\n      dest: @OUT@/a\n    - !template\n      src: g.j2\n      dest: @OUT@/b\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/a"), "ok\n");
    assert_eq!(p.read("out/b"), "d\n");
    // A name that merely also appears in quotes is still undefined.
    p.file(
        "playbooks/pb.yml",
        "- name: g\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: echo \"label\" {{label}}\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("undefined variable `label`"),
        "{}",
        r.stderr
    );
}

#[test]
fn modes_written_in_decimal_that_look_octal_are_errors() {
    let p = Project::new();
    p.file("files/a.txt", "a\n");
    let play = |mode: &str| {
        format!("- name: m\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n    - !copy\n      src: a.txt\n      dest: @OUT@/a\n      attributes: {{mode: {mode}}}\n")
    };
    for (mode, hint) in [
        ("644", "write 0o644 or \"0644\""),
        ("755", "write 0o755 or \"0755\""),
        ("0o17777", "out of range"),
        ("99999", "out of range"),
        ("\"0999\"", "not an octal number"),
    ] {
        p.file("playbooks/pb.yml", &play(mode));
        let r = p.local(&[]);
        assert_eq!(r.code, 3, "{mode}: {}", r.all());
        assert!(r.stderr.contains(hint), "{mode}: {}", r.stderr);
        assert!(r.stderr.contains("pb.yml:9:"), "{mode}: {}", r.stderr);
        assert!(!p.out().join("ran").exists(), "{mode}");
    }
    // What YAML really does with the accepted spellings: unquoted 0640 is read as the string
    // "0640" (a leading zero is not a YAML 1.2 decimal), so it is octal like the others.
    for (mode, bits) in [
        ("0o640", 0o640),
        ("\"0640\"", 0o640),
        ("0640", 0o640),
        ("0o4755", 0o4755),
        ("493", 0o755),
    ] {
        p.file("playbooks/pb.yml", &play(mode));
        let _ = std::fs::remove_file(p.out().join("a"));
        let r = p.local(&[]);
        assert_eq!(r.code, 0, "{mode}: {}", r.all());
        assert_eq!(mode_of(&p.out().join("a")), bits, "{mode}");
    }
}

#[test]
fn threads_and_batch_size_are_validated_as_usage_errors() {
    let p = Project::new();
    p.file("playbooks/pb.yml", "- name: x\n  groups: [all]\n");
    for args in [
        &["-t", "18446744073709551615"][..],
        &["--threads", "0"][..],
        &["--threads", "10001"][..],
        &["--batch-size", "0"][..],
        &["--batch-size", "18446744073709551615"][..],
        &["--connect-timeout", "18446744073709551615"][..],
    ] {
        let r = p.local(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.all());
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    assert_eq!(p.local(&["-t", "10000", "--batch-size", "3"]).code, 0);
    let help = p.run(&["--help"]).stdout;
    assert!(help.contains("130  interrupted"), "{help}");
    assert!(!help.contains("or the run was interrupted"), "{help}");
}

#[test]
fn template_includes_and_partials_are_rejected_at_load_time() {
    let p = Project::new();
    p.file("templates/inner.j2", "x={{ x }}\n")
        .file("templates/part.hb", "x={{x}}\n")
        .file("templates/inc.j2", "a\n{% include \"inner.j2\" %}\n")
        .file("templates/ext.j2", "{% extends \"inner.j2\" %}\n")
        .file(
            "templates/imp.j2",
            "b\n\n  {% from \"inner.j2\" import m %}\n",
        )
        .file("templates/p.hb", "one\n{{> part.hb}}\n")
        .file(
            "templates/inline.hb",
            "{{#*inline \"row\"}}[{{this}}]{{/inline}}{{#each xs}}{{> row}}{{/each}}\n",
        );
    for (src, at, what) in [
        ("inc.j2", "inc.j2:2:1", "{% include %}"),
        ("ext.j2", "ext.j2:1:1", "{% extends %}"),
        ("imp.j2", "imp.j2:3:3", "{% from %}"),
        ("p.hb", "p.hb:2:1", "{{> part.hb}}"),
    ] {
        p.file(
            "playbooks/pb.yml",
            &format!("- name: i\n  groups: [all]\n  vars: {{x: 1}}\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n    - !template\n      src: {src}\n      dest: @OUT@/o\n"),
        );
        let r = p.local(&[]);
        assert_eq!(r.code, 3, "{src}: {}", r.all());
        assert!(r.stderr.contains("not supported"), "{src}: {}", r.stderr);
        assert!(r.stderr.contains(what), "{src}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("templates/{at}\n")),
            "{src}: {}",
            r.stderr
        );
        assert!(!p.out().join("ran").exists());
    }
    // An inline partial defined in the same file is no include.
    p.file(
        "playbooks/pb.yml",
        "- name: i\n  groups: [all]\n  vars: {xs: [a, b]}\n  tasks:\n    - !template\n      src: inline.hb\n      dest: @OUT@/o\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/o"), "[a][b]\n");
}

/// Fields that would make a play do nothing, or a fact nobody can use, are load-time errors
/// located at the field; an empty playbook is an error, not a silent success.
#[test]
fn empty_and_zero_fields_are_clear_errors() {
    let p = Project::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "- name: x\n  groups: [all]\n  batch_size: 0\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n",
            "pb.yml:3:",
            "batch_size: 0",
        ),
        (
            "- name: x\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n      save: \"\"\n",
            "pb.yml:6:",
            "is not a variable name",
        ),
        ("", "pb.yml:1:", "has no plays"),
        ("# only a comment\n", "pb.yml:1:", "has no plays"),
        ("[]\n", "pb.yml:1:", "has no plays"),
    ];
    for (yaml, at, message) in cases {
        p.file("playbooks/pb.yml", yaml);
        let r = p.local(&[]);
        assert_eq!(r.code, 3, "{yaml:?}: {}", r.all());
        assert!(r.stderr.contains(at), "{yaml:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{yaml:?}: {}", r.stderr);
        assert!(!p.out().join("ran").exists());
    }
}

/// A second interrupt stops at once, whatever is in flight (a long command, a large file
/// being written), exits 130 and leaves no temporary file behind.
#[test]
fn a_second_interrupt_stops_at_once() {
    let p = Project::new();
    let big = p.path().join("files/big.bin");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    std::fs::File::create(&big)
        .unwrap()
        // Large enough that its three copies are still being written well after the first
        // interrupt, even on a loaded machine (they are streamed at disk speed).
        .set_len(1 << 30)
        .unwrap();
    for tasks in [
        "    - !shell\n      cmd: touch @OUT@/started; sleep 60\n",
        "    - !shell\n      cmd: touch @OUT@/started\n    - !copy\n      src: big.bin\n      dest: @OUT@/a.bin\n    - !copy\n      src: big.bin\n      dest: @OUT@/b.bin\n    - !copy\n      src: big.bin\n      dest: @OUT@/c.bin\n",
    ] {
        let _ = std::fs::remove_file(p.out().join("started"));
        p.file(
            "playbooks/pb.yml",
            &format!("- name: slow\n  groups: [all]\n  tasks:\n{tasks}"),
        );
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("jetlike"))
            .current_dir(p.path())
            .args(["local", "-p", "playbooks/pb.yml"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !p.out().join("started").exists() {
            assert!(std::time::Instant::now() < deadline, "never started");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // The copies in flight: a temp file beside the destination.
        while tasks.contains("!copy") && p.temp_files().is_empty() {
            assert!(std::time::Instant::now() < deadline, "the copy never started");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(pid, libc::SIGINT) };
        std::thread::sleep(std::time::Duration::from_millis(100));
        let second = std::time::Instant::now();
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        let took = second.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("interrupted again"), "{stderr}");
        assert!(
            took < std::time::Duration::from_secs(3),
            "kept going {took:?} after the second interrupt"
        );
        assert!(p.temp_files().is_empty(), "left {:?}", p.temp_files());
    }
}

/// A key repeated in any mapping is an error at the repeated key (YAML would keep the last
/// silently); an unclosed quote is reported where it opens, not at the end of the file.
#[test]
fn duplicate_keys_and_unclosed_quotes_are_located() {
    let p = Project::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "- name: x\n  groups: [all]\n  vars:\n    a: 1\n    a: 2\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n",
            "pb.yml:5:5",
            "duplicate key `a`",
        ),
        (
            "- name: x\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n      cmd: echo again\n",
            "pb.yml:6:7",
            "duplicate key `cmd`",
        ),
        (
            "- name: x\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: \"touch @OUT@/ran\n    - !shell\n      cmd: echo 2\n",
            "pb.yml:5:12",
            "quoted scalar",
        ),
    ];
    for (yaml, at, message) in cases {
        p.file("playbooks/pb.yml", yaml);
        let r = p.local(&[]);
        assert_eq!(r.code, 3, "{yaml:?}: {}", r.all());
        assert!(r.stderr.contains(at), "{at}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{message}: {}", r.stderr);
        assert!(!p.out().join("ran").exists());
        let r = p.run(&["lint", "-p", "playbooks/pb.yml"]);
        assert!(r.stdout.contains("invalid-playbook"), "{}", r.stdout);
    }
    // In a vars file too.
    p.file("playbooks/v.yml", "a: 1\nb: 2\na: 3\n").file(
        "playbooks/pb.yml",
        "- name: x\n  groups: [all]\n  vars_files: [v.yml]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("v.yml:3:1"), "{}", r.stderr);
}

#[test]
fn output_larger_than_the_save_limit_fails_the_task_clearly() {
    let p = Project::new();
    p.file("templates/len.j2", "{{ big.out | length }}\n").file(
        "playbooks/pb.yml",
        "- name: s\n  groups: [all]\n  tasks:\n    - !shell\n      name: print 3 MB\n      cmd: head -c 3000000 /dev/zero | tr '\\0' a\n      save: big\n      save_limit: 1MiB\n    - !template\n      src: len.j2\n      dest: @OUT@/len\n",
    );
    for r in [p.local(&[]), p.json("local", &[])] {
        assert_eq!(r.code, 1, "{}", r.all());
        assert!(
            r.stdout.contains(
                "the output of task \\\"print 3 MB\\\" is larger than its save limit of 1 MiB"
            ) || r.stdout.contains(
                "the output of task \"print 3 MB\" is larger than its save limit of 1 MiB"
            ),
            "{}",
            r.all()
        );
        assert!(r.stdout.contains("save_limit"), "{}", r.all());
        assert!(!p.out().join("len").exists(), "the host went on");
    }
    // The default limit is 16 MiB.
    p.file(
        "playbooks/pb.yml",
        "- name: s\n  groups: [all]\n  tasks:\n    - !shell\n      name: print 17 MB\n      cmd: head -c 17000000 /dev/zero | tr '\\0' a\n      save: big\n    - !template\n      src: len.j2\n      dest: @OUT@/len\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("save limit of 16 MiB"), "{}", r.all());
    // Raised, the whole output is saved: never cut short.
    p.file(
        "playbooks/pb.yml",
        "- name: s\n  groups: [all]\n  tasks:\n    - !shell\n      name: print 17 MB\n      cmd: head -c 17000000 /dev/zero | tr '\\0' a\n      save: big\n      save_limit: 32MiB\n    - !template\n      src: len.j2\n      dest: @OUT@/len\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(p.read("out/len"), "17000000\n");
    // A condition reading `out` sees the same bounded value.
    p.file(
        "playbooks/pb.yml",
        "- name: s\n  groups: [all]\n  tasks:\n    - !shell\n      name: check it\n      cmd: head -c 2000000 /dev/zero | tr '\\0' a\n      save_limit: 1000000\n      failed_when: (eq out \"never\")\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("save limit of 1000000 bytes"),
        "{}",
        r.all()
    );
    // A size that is not one is reported at load.
    p.file(
        "playbooks/pb.yml",
        "- name: s\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: echo hi\n      save: x\n      save_limit: 12 parsecs\n",
    );
    let r = p.local(&[]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.all().contains("save_limit"), "{}", r.all());
    assert!(r.all().contains("pb.yml:7"), "{}", r.all());
}

#[test]
fn a_failure_shows_the_last_lines_and_counts_the_rest() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: f\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: seq 1 5000; exit 4\n",
    );
    let r = p.local(&[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("out (last 50 lines; 4950 earlier lines not shown): |\n      4951\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("      5000\n"), "{}", r.stdout);
    assert!(!r.stdout.contains("      4950\n"), "{}", r.stdout);
    let r = p.json("local", &[]);
    let ev = r
        .events()
        .into_iter()
        .find(|e| e["event"] == "task")
        .unwrap();
    assert_eq!(ev["failure"]["out_lines_omitted"], 4950);
    let out = ev["failure"]["out"].as_str().unwrap();
    assert_eq!(out.lines().count(), 50);
    assert!(
        out.starts_with("4951\n") && out.ends_with("5000\n"),
        "{out}"
    );
}

#[test]
fn vvv_streams_whole_lines_prefixed_by_the_host_before_the_result() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: v\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: echo one; echo two >&2; printf 'no newline'\n",
    );
    let r = p.local(&["-vvv"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let at = r
        .stdout
        .find("  localhost | one\n  localhost | two\n  localhost | no newline\n");
    let result = r.stdout.find("✓ localhost [1/1]");
    assert!(at.is_some() && at < result, "{}", r.stdout);
    // Without -vvv nothing of it is printed.
    let r = p.local(&[]);
    assert!(!r.stdout.contains("localhost | one"), "{}", r.stdout);
    let r = p.json("local", &["-vvv"]);
    let out: Vec<_> = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "output")
        .flat_map(|e| e["lines"].as_array().unwrap().clone())
        .collect();
    assert_eq!(out, ["one", "two", "no newline"]);
}
