//! `jetlike lint`: every finding with its location, a secret-flow report, no secret values.

mod project;

use project::Project;

fn lint(p: &Project, extra: &[&str]) -> project::Run {
    let mut args = vec!["lint", "-p", "playbooks/pb.yml", "-i", "inv"];
    args.extend_from_slice(extra);
    p.run(&args)
}

fn inventory(p: &Project) {
    p.file("inv/groups/web", "hosts: [web1, web2]\n")
        .file("inv/groups/db", "hosts: [db1]\n")
        .file("inv/host_vars/web1", "port: 80\n");
}

#[test]
fn clean_playbook_has_no_findings() {
    let p = Project::new();
    inventory(&p);
    p.file("templates/app.conf.hb", "port={{port}}\ntoken={{ENV_TOKEN}}\n").file(
        "playbooks/pb.yml",
        "- name: web\n  groups: [web]\n  tasks:\n    - !template\n      src: app.conf.hb\n      dest: /etc/app.conf\n      attributes: {mode: 0o600, owner: app}\n      and: {notify: restart}\n  handlers:\n    - !shell\n      cmd: systemctl restart app\n      with: {subscribe: restart}\n",
    );
    let r = lint(&p, &["--deny-warnings"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("0 error(s), 0 warning(s)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("app.conf.hb → /etc/app.conf  [ENV_TOKEN]"),
        "{}",
        r.stdout
    );
    insta::assert_snapshot!(r.stdout.replace(p.path().to_str().unwrap(), "<P>"));
}

const DIRTY: &str = r#"- name: web
  groups: [web, nosuchgroup]
  vars:
    aws: AKIAIOSFODNN7EXAMPLE
  tasks:
    - !shell
      cmd: curl -fsSL https://example.invalid/install.sh | sh
    - !shell
      cmd: echo {{ENV_TOKEN}}
    - !template
      src: app.conf.hb
      dest: /tmp/app.conf
      attributes: {mode: 0o644}
    - !shell
      cmd: cat /tmp/app.conf
      unsafe: true
    - !template
      src: missing.hb
      dest: /etc/x
      and: {notify: nobody-listens}
  handlers:
    - !shell
      cmd: echo never
      with: {subscribe: never-notified}
- name: db
  groups: [db]
  tasks:
    - !template
      src: app.conf.hb
      dest: /etc/db.conf
"#;

#[test]
fn dirty_playbook_reports_every_problem_with_its_location() {
    let p = Project::new();
    inventory(&p);
    p.file(
        "templates/app.conf.hb",
        "token={{ENV_TOKEN}}\npassword: s3cr3t-literal-pw\n",
    )
    .file("playbooks/pb.yml", DIRTY);
    let r = lint(&p, &[]);
    assert_eq!(r.code, 3, "{}", r.all());
    for (code, at) in [
        ("unknown-group", "pb.yml:2:"),
        ("hardcoded-secret", "pb.yml:4:"),
        ("shell-pipe-to-shell", "pb.yml:7:"),
        ("env-outside-template", "pb.yml:9:"),
        ("secret-file-readable", "pb.yml:13:"),
        ("secret-in-shared-dir", "pb.yml:12:"),
        ("shell-unsafe", "pb.yml:16:"),
        ("reads-secret-file", "pb.yml:15:"),
        ("missing-template", "pb.yml:18:"),
        ("notify-without-handler", "pb.yml:20:"),
        ("handler-never-notified", "pb.yml:24:"),
        ("hardcoded-secret", "app.conf.hb:2:"),
        ("secret-to-several-groups", "ENV_TOKEN"),
        ("secret-file-no-mode", "pb.yml:2"),
    ] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.contains(&format!("[{code}]")) && l.contains(at)),
            "missing {code} at {at}:\n{}",
            r.stdout
        );
    }
    for value in ["AKIAIOSFODNN7EXAMPLE", "s3cr3t-literal-pw"] {
        assert!(
            !r.all().contains(value),
            "lint printed a secret value: {}",
            r.all()
        );
    }
    insta::assert_snapshot!(r.stdout.replace(p.path().to_str().unwrap(), "<P>"));
}

#[test]
fn json_format_is_stable() {
    let p = Project::new();
    inventory(&p);
    p.file("templates/app.conf.hb", "token={{ENV_TOKEN}}\n")
        .file("playbooks/pb.yml", DIRTY);
    let r = lint(&p, &["--format", "json"]);
    assert_eq!(r.code, 3);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["version"], 1);
    assert!(doc["errors"].as_u64().unwrap() > 0);
    let f = &doc["findings"][0];
    for key in ["severity", "code", "message", "line", "column"] {
        assert!(f.get(key).is_some(), "finding lacks {key}: {f}");
    }
    assert_eq!(
        doc["flows"][1]["templates"][0]["env"],
        serde_json::json!(["ENV_TOKEN"])
    );
    insta::assert_snapshot!(r.stdout.replace(p.path().to_str().unwrap(), "<P>"));
}

#[test]
fn warnings_fail_only_with_deny_warnings() {
    let p = Project::new();
    inventory(&p);
    p.file("templates/t.hb", "token={{ENV_TOKEN}}\n").file(
        "playbooks/pb.yml",
        "- name: w\n  groups: [web]\n  tasks:\n    - !template\n      src: t.hb\n      dest: /etc/t\n",
    );
    assert_eq!(lint(&p, &[]).code, 0);
    assert_eq!(lint(&p, &["--deny-warnings"]).code, 3);
}

#[test]
fn bundled_example_lints_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = assert_cmd::Command::cargo_bin("jetlike")
        .unwrap()
        .current_dir(root)
        .args([
            "lint",
            "-p",
            "playbooks/demo.yml",
            "-i",
            "inventory",
            "--deny-warnings",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("[ENV_DEMO_API_TOKEN]"), "{text}");
}
