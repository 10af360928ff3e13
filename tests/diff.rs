//! Check-mode diffs that never show a secret, old or new (golden outputs with insta).

mod project;

use base64::Engine as _;
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
    // `db1` is in neither the new content nor the template: not provably non-secret.
    assert!(out.contains("    -host = \u{2039}old\u{203a}\n"), "{out}");
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
    // The template has no secret left, so the line is hidden by the credential heuristic.
    assert!(
        out.contains("<line hidden: looks like a credential>"),
        "{out}"
    );
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

/// One check run of a template (`hb`, `j2`) or a copied file (`copy`) over planted current
/// content, in human and JSON form.
struct Case<'a> {
    src: &'a str,
    kind: &'a str,
    current: Option<&'a [u8]>,
    env: &'a [(&'a str, &'a str)],
    /// Values that must appear nowhere: the old ones planted in `current`, the new ones given
    /// through `env`.
    secrets: &'a [&'a str],
}

/// Every form of `secret` that must not be printed: raw, JSON-escaped, base64 (standard and
/// URL-safe, padded or not), and each line of a multi-line value.
fn forbidden_forms(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut out = vec![secret.to_string()];
    let json = serde_json::to_string(secret).unwrap();
    out.push(json[1..json.len() - 1].to_string());
    for e in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        out.push(e.encode(secret));
    }
    out.extend(secret.lines().filter(|l| l.len() >= 6).map(str::to_string));
    out
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        for f in forbidden_forms(s) {
            assert!(
                !text.contains(&f),
                "leaked {f:?} (a form of {s:?}):\n{text}"
            );
        }
    }
}

impl Case<'_> {
    /// Returns (human stdout, JSON stdout), the temp path replaced by `<OUT>`.
    fn run(&self) -> (String, String) {
        let p = Project::new();
        let task = if self.kind == "copy" {
            p.file("files/app.conf", self.src);
            "!copy\n      name: app config\n      src: app.conf"
        } else {
            p.file(&format!("templates/app.conf.{}", self.kind), self.src);
            if self.kind == "j2" {
                "!template\n      name: app config\n      src: app.conf.j2"
            } else {
                "!template\n      name: app config\n      src: app.conf.hb"
            }
        };
        p.file(
            "playbooks/pb.yml",
            &format!("- name: diff\n  groups: [all]\n  vars: {{host: db2, port: 5433}}\n  tasks:\n    - {task}\n      dest: @OUT@/app.conf\n      attributes: {{mode: \"0600\"}}\n"),
        );
        let dest = p.out().join("app.conf");
        let mut outs = vec![];
        for json in [false, true] {
            if let Some(c) = self.current {
                std::fs::write(&dest, c).unwrap();
                std::fs::set_permissions(
                    &dest,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )
                .unwrap();
            }
            let mut args = vec!["check-local", "-p", "playbooks/pb.yml", "--loadenv"];
            if json {
                args.extend(["--output", "json"]);
            }
            let r = p.run_env(&args, self.env);
            assert_eq!(r.code, 0, "{}", r.all());
            assert_no_secret(&r.all(), self.secrets);
            if let Some(c) = self.current {
                assert_eq!(
                    std::fs::read(&dest).unwrap(),
                    c,
                    "check mode changed the file"
                );
            }
            outs.push(r.stdout.replace(p.out().to_str().unwrap(), "<OUT>"));
        }
        // Apply with --diff: the same guarantees.
        let r = p.run_env(
            &["local", "-p", "playbooks/pb.yml", "--loadenv", "--diff"],
            self.env,
        );
        assert_eq!(r.code, 0, "{}", r.all());
        assert_no_secret(&r.all(), self.secrets);
        let json = outs.pop().unwrap();
        (outs.pop().unwrap(), json)
    }
}

/// The diff of the task event in JSON output.
fn json_diff(json: &str) -> serde_json::Value {
    json.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "task")
        .unwrap()["diff"]
        .clone()
}

fn json_footer(json: &str) -> serde_json::Value {
    json.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "diff_summary")
        .unwrap()
}

