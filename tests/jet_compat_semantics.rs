//! Jet's semantics where jetlike used to differ: each fixture under
//! `tests/jet_compat/semantics/` is a Jet-style project, run with the built binary; effects are
//! checked on the files its tasks write, not on output wording.

mod project;
mod support;

use std::path::Path;

use project::{Project, Run};

/// A project holding a copy of fixture `name` (`@OUT@` replaced by the project's `out/`).
fn fixture(name: &str) -> Project {
    let p = Project::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/jet_compat/semantics")
        .join(name);
    p.copy_tree(&root, &root);
    p
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "{}", r.all());
}

fn exists(p: &Project, rel: &str) -> bool {
    p.out().join(rel).exists()
}

#[test]
fn inline_items_are_templated() {
    let p = fixture("items_templated");
    ok(&p.local(&[]));
    assert!(exists(&p, "from-vars"));
    assert!(exists(&p, "plain"));
    assert!(exists(&p, "from-vars-in-a-list"));
    ok(&p.run(&["lint", "-p", "playbooks/pb.yml"]));
}

#[test]
fn an_env_reference_inside_items_is_still_refused() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: t\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/{{ item }}\n      with:\n        items: [\"{{ ENV_X }}\"]\n",
    );
    let r = p.run_env(
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("X", "s3cret")],
    );
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(!r.all().contains("s3cret"));
    assert_eq!(std::fs::read_dir(p.out()).unwrap().count(), 0);
}

#[test]
fn an_undefined_variable_inside_items_stops_the_run_before_it_starts() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: t\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: touch @OUT@/first\n    - !shell\n      cmd: touch @OUT@/{{ item }}\n      with:\n        items: [\"{{ nope }}\"]\n",
    );
    assert_eq!(p.local(&[]).code, 3);
    assert!(!exists(&p, "first"));
    let lint = p.run(&["lint", "-p", "playbooks/pb.yml"]);
    assert!(lint.all().contains("undefined-variable"), "{}", lint.all());
}

#[test]
fn and_scalars_written_as_strings_are_rendered_and_parsed() {
    let p = fixture("and_strings");
    let r = p.local(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(exists(&p, "retried"));
    assert!(exists(&p, "retried2"));
    assert!(exists(&p, "end"));
}

#[test]
fn an_and_scalar_invalid_after_rendering_fails_the_task_naming_the_field() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: t\n  groups: [all]\n  vars: {pause: soon}\n  tasks:\n    - !shell\n      cmd: touch @OUT@/ran\n      and:\n        delay: \"{{ pause }}\"\n    - !shell\n      cmd: touch @OUT@/after\n",
    );
    let r = p.local(&[]);
    assert_ne!(r.code, 0);
    assert!(r.all().contains("and.delay"), "{}", r.all());
    assert!(!exists(&p, "ran"));
    assert!(!exists(&p, "after"));
}

#[test]
fn isdefined_follows_jet() {
    let p = fixture("isdefined");
    ok(&p.local(&[]));
    assert_eq!(p.read("out/t"), "no maybe present\n");
    assert!(!exists(&p, "maybe_defined"));
    assert!(exists(&p, "maybe_undefined"));
    assert!(exists(&p, "quoted_is_true"));
    // Defined, the same playbook takes the other branches.
    let p = fixture("isdefined");
    ok(&p.local(&["-e", "{\"maybe\": \"x\"}"]));
    assert_eq!(p.read("out/t"), "maybe=x present\n");
    assert!(exists(&p, "maybe_defined"));
    assert!(!exists(&p, "maybe_undefined"));
    let lint = p.run(&["lint", "-p", "playbooks/pb.yml", "--format", "json"]);
    assert!(lint.stdout.contains("isdefined-quoted"), "{}", lint.all());
    assert!(
        !lint.stdout.contains("undefined-variable"),
        "{}",
        lint.all()
    );
}

#[test]
fn lists_at_two_levels_are_merged() {
    let p = fixture("list_merge");
    ok(&p.local(&[]));
    assert!(exists(&p, "base"));
    assert!(exists(&p, "extra"));
    assert!(exists(&p, "count-2"));
}

#[test]
fn a_delegated_task_sees_delegate_host() {
    let p = fixture("delegate_host");
    ok(&p.local(&[]));
    assert!(exists(&p, "for-localhost"));
    ok(&p.run(&["lint", "-p", "playbooks/pb.yml"]));
}

