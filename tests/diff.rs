//! Check-mode diffs that never show a secret, old or new (golden outputs with insta).

mod project;

use project::Project;

const NEW: &str = "n3w-Secret-Value-2024";
const OLD: &str = "0ld-Secret-Value-1999";

/// Runs `check-local` with `template` rendered over `current`, the secret given only through
/// the environment; returns stdout with the temp path normalised.
fn check_diff(template: &str, current: Option<&str>, json: bool, secret: &str) -> String {
    let p = Project::new();
    p.file("templates/app.conf.hb", template).file(
        "playbooks/pb.yml",
        "- name: diff\n  groups: [all]\n  vars: {host: db2, port: 5433}\n  tasks:\n    - !template\n      name: app config\n      src: app.conf.hb\n      dest: @OUT@/app.conf\n      attributes: {mode: \"0600\"}\n",
    );
    if let Some(c) = current {
        std::fs::write(p.out().join("app.conf"), c).unwrap();
        std::fs::set_permissions(
            p.out().join("app.conf"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }
    let mut args = vec!["check-local", "-p", "playbooks/pb.yml", "--loadenv"];
    if json {
        args.extend(["--output", "json"]);
    }
    let r = p.run_env(&args, &[("DB_PASSWORD", secret)]);
    assert_eq!(r.code, 0, "{}", r.all());
    for leaked in [NEW, OLD, "Secret-Value"] {
        assert!(!r.all().contains(leaked), "leaked {leaked:?}:\n{}", r.all());
    }
    if let Some(c) = current {
        assert_eq!(p.read("out/app.conf"), c, "check mode changed the file");
    }
    r.stdout.replace(p.out().to_str().unwrap(), "<OUT>")
}

const TEMPLATE: &str =
    "[db]\nhost = {{host}}\nport = {{port}}\npassword = {{ENV_DB_PASSWORD}}\npool = 5\n";

#[test]
fn non_secret_change() {
    let out = check_diff(
        TEMPLATE,
        Some(&format!(
            "[db]\nhost = db1\nport = 5433\npassword = {NEW}\npool = 5\n"
        )),
        false,
        NEW,
    );
    assert!(
        out.contains("-host = db1\n") || out.contains("    -host = db1\n"),
        "{out}"
    );
    assert!(
        out.contains(" password = ***ENV_DB_PASSWORD***"),
        "unchanged secret line as a skeleton: {out}"
    );
    assert!(out.contains("0 secret values would change"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn secret_rotated() {
    let out = check_diff(
        TEMPLATE,
        Some(&format!(
            "[db]\nhost = db2\nport = 5433\npassword = {OLD}\npool = 5\n"
        )),
        false,
        NEW,
    );
    assert!(out.contains("(ENV_DB_PASSWORD: changed)"), "{out}");
    assert!(out.contains("1 secret value would change"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn unchanged_secret_next_to_a_changed_line() {
    let t = "password = {{ENV_DB_PASSWORD}} # {{host}}\n";
    let out = check_diff(t, Some(&format!("password = {NEW} # db1\n")), false, NEW);
    assert!(out.contains("(ENV_DB_PASSWORD: unchanged)"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn secret_line_deleted_from_the_template() {
    let out = check_diff(
        "[db]\nhost = {{host}}\n",
        Some(&format!("[db]\nhost = db2\npassword = {OLD}\n")),
        false,
        NEW,
    );
    assert!(out.contains("<line hidden: held secret content>"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn layout_changed_around_a_secret() {
    let t = "db:\n  password: \"{{ENV_DB_PASSWORD}}\"\n";
    let out = check_diff(t, Some(&format!("[db]\npassword = {OLD}\n")), false, NEW);
    insta::assert_snapshot!(out);
}

#[test]
fn multi_line_pem_secret() {
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw\nggSjAgEAAoIBAQC7Secret-Value-line3x\n-----END PRIVATE KEY-----";
    let t = "# key\n{{ENV_DB_PASSWORD}}\n";
    let old = "# key\n-----BEGIN PRIVATE KEY-----\nMIIEold0ld0ld0ld0ld0ld0ld0ld0ld0ld0\n-----END PRIVATE KEY-----\n";
    let out = check_diff(t, Some(old), false, pem);
    assert!(!out.contains("MIIE"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn secret_through_a_helper() {
    let t = "token = {{to_upper_case ENV_DB_PASSWORD}}\n";
    let out = check_diff(t, Some("token = OLD-TOKEN-VALUE-XYZ\n"), false, NEW);
    assert!(!out.contains(&NEW.to_uppercase()), "{out}");
    assert!(!out.contains("OLD-TOKEN-VALUE-XYZ"), "{out}");
    assert!(out.contains("***ENV_DB_PASSWORD***"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn json_diff_is_structured() {
    let out = check_diff(
        TEMPLATE,
        Some(&format!(
            "[db]\nhost = db2\nport = 5433\npassword = {OLD}\npool = 5\n"
        )),
        true,
        NEW,
    );
    let task = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "task")
        .unwrap();
    let diff = &task["diff"];
    assert_eq!(
        diff["secrets_changed"],
        serde_json::json!(["ENV_DB_PASSWORD"])
    );
    let lines = diff["hunks"][0]["lines"].as_array().unwrap();
    assert!(lines
        .iter()
        .any(|l| l["masked"] == true && l["holes"][0]["changed"] == true));
    insta::assert_snapshot!(out);
}

#[test]
fn binary_and_oversized_files_are_summarised() {
    let p = Project::new();
    p.file("files/bin", "").file("templates/big.hb", &"x".repeat(300 * 1024)).file(
        "playbooks/pb.yml",
        "- name: s\n  groups: [all]\n  tasks:\n    - !copy\n      src: bin\n      dest: @OUT@/bin\n    - !template\n      src: big.hb\n      dest: @OUT@/big\n",
    );
    std::fs::write(p.path().join("files/bin"), b"\x00\x01\x02binary").unwrap();
    std::fs::write(p.out().join("bin"), b"\x00\x09").unwrap();
    let r = p.check(&[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("binary content differs (2 -> 9 bytes)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("over 256 KiB"), "{}", r.stdout);
    assert!(!r.stdout.contains("xxxxxxxx"), "{}", r.stdout);
}