#[test]
fn rotated_secret_below_an_added_line() {
    let (out, json) = Case {
        src: "database:\n  # rotated 2024-06\n  url: postgres://app:{{ENV_DB_PASSWORD}}@db/app\n",
        kind: "hb",
        current: Some(b"database:\n  url: postgres://app:0ld-Pa55w0rd-1999@db/app\n"),
        env: &[("DB_PASSWORD", "n3w-Pa55w0rd-2024")],
        secrets: &["0ld-Pa55w0rd-1999", "n3w-Pa55w0rd-2024"],
    }
    .run();
    assert!(
        out.contains("-  url: postgres://app:***ENV_DB_PASSWORD***@db/app\n"),
        "{out}"
    );
    assert!(out.contains("(ENV_DB_PASSWORD: changed)"), "{out}");
    let d = json_diff(&json);
    assert_eq!(d["secrets_changed"], serde_json::json!(["ENV_DB_PASSWORD"]));
    assert!(d["hunks"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["op"] == " " || l["masked"] == true || l["text"] == "  # rotated 2024-06"));
    insta::assert_snapshot!(out);
}

const NEW_PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nNEWKEYLINE1aaaaaaaaaaaaaaaaaaaa\n-----END PRIVATE KEY-----";
const OLD_PEM: &str = "-----BEGIN PRIVATE KEY-----\nOLDKEYLINE1bbbbbbbbbbbbbbbbbbbbb\nOLDKEYLINE2ccccccccccccccccccc\nOLDTAIL3\n-----END PRIVATE KEY-----";

#[test]
fn pem_secret_with_fewer_lines_than_the_old_key() {
    let current = format!("# key\n{OLD_PEM}\n");
    let (out, json) = Case {
        src: "# key\n{{ENV_K}}\n",
        kind: "hb",
        current: Some(current.as_bytes()),
        env: &[("K", NEW_PEM)],
        secrets: &[NEW_PEM, OLD_PEM, "OLDKEYLINE", "NEWKEYLINE", "OLDTAIL3"],
    }
    .run();
    assert!(out.contains("(ENV_K: changed)"), "{out}");
    assert_eq!(
        json_diff(&json)["secrets_changed"],
        serde_json::json!(["ENV_K"])
    );
    insta::assert_snapshot!(out);
}