#[test]
fn host_vars_for_a_host_in_no_group_is_a_warning_naming_the_file() {
    let p = fixture("orphan_host_vars");
    let r = p.run(&["show-inventory", "-i", "inventory"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("host_vars/ghost"), "{}", r.stderr);
    assert!(r.stdout.contains("role: \"web\""), "{}", r.stdout);
}

#[test]
fn show_inventory_reports_on_the_hosts_and_groups_asked_for() {
    let p = fixture("show_inventory");
    let r = p.run(&[
        "show-inventory",
        "-i",
        "inventory",
        "--show-hosts",
        "web2",
        "--show-groups",
        "web:region",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let host = r
        .stdout
        .split("host: web2")
        .nth(1)
        .expect("a report on web2");
    assert!(host.contains("port: 8080"), "{host}");
    assert!(host.contains("dc: east"), "{host}");
    let web = r
        .stdout
        .split("group: web")
        .nth(1)
        .expect("a report on web");
    let web = web.split("group: region").next().unwrap();
    assert!(
        web.contains("web1, web2") && web.contains("port: 80\n"),
        "{web}"
    );
    assert!(!r.stdout.contains("db1"), "{}", r.stdout);
    let r = p.run(&["show-inventory", "-i", "inventory", "--show-hosts", "nope"]);
    assert_eq!(r.code, 2, "{}", r.all());
}

#[test]
fn an_executable_inventory_prints_jet_json() {
    let p = fixture("dynamic_inventory");
    let r = p.run(&[
        "show-inventory",
        "-i",
        "dyn/inventory.sh",
        "--show-hosts",
        "w2:e1",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let w2 = r.stdout.split("host: w2").nth(1).unwrap();
    assert!(w2.contains("port: 8080") && w2.contains("dc: east"), "{w2}");
    let e1 = r.stdout.split("host: e1").nth(1).unwrap();
    let e1 = e1.split("host: w2").next().unwrap();
    assert!(e1.contains("port: 80\n") && e1.contains("web"), "{e1}");
    let lint = p.run(&["lint", "-p", "playbooks/pb.yml", "-i", "dyn/inventory.sh"]);
    assert_eq!(lint.code, 0, "{}", lint.all());
}

#[test]
fn a_failing_inventory_script_is_a_clear_error() {
    let p = fixture("dynamic_inventory");
    let r = p.run(&["show-inventory", "-i", "dyn/failing.sh"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.all().contains("failing.sh"), "{}", r.all());
    assert!(r.all().contains("status 4"), "{}", r.all());
    assert!(!r.all().contains("hunter2"), "{}", r.all());
    let r = p.run(&["ssh", "-p", "playbooks/pb.yml", "-i", "dyn/failing.sh"]);
    assert_eq!(r.code, 3, "{}", r.all());
}

#[test]
fn roles_are_found_in_directories_given_with_dash_r_or_jet_roles_path() {
    // Jet: `-r path1:path2` (and `$JET_ROLES_PATH`) add role search paths, searched before
    // the playbook's own `roles/`.
    let p = Project::new();
    let out = p.out();
    p.file(
        "shared/roles/base/role.yml",
        "name: base\ntasks: [main.yml]\n",
    )
    .file(
        "shared/roles/base/tasks/main.yml",
        &format!(
            "- !shell\n  cmd: touch {}/from-shared-role\n",
            out.display()
        ),
    )
    .file(
        "playbooks/pb.yml",
        "- name: p\n  groups: [all]\n  roles:\n    - role: base\n",
    );
    std::fs::create_dir_all(&out).unwrap();
    let missing = p.local(&[]);
    assert_eq!(missing.code, 3, "{}", missing.all());
    assert!(!exists(&p, "from-shared-role"));
    ok(&p.local(&["-r", "shared/roles"]));
    assert!(exists(&p, "from-shared-role"));
    std::fs::remove_file(out.join("from-shared-role")).unwrap();
    // A directory of the variable that does not exist is skipped, as in Jet.
    ok(&p.run_env(
        &["local", "-p", "playbooks/pb.yml"],
        &[("JET_ROLES_PATH", "nowhere-else:shared/roles")],
    ));
    assert!(exists(&p, "from-shared-role"));
    ok(&p.run(&["lint", "-p", "playbooks/pb.yml", "--roles", "shared/roles"]));
    let bad = p.local(&["-r", "no/such/dir"]);
    assert_eq!(bad.code, 3, "{}", bad.all());
    assert!(
        bad.stderr.contains("roles directory not found"),
        "{}",
        bad.all()
    );
}

#[test]
fn jet_semantics_hold_over_ssh() {
    // Templated items, string `and:` scalars, list merging and `delegate_host`, on two hosts
    // reached through a real sshd.
    let sshd = support::Sshd::start_on(&["127.0.0.1", "127.0.0.2"]);
    let mut f = support::Fleet::new();
    f.host("h1", &sshd, "127.0.0.1")
        .host("h2", &sshd, "127.0.0.2");
    f.trust(&sshd);
    f.playbook(
        r#"- name: jet semantics over ssh
  groups: [web]
  defaults:
    pkgs: [base]
  vars:
    extra: x1
    pkgs: [extra]
  tasks:
    - !shell
      cmd: touch {{root_dir}}/item-{{item}}
      with:
        items: ["{{ extra }}", plain]
    - !shell
      cmd: echo {{#each pkgs}}{{this}}-{{/each}} > {{root_dir}}/pkgs
    - !shell
      cmd: echo {{delegate_host}} > {{root_dir}}/delegated
      with:
        delegate_to: h2
    - !shell
      cmd: "false"
      and:
        ignore_errors: "true"
        retry: "1"
        delay: "0"
"#,
    );
    let r = f.run("ssh", &[], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    for h in ["h1", "h2"] {
        assert!(f.root(h).join("item-x1").exists(), "{h}: {}", r.all());
        assert!(f.root(h).join("item-plain").exists(), "{h}");
        assert_eq!(f.read(h, "pkgs"), "base-extra-\n", "{h}");
        assert_eq!(f.read(h, "delegated"), format!("{h}\n"));
    }
}