#[test]
fn pem_secret_with_more_lines_than_the_old_key() {
    let current = format!("# key\n{NEW_PEM}\n");
    let (out, _) = Case {
        src: "# key\n{{ENV_K}}\n",
        kind: "hb",
        current: Some(current.as_bytes()),
        env: &[("K", OLD_PEM)],
        secrets: &[NEW_PEM, OLD_PEM, "OLDKEYLINE", "NEWKEYLINE", "OLDTAIL3"],
    }
    .run();
    assert!(out.contains("(ENV_K: changed)"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn multi_line_secret_inside_a_line_with_more_old_lines() {
    let (out, _) = Case {
        src: "pa = {{ENV_P}};tail\n",
        kind: "hb",
        current: Some(b"pa = OLDLINE1x\nOLDLINE2y\nOLDLINE3z;tail\n"),
        env: &[("P", "NEWLINE1\nNEWLINE2")],
        secrets: &[
            "OLDLINE1x",
            "OLDLINE2y",
            "OLDLINE3z",
            "NEWLINE1",
            "NEWLINE2",
        ],
    }
    .run();
    assert!(out.contains("-\u{2039}old\u{203a}\n"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn layout_change_never_prints_the_rest_of_the_old_line() {
    // Every current value still stands in the old line, next to an old token.
    let (out, _) = Case {
        src: "creds: {{ENV_P}}\n",
        kind: "hb",
        current: Some(b"creds = PPPPPPPP1,OLDTOKEN99\n"),
        env: &[("P", "PPPPPPPP1")],
        secrets: &["PPPPPPPP1", "OLDTOKEN99"],
    }
    .run();
    assert!(out.contains("(ENV_P: may change)"), "{out}");
    insta::assert_snapshot!("layout_change_c1", out);
    // The new value is a prefix of the old one.
    let (out, json) = Case {
        src: "password: {{ENV_P}}\n",
        kind: "hb",
        current: Some(b"password = Tr0ub4dor-2024-ROTATED-TAIL\n"),
        env: &[("P", "Tr0ub4dor-2024")],
        secrets: &["Tr0ub4dor-2024", "ROTATED-TAIL", "ROTATED"],
    }
    .run();
    assert!(!out.contains("unchanged"), "{out}");
    assert!(out.contains("1 may change"), "{out}");
    assert_eq!(json_footer(&json)["secrets_may_change"], 1);
    insta::assert_snapshot!("layout_change_sub", out);
}

#[test]
fn removed_lines_that_look_like_credentials_are_hidden() {
    let current = "x=1\nkey = K3yv4lue\naccess_key=AK3yv4lue\n\"pass\": \"Quoted1x\"\nPWD=Pwd1Value\nurl=redis://:R3disPw@h\ndsn: postgres://u:PgPw1x@h/db\nAKIAABCDEFGHIJKLMNOP\nghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nxoxb-1234567890-abcdefgh\nsk_live_abcdefghijklmnop\neyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nplain = ok\n";
    let (out, _) = Case {
        src: "x=1\n",
        kind: "hb",
        current: Some(current.as_bytes()),
        env: &[],
        secrets: &[
            "K3yv4lue",
            "AK3yv4lue",
            "Quoted1x",
            "Pwd1Value",
            "R3disPw",
            "PgPw1x",
            "AKIAABCDEFGHIJKLMNOP",
            "ghp_aaaaaaaaaaaa",
            "xoxb-1234567890",
            "sk_live_",
            "eyJhbGci",
            "MIIEvQIBADAN",
        ],
    }
    .run();
    // Mostly credentials: summarised; fewer of them are hidden line by line.
    assert!(out.contains("13 lines changed (12 hold secrets)"), "{out}");
    let (out, _) = Case {
        src: "x=1\n",
        kind: "hb",
        current: Some(b"x=1\nsigning_key: S1gK3yValue\nurl=redis://:R3disPw@h\nplain = ok\n"),
        env: &[],
        secrets: &["S1gK3yValue", "R3disPw"],
    }
    .run();
    assert!(out.contains("-plain = ok"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn copied_key_is_hidden_on_both_sides() {
    let (out, json) = Case {
        src: "-----BEGIN PRIVATE KEY-----\nNEWKEYBODYAAAAAAAAAAAAAAAAAA\nNEWTL=\n-----END PRIVATE KEY-----\n",
        kind: "copy",
        current: Some(b"-----BEGIN PRIVATE KEY-----\nOLDKEYBODYBBBBBBBBBBBBBBBBBB\nOLDTL=\n-----END PRIVATE KEY-----\n"),
        env: &[],
        secrets: &["NEWKEYBODY", "OLDKEYBODY", "NEWTL=", "OLDTL="],
    }
    .run();
    assert!(!out.contains("BEGIN"), "{out}");
    assert!(json_diff(&json)["hunks"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["masked"] == true));
    insta::assert_snapshot!(out);
}

#[test]
fn adjacent_secrets_are_named_each() {
    let (out, json) = Case {
        src: "d={{ENV_P}}{{ENV_Q}}\n",
        kind: "hb",
        current: Some(b"d=PPPPPPPP11OLDQQQQ22\n"),
        env: &[("P", "PPPPPPPP11"), ("Q", "NEWQQQQQ22")],
        secrets: &["PPPPPPPP11", "NEWQQQQQ22", "OLDQQQQ22"],
    }
    .run();
    assert!(
        out.contains("d=***ENV_P******ENV_Q***   (ENV_P: changed, ENV_Q: changed)"),
        "{out}"
    );
    assert_eq!(
        json_diff(&json)["secrets_changed"],
        serde_json::json!(["ENV_P", "ENV_Q"])
    );
    insta::assert_snapshot!(out);
    // Through filters: the span cannot be split, both are still named.
    let (out, _) = Case {
        src: "c = {{ ENV_P|title }}{{ ENV_Q|lower }}\nd={{ENV_P}}{{ENV_Q}}\n",
        kind: "j2",
        current: Some(b"c = Oldvalueqq\nd=SECRETvalue42QQQQqqqq99\n"),
        env: &[("P", "SECRETvalue42"), ("Q", "QQQQqqqq99")],
        secrets: &[
            "SECRETvalue42",
            "QQQQqqqq99",
            "Secretvalue42",
            "qqqqqqqq99",
            "Oldvalueqq",
        ],
    }
    .run();
    assert!(
        out.contains("+c = ***ENV_P******ENV_Q***   (ENV_P: changed, ENV_Q: changed)"),
        "{out}"
    );
    assert!(out.contains(" d=***ENV_P******ENV_Q***\n"), "{out}");
    insta::assert_snapshot!("adjacent_secrets_through_filters", out);
}

#[test]
fn filters_that_break_alignment_mask_their_lines_only() {
    let (out, json) = Case {
        src: "host = {{host}}\na = {{ ENV_P|upper }}\nc = {{ ENV_P|reverse }}\nport = {{port}}\n",
        kind: "j2",
        current: Some(b"host = db1\na = OLDVALUE\nc = EULAVDLO\nport = 5433\n"),
        env: &[("P", "SECRETvalue42")],
        secrets: &[
            "SECRETvalue42",
            "SECRETVALUE42",
            "24eulavTERCES",
            "OLDVALUE",
            "EULAVDLO",
        ],
    }
    .run();
    assert!(
        !out.contains("secret:") && !out.contains("***secret***"),
        "{out}"
    );
    assert!(out.contains("+a = ***ENV_P***"), "{out}");
    assert!(
        out.contains("-host = \u{2039}old\u{203a}\n") && out.contains(" port = 5433\n"),
        "{out}"
    );
    let d = json_diff(&json);
    assert_eq!(d["secrets_changed"], serde_json::json!(["ENV_P"]));
    assert_eq!(json_footer(&json)["secrets"], 1);
    insta::assert_snapshot!(out);
}

#[test]
fn summaries_of_secret_files_tell_no_size() {
    let (out, json) = Case {
        src: "password = {{ENV_P}}\n",
        kind: "hb",
        current: Some(b"password = OLDSECRET1\x00\x01binary"),
        env: &[("P", "NEWSECRET1")],
        secrets: &["NEWSECRET1", "OLDSECRET1"],
    }
    .run();
    assert!(out.contains("binary content differs\n"), "{out}");
    assert!(!out.contains("bytes"), "{out}");
    assert!(
        out.contains("0 secret values would change, 1 may change"),
        "{out}"
    );
    assert_eq!(
        json_diff(&json)["secrets_may_change"],
        serde_json::json!(["ENV_P"])
    );
    insta::assert_snapshot!(out);
    let big = format!("{}\npassword = {{{{ENV_P}}}}\n", "x".repeat(300 * 1024));
    let (out, _) = Case {
        src: &big,
        kind: "hb",
        current: Some(b"password = OLDSECRET1\n"),
        env: &[("P", "NEWSECRET1")],
        secrets: &["NEWSECRET1", "OLDSECRET1"],
    }
    .run();
    assert!(
        out.contains("over 256 KiB") && out.contains("1 may change"),
        "{out}"
    );
}

#[test]
fn line_endings_and_missing_final_newline() {
    let (out, _) = Case {
        src: "a = 1\r\npassword = {{ENV_P}}\r\nb = 2\r\n",
        kind: "hb",
        current: Some(b"a = 1\r\npassword = OLDSECRET1\r\nb = 2\r\n"),
        env: &[("P", "NEWSECRET1")],
        secrets: &["NEWSECRET1", "OLDSECRET1"],
    }
    .run();
    assert!(!out.contains('\r'), "{out:?}");
    assert!(
        out.contains("+password = ***ENV_P***\u{240d}   (ENV_P: changed)"),
        "{out}"
    );
    insta::assert_snapshot!("crlf", out);
    // Only the line endings change: still visible.
    let (out, _) = Case {
        src: "a = 1\r\npassword = {{ENV_P}}\r\n",
        kind: "hb",
        current: Some(b"a = 1\npassword = NEWSECRET1\n"),
        env: &[("P", "NEWSECRET1")],
        secrets: &["NEWSECRET1"],
    }
    .run();
    assert!(
        out.contains("-a = 1\n") && out.contains("+a = 1\u{240d}\n"),
        "{out}"
    );
    assert!(out.contains("(ENV_P: unchanged)"), "{out}");
    insta::assert_snapshot!("lf_to_crlf", out);
    let (out, json) = Case {
        src: "a = 1\npassword = {{ENV_P}}",
        kind: "hb",
        current: Some(b"a = 1\npassword = OLDSECRET1\n"),
        env: &[("P", "NEWSECRET1")],
        secrets: &["NEWSECRET1", "OLDSECRET1"],
    }
    .run();
    assert!(
        out.contains("(ENV_P: changed)\n    \\ No newline at end of file\n"),
        "{out}"
    );
    assert!(json.contains(r#""no_newline_at_eof":true"#), "{json}");
    insta::assert_snapshot!("no_final_newline", out);
}

#[test]
fn a_secret_used_twice_is_noted_once() {
    let (out, _) = Case {
        src: "{{ENV_P}} a {{ENV_P}}\n",
        kind: "hb",
        current: Some(b"OLDSECRET1 a OLDSECRET1\n"),
        env: &[("P", "NEW.*SECRET$(")],
        secrets: &["NEW.*SECRET$(", "OLDSECRET1"],
    }
    .run();
    assert!(
        out.contains("+***ENV_P*** a ***ENV_P***   (ENV_P: changed)\n"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn a_non_secret_edit_next_to_an_unchanged_secret_is_shown() {
    // The old line holds the current value where the hole is: shown with it masked.
    let (out, _) = Case {
        src: "password = {{ENV_P}} # {{host}}\nother = {{port}}\n",
        kind: "hb",
        current: Some(b"password = NEWSECRET1 # db1\nother = 1\n"),
        env: &[("P", "NEWSECRET1")],
        secrets: &["NEWSECRET1"],
    }
    .run();
    // The old line's other tokens are not in the new content: each is a placeholder (the
    // old `db1` or `1` might have been a secret an earlier render wrote there).
    assert!(
        out.contains("-password = ***ENV_P*** # \u{2039}old\u{203a}\n"),
        "{out}"
    );
    assert!(
        out.contains("-other = \u{2039}old\u{203a}\n") && out.contains("+other = 5433\n"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn a_template_whose_sentinel_render_fails_is_summarised_without_a_fake_name() {
    // `int` cannot read the sentinel: the secret spans cannot be located at all.
    let (out, json) = Case {
        src: "n = {{ ENV_P|int }}\nx = 1\n",
        kind: "j2",
        current: Some(b"n = 414141\nx = 1\n"),
        env: &[("P", "424242")],
        secrets: &["424242", "414141"],
    }
    .run();
    assert!(
        !out.contains("secret:") && !out.contains("***secret***"),
        "{out}"
    );
    assert!(
        out.contains("secrets in 1 file could not be compared"),
        "{out}"
    );
    assert_eq!(json_diff(&json)["secrets_unknown"], true);
    assert_eq!(json_footer(&json)["secret_files_not_compared"], 1);
    insta::assert_snapshot!(out);
}

/// Old values that are no longer in the secret set (rotated out) are never shown, whatever
/// the old layout: each old token not in the new content or the template prints as a
/// placeholder, so the structure stays reviewable.
#[test]
fn rotated_out_values_are_never_shown_in_any_layout() {
    let template = "connect = db1 5432\npin = {{ENV_DB_PIN}}\nuser = app\npass = {{ENV_DB_PASS}}\n";
    let env: &[(&str, &str)] = &[("DB_PIN", "11112222"), ("DB_PASS", "n3wPassw0rd")];
    let layouts: &[(&str, &[&str])] = &[
        // The issue's reproduction: secrets at the ends of lines, moved to their own keys.
        (
            "connect = db1 5432 90417733\nuser = app swordfish\n",
            &["90417733", "swordfish"],
        ),
        // Prefix, middle and suffix of a known line.
        (
            "Qx7vP2mK connect = db1 5432\nuser = app Zr4tY8wN pass\n",
            &["Qx7vP2mK", "Zr4tY8wN"],
        ),
        // Split over two lines, and merged into one.
        (
            "connect = db1 5432\npass = Wq7rT2\nxN4pL8 end\n",
            &["Wq7rT2", "xN4pL8"],
        ),
        (
            "connect = db1 5432 user = app pass = hunter2hunter2 pin = 8675309\n",
            &["hunter2hunter2", "8675309"],
        ),
        // Moved under another key, with punctuation inside the value.
        (
            "secret_key = Xk9#mP2$vL7@qR4!\nconnect = db1 5432\n",
            &["Xk9#mP2$vL7@qR4!", "Xk9", "mP2", "vL7", "qR4"],
        ),
        // A URL with user info, a bare token on its own line, digits only.
        (
            "url = postgres://app:Pa55w0rdX@db1:5432/app\nAbCdEfGh12345678\n31415926\n",
            &["Pa55w0rdX", "AbCdEfGh12345678", "31415926"],
        ),
    ];
    for (current, old) in layouts {
        for kind in ["hb", "j2"] {
            let src = if kind == "j2" {
                template
                    .replace("{{ENV_", "{{ ENV_")
                    .replace("}}\n", " }}\n")
            } else {
                template.to_string()
            };
            let mut secrets: Vec<&str> = old.to_vec();
            secrets.extend(["11112222", "n3wPassw0rd"]);
            let (out, json) = Case {
                src: &src,
                kind,
                current: Some(current.as_bytes()),
                env,
                secrets: &secrets,
            }
            .run();
            assert!(out.contains('\u{2039}'), "no placeholder shown:\n{out}");
            assert!(
                json.contains("\\u2039") || json.contains('\u{2039}'),
                "{json}"
            );
        }
    }
    // The reproduction keeps its structure.
    let (out, _) = Case {
        src: template,
        kind: "hb",
        current: Some(layouts[0].0.as_bytes()),
        env,
        secrets: &["90417733", "swordfish"],
    }
    .run();
    assert!(
        out.contains("-connect = db1 5432 \u{2039}old\u{203a}\n")
            && out.contains("-user = app \u{2039}old\u{203a}\n"),
        "{out}"
    );
}

/// A plain copy over a file that held a secret: the credential detector (the one shared with
/// lint) hides the old line, whether it names a key or is a bare generated word.
#[test]
fn a_copy_over_a_former_secret_hides_it() {
    let (out, _) = Case {
        src: "name = y\n",
        kind: "copy",
        current: Some(b"api = Xk9#mP2$vL7@qR4!\nAbCdEfGh12345678\nname = x\n"),
        env: &[],
        secrets: &["Xk9#mP2$vL7@qR4!", "AbCdEfGh12345678", "Xk9#", "vL7@"],
    }
    .run();
    assert!(
        out.contains("-name = x\n") && out.contains("+name = y\n"),
        "{out}"
    );
    assert_eq!(out.matches("looks like a credential").count(), 2, "{out}");
}

/// `diff: false` on a task and `--no-diff-content` on the command line: the diff says the
/// content changes, never how; attribute changes still show.
#[test]
fn diff_content_can_be_withheld() {
    let p = Project::new();
    p.file("files/plain.conf", "visible = new-line-content\n")
        .file("templates/secret.conf.hb", "token = {{ENV_TOK}}\nlevel = info\n")
        .file(
            "playbooks/pb.yml",
            "- name: diffs\n  groups: [all]\n  tasks:\n    - !copy\n      name: plain\n      src: plain.conf\n      dest: @OUT@/plain.conf\n      attributes: {mode: \"0600\"}\n    - !template\n      name: private\n      src: secret.conf.hb\n      dest: @OUT@/secret.conf\n      diff: false\n",
        );
    std::fs::write(p.out().join("plain.conf"), "visible = old-line-content\n").unwrap();
    std::fs::write(
        p.out().join("secret.conf"),
        "token = old\nlevel = debug-old-level\n",
    )
    .unwrap();
    let env = [("TOK", "n3w-Token-Value")];
    let r = p.run_env(
        &["check-local", "-p", "playbooks/pb.yml", "--loadenv"],
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("-visible = old-line-content"),
        "{}",
        r.stdout
    );
    assert!(!r.all().contains("debug-old-level"), "{}", r.stdout);
    assert!(r.stdout.contains("content not shown"), "{}", r.stdout);
    for args in [
        &[
            "check-local",
            "-p",
            "playbooks/pb.yml",
            "--loadenv",
            "--no-diff-content",
        ][..],
        &[
            "check-local",
            "-p",
            "playbooks/pb.yml",
            "--loadenv",
            "--no-diff-content",
            "--output",
            "json",
        ][..],
    ] {
        let r = p.run_env(args, &env);
        assert_eq!(r.code, 0, "{}", r.all());
        for never in ["line-content", "debug-old-level", "n3w-Token-Value", "info"] {
            assert!(!r.all().contains(never), "{never}: {}", r.stdout);
        }
        assert!(r.stdout.contains("content not shown"), "{}", r.stdout);
    }
}
