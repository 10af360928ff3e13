//! Where reviewers work: SARIF (validated against the official SARIF 2.1.0 schema, vendored
//! from the OASIS sarif-spec repository), GitHub workflow commands, GitLab Code Quality, the
//! Markdown run summary, man pages, completions and the playbook JSON Schema. Every format is
//! also run with a secret in the environment that must not appear in it.

mod project;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use project::Project;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn jetlike(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> project::Run {
    let mut c = assert_cmd::Command::cargo_bin("jetlike").unwrap();
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    project::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn sarif_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("tests/fixtures/sarif-schema-2.1.0.json"))
        .expect("the vendored SARIF schema");
    let schema: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: invalid:\n{}", errors.join("\n"));
}

/// Lint arguments for a fixture directory, from what it holds.
fn fixture_args(dir: &Path) -> Vec<String> {
    let mut books = vec!["playbooks/pb.yml".to_string()];
    if dir.join("playbooks/broken.yml").exists() {
        books.push("playbooks/broken.yml".into());
    }
    let mut args = vec!["lint".to_string(), "-p".into(), books.join(":")];
    if dir.join("inv").is_dir() {
        args.extend(["-i".into(), "inv".into()]);
    }
    if dir.join(".env").is_file() {
        args.extend(["--env-file".into(), ".env".into()]);
    }
    args
}

fn lint_fixture(name: &str, format: &str) -> project::Run {
    let dir = root().join("tests/fixtures/lint").join(name);
    let mut args = fixture_args(&dir);
    args.extend(["--format".into(), format.into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    jetlike(&dir, &args, &[])
}

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("tests/fixtures/lint"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("playbooks/pb.yml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() > 20, "{names:?}");
    names
}

/// (code, file, line, column, severity) of every finding of the JSON report.
fn json_findings(run: &project::Run) -> Vec<(String, Option<String>, u64, u64, String)> {
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["file"]
                    .as_str()
                    .map(|s| s.trim_start_matches("./").to_string()),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn sarif_validates_against_the_official_schema_and_matches_the_json_report() {
    let validator = sarif_validator();
    let mut codes_seen = BTreeSet::new();
    for name in fixture_names() {
        let json = lint_fixture(&name, "json");
        let sarif = lint_fixture(&name, "sarif");
        assert_eq!(sarif.code, json.code, "{name}: same exit status");
        let doc: Value = serde_json::from_str(&sarif.stdout)
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}", sarif.stdout));
        assert_valid(&validator, &doc, &name);
        // The validator is live: a level SARIF does not define is rejected.
        if doc["runs"][0]["results"][0].is_object() {
            let mut bad = doc.clone();
            bad["runs"][0]["results"][0]["level"] = "severe".into();
            assert!(
                !validator.is_valid(&bad),
                "{name}: the schema checks levels"
            );
        }
        assert_eq!(doc["version"], "2.1.0");
        let run = &doc["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        let results = run["results"].as_array().unwrap();
        let want = json_findings(&json);
        assert_eq!(results.len(), want.len(), "{name}: one result per finding");
        for (r, (code, file, line, column, severity)) in results.iter().zip(&want) {
            codes_seen.insert(code.clone());
            assert_eq!(r["ruleId"], code.as_str(), "{name}");
            let rule = &rules[usize::try_from(r["ruleIndex"].as_u64().unwrap()).unwrap()];
            assert_eq!(
                rule["id"],
                code.as_str(),
                "{name}: ruleIndex points at its rule"
            );
            assert!(
                rule["help"]["text"].as_str().unwrap().len() > 10,
                "{name}: {code} has help text"
            );
            assert_eq!(r["level"], severity.as_str(), "{name}: severity mapped");
            assert_eq!(
                r["partialFingerprints"]["jetlikeFinding/v1"]
                    .as_str()
                    .unwrap()
                    .len(),
                32
            );
            let loc = &r["locations"][0]["physicalLocation"];
            match file {
                Some(f) => {
                    let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
                    assert_eq!(uri, f.replace(' ', "%20"), "{name}");
                    if *line > 0 {
                        assert_eq!(loc["region"]["startLine"], *line, "{name}");
                        assert_eq!(loc["region"]["startColumn"], *column, "{name}");
                    } else {
                        assert!(
                            loc.get("region").is_none(),
                            "{name}: no region when unknown"
                        );
                    }
                }
                None => assert!(r.get("locations").is_none(), "{name}"),
            }
        }
    }
    assert!(codes_seen.len() > 15, "{codes_seen:?}");
}

#[test]
fn sarif_fingerprints_survive_moved_lines() {
    let p = Project::new();
    let body = "- name: p\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: curl -s https://x.invalid/i.sh | sh\n";
    p.file("playbooks/pb.yml", body);
    let print = |p: &Project| -> (Value, Value) {
        let r = p.run(&["lint", "-p", "playbooks/pb.yml", "--format", "sarif"]);
        let doc: Value = serde_json::from_str(&r.stdout).unwrap();
        let res = &doc["runs"][0]["results"][0];
        (
            res["partialFingerprints"].clone(),
            res["locations"][0]["physicalLocation"]["region"]["startLine"].clone(),
        )
    };
    let (before, line_before) = print(&p);
    assert!(before.is_object(), "a finding: {before}");
    p.file(
        "playbooks/pb.yml",
        &format!("# a comment\n# another\n{body}"),
    );
    let (after, line_after) = print(&p);
    assert_ne!(line_before, line_after, "the finding moved");
    assert_eq!(before, after, "its fingerprint did not");
}

/// A parsed workflow command: kind, properties, message (still escaped).
type WorkflowCommand = (String, Vec<(String, String)>, String);

/// `::error file=F,line=L,col=C,title=T::message`, with GitHub's escaping.
fn parse_workflow_command(line: &str) -> Option<WorkflowCommand> {
    let rest = line.strip_prefix("::")?;
    let (head, message) = rest.split_once("::")?;
    let (kind, props) = head.split_once(' ').unwrap_or((head, ""));
    let props = props
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').expect("key=value");
            assert!(!v.contains(':'), "unescaped ':' in {line}");
            (k.to_string(), v.to_string())
        })
        .collect();
    assert!(!message.contains('\r') && !message.contains('\n'));
    Some((kind.to_string(), props, message.to_string()))
}

fn unescape(s: &str) -> String {
    s.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

#[test]
fn github_annotations_follow_the_workflow_command_syntax() {
    for name in fixture_names() {
        let json = lint_fixture(&name, "json");
        let gh = lint_fixture(&name, "github");
        assert_eq!(gh.code, json.code, "{name}");
        let want = json_findings(&json);
        let commands: Vec<_> = gh
            .stdout
            .lines()
            .filter_map(parse_workflow_command)
            .collect();
        assert_eq!(commands.len(), want.len(), "{name}:\n{}", gh.stdout);
        for ((kind, props, message), (code, file, line, column, severity)) in
            commands.iter().zip(&want)
        {
            assert_eq!(kind, severity, "{name}");
            let get = |k: &str| props.iter().find(|(p, _)| p == k).map(|(_, v)| unescape(v));
            assert_eq!(get("title").as_deref(), Some(code.as_str()), "{name}");
            assert_eq!(get("file"), file.clone(), "{name}");
            if *line > 0 {
                assert_eq!(get("line"), Some(line.to_string()), "{name}");
                assert_eq!(get("col"), Some(column.to_string()), "{name}");
            }
            assert!(unescape(message).contains("\nhint: "), "{name}: {message}");
        }
        assert!(gh.stdout.contains(" error(s), "), "{name}: the counts");
    }
}

#[test]
fn gitlab_report_has_the_code_quality_fields() {
    let mut fingerprints = BTreeSet::new();
    for name in fixture_names() {
        let json = lint_fixture(&name, "json");
        let gl = lint_fixture(&name, "gitlab");
        assert_eq!(gl.code, json.code, "{name}");
        let issues: Vec<Value> = serde_json::from_str(&gl.stdout).unwrap();
        let want = json_findings(&json);
        assert_eq!(issues.len(), want.len(), "{name}");
        let mut here = BTreeSet::new();
        for (i, (code, file, line, ..)) in issues.iter().zip(&want) {
            assert_eq!(i["check_name"], code.as_str());
            assert!(i["description"].as_str().unwrap().contains(code.as_str()));
            assert!(["info", "minor", "major", "critical", "blocker"]
                .contains(&i["severity"].as_str().unwrap()));
            let path = i["location"]["path"].as_str().unwrap();
            assert!(!path.is_empty());
            if let Some(f) = file {
                assert_eq!(path, f, "{name}");
            }
            assert_eq!(i["location"]["lines"]["begin"], (*line).max(1), "{name}");
            let fp = i["fingerprint"].as_str().unwrap().to_string();
            assert!(here.insert(fp.clone()), "{name}: duplicate fingerprint");
            fingerprints.insert(fp);
        }
    }
    assert!(fingerprints.len() > 20);
}

const SECRET: &str = "s3cr3t-Vq7Kx2Lm9Pw4Rz8T";
const ROTATED: &str = "r0tat3d-Hb5Nc1Jd6Fg3Ks0Y";

/// A project whose template takes `ENV_APP_TOKEN` and writes it to out/app.conf; a second play
/// fails while printing the rendered file.
fn secret_project() -> Project {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: deploy\n  groups: [all]\n  tasks:\n    - !template\n      name: app config\n      src: app.conf.hb\n      dest: @OUT@/app.conf\n      attributes: {mode: 0o600}\n    - !shell\n      name: show and fail\n      cmd: cat @OUT@/app.conf; exit 3\n",
    )
    .file("templates/app.conf.hb", "url = https://example.invalid\ntoken = {{ENV_APP_TOKEN}}\n");
    p
}

#[test]
fn no_ci_format_shows_a_secret_from_the_environment() {
    let p = secret_project();
    let env = [("APP_TOKEN", SECRET)];
    for format in ["human", "json", "sarif", "github", "gitlab"] {
        let r = jetlike(
            p.path(),
            &["lint", "-p", "playbooks/pb.yml", "--format", format],
            &env,
        );
        assert!(!r.all().contains(SECRET), "lint {format}: {}", r.all());
        assert!(!r.all().contains(&SECRET[..8]), "lint {format}");
    }
    // A failed task whose output prints the secret: annotated, masked, on stdout (human) or
    // stderr (JSON output, so stdout stays JSON Lines).
    for output in ["human", "json"] {
        let r = jetlike(
            p.path(),
            &[
                "local",
                "-p",
                "playbooks/pb.yml",
                "--loadenv",
                "-vvv",
                "--output",
                output,
                "--format",
                "github",
            ],
            &env,
        );
        assert_eq!(r.code, 1, "{}", r.all());
        assert!(!r.all().contains(SECRET), "{output}: {}", r.all());
        let stream = if output == "json" {
            &r.stderr
        } else {
            &r.stdout
        };
        let ann: Vec<_> = stream.lines().filter_map(parse_workflow_command).collect();
        assert_eq!(ann.len(), 1, "{output}: one failed task:\n{}", r.all());
        let (kind, props, message) = &ann[0];
        assert_eq!(kind, "error");
        let get = |k: &str| props.iter().find(|(p, _)| p == k).map(|(_, v)| unescape(v));
        assert_eq!(get("file").as_deref(), Some("playbooks/pb.yml"));
        assert_eq!(get("line").as_deref(), Some("10"), "located at the task");
        assert!(get("title").unwrap().contains("show and fail"));
        let message = unescape(message);
        assert!(message.contains("localhost"), "{message}");
        assert!(
            message.contains("token = ***"),
            "the output is quoted, masked: {message}"
        );
        if output == "json" {
            for line in r.stdout.lines() {
                serde_json::from_str::<Value>(line).expect("stdout stays JSON Lines");
            }
        }
    }
}

#[test]
fn check_summary_names_rotating_secrets_and_never_a_value() {
    use std::os::unix::fs::PermissionsExt;
    let p = secret_project();
    // Deploy once with the current secret (the shell task fails; the file is written).
    let r = jetlike(
        p.path(),
        &["local", "-p", "playbooks/pb.yml", "--loadenv"],
        &[("APP_TOKEN", SECRET)],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    p.file(
        "templates/app.conf.hb",
        "url = https://example.invalid/v2\nextra = 1\ntoken = {{ENV_APP_TOKEN}}\n",
    );
    let summary = p.path().join("reports/summary.md");
    std::fs::create_dir_all(summary.parent().unwrap()).unwrap();
    std::fs::write(&summary, "old content\n").unwrap();
    let r = jetlike(
        p.path(),
        &[
            "check-local",
            "-p",
            "playbooks/pb.yml",
            "--loadenv",
            "--summary",
            "reports/summary.md",
        ],
        &[("APP_TOKEN", ROTATED)],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let md = std::fs::read_to_string(&summary).unwrap();
    for value in [SECRET, ROTATED] {
        assert!(!md.contains(value), "{md}");
        assert!(!md.contains(&value[..8]), "{md}");
    }
    assert!(md.starts_with("## jetlike check-local: 1 host"), "{md}");
    assert!(md.contains("### <code>localhost</code>"), "{md}");
    let row = md
        .lines()
        .find(|l| l.contains("app.conf"))
        .unwrap_or_else(|| panic!("a row for the file: {md}"));
    assert!(row.contains("would modify"), "{row}");
    // url changed, a line added, the token rotated.
    assert!(row.contains("+3 −2"), "diff stats: {row}");
    assert!(row.contains("<code>ENV_APP_TOKEN</code>"), "{row}");
    assert!(
        row.contains("APP_TOKEN"),
        "the rotating secret by name: {row}"
    );
    assert_eq!(
        std::fs::metadata(&summary).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let leftovers: Vec<_> = std::fs::read_dir(summary.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
}

#[test]
fn man_pages_cover_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let r = jetlike(dir.path(), &["man", "pages"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let main = std::fs::read_to_string(dir.path().join("pages/jetlike.1")).unwrap();
    assert!(
        main.starts_with(".ie") || main.contains(".TH jetlike 1"),
        "{main}"
    );
    let help = jetlike(dir.path(), &["--help"], &[]).stdout;
    let subcommands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        // A subcommand's line is indented two spaces; wrapped help text is indented more.
        .filter(|l| l.starts_with("  ") && !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .collect();
    for sub in [
        "local",
        "check-local",
        "ssh",
        "check-ssh",
        "show-inventory",
        "lint",
        "completions",
        "man",
        "schema",
    ] {
        assert!(
            subcommands.contains(&sub),
            "{sub} in --help: {subcommands:?}"
        );
    }
    for sub in &subcommands {
        assert!(
            main.contains(&format!("jetlike\\-{}", sub.replace('-', "\\-"))),
            "jetlike.1 mentions {sub}"
        );
        let page = std::fs::read_to_string(dir.path().join(format!("pages/jetlike-{sub}.1")))
            .unwrap_or_else(|e| panic!("jetlike-{sub}.1: {e}"));
        assert!(page.contains(".SH SYNOPSIS"), "{sub}");
    }
    let lint = std::fs::read_to_string(dir.path().join("pages/jetlike-lint.1")).unwrap();
    assert!(lint.contains("sarif") && lint.contains("gitlab"), "{lint}");
}

#[test]
fn completions_generate_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let r = jetlike(root(), &["completions", shell], &[]);
        assert_eq!(r.code, 0, "{shell}");
        for word in ["check-ssh", "lint", "sarif", "schema"] {
            assert!(r.stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
}

// ---- JSON Schema for playbooks ------------------------------------------------------------

fn schema(kind: &str) -> jsonschema::Validator {
    let r = jetlike(root(), &["schema", kind], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    jsonschema::validator_for(&v).unwrap_or_else(|e| panic!("{kind} schema: {e}"))
}

/// YAML as yaml-language-server sees it: tags (`!shell`) dropped, the tagged node kept.
fn yaml_to_json(text: &str) -> Option<Value> {
    fn untag(v: serde_yaml_ng::Value) -> serde_yaml_ng::Value {
        use serde_yaml_ng::Value as Y;
        match v {
            Y::Tagged(t) => untag(t.value),
            Y::Sequence(s) => Y::Sequence(s.into_iter().map(untag).collect()),
            Y::Mapping(m) => Y::Mapping(m.into_iter().map(|(k, v)| (k, untag(v))).collect()),
            other => other,
        }
    }
    let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).ok()?;
    serde_json::to_value(untag(y)).ok()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
            out.push(p);
        }
    }
}

/// The parser is the oracle: every file it accepts, the schema accepts; and a file with an
/// unknown field both reject.
#[test]
fn schema_accepts_what_the_parser_accepts() {
    use jetlike::playbook::{Play, RoleFile, Task};
    let playbook = schema("playbook");
    let tasks = schema("tasks");
    let role = schema("role");
    let inventory = schema("inventory");
    let mut files = vec![];
    yaml_files(&root().join("playbooks"), &mut files);
    yaml_files(&root().join("tests/fixtures"), &mut files);
    let (mut books, mut task_files, mut roles, mut rejected) = (0, 0, 0, 0);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let Some(doc) = yaml_to_json(&text) else {
            continue;
        };
        let in_dir = |d: &str| f.parent().is_some_and(|p| p.ends_with(d));
        let (validator, parsed) = if f.file_name().is_some_and(|n| n == "role.yml") {
            roles += 1;
            (&role, serde_yaml_ng::from_str::<RoleFile>(&text).is_ok())
        } else if in_dir("playbooks") {
            books += 1;
            (
                &playbook,
                serde_yaml_ng::from_str::<Vec<Play>>(&text).is_ok(),
            )
        } else if in_dir("tasks") || in_dir("handlers") {
            task_files += 1;
            (&tasks, serde_yaml_ng::from_str::<Vec<Task>>(&text).is_ok())
        } else {
            continue;
        };
        if parsed {
            assert_valid(validator, &doc, &rel);
        } else {
            rejected += 1;
            assert!(
                !validator.is_valid(&doc),
                "{rel}: the parser rejects it, the schema accepts it"
            );
        }
    }
    assert!(
        books > 20 && task_files > 0 && roles > 0,
        "{books} {task_files} {roles}"
    );
    assert!(
        rejected > 0,
        "the invalid-playbook fixture is rejected by both"
    );
    let demo = std::fs::read_to_string(root().join("playbooks/demo.yml")).unwrap();
    assert!(playbook.is_valid(&yaml_to_json(&demo).unwrap()));

    // An unknown field, at play, task and `with:` level.
    for bad in [
        "- name: p\n  groups: [all]\n  colour: blue\n  tasks: []\n",
        "- name: p\n  groups: [all]\n  tasks:\n    - !shell\n      cmd: true\n      retries: 3\n",
        "- name: p\n  groups: [all]\n  tasks:\n    - !copy\n      src: a\n      dest: /b\n      with: {when: x}\n",
    ] {
        assert!(serde_yaml_ng::from_str::<Vec<Play>>(bad).is_err());
        let doc = yaml_to_json(bad).unwrap();
        assert!(!playbook.is_valid(&doc), "schema accepts {bad}");
    }
    for (text, ok) in [
        ("hosts: [web1, web2]\nsubgroups: [db]\n", true),
        ("hosts: [web1]\nmembers: [x]\n", false),
    ] {
        let doc = yaml_to_json(text).unwrap();
        assert_eq!(inventory.is_valid(&doc), ok, "{text}");
    }
}

#[test]
fn check_ssh_annotates_and_summarises_an_unreachable_host() {
    let p = secret_project();
    // Nothing listens on port 1 of the loopback address: the connection is refused at once.
    p.file("inv/groups/all", "hosts: [web1]\n").file(
        "inv/host_vars/web1",
        "jet_ssh_hostname: 127.0.0.1\njet_ssh_port: 1\n",
    );
    let r = jetlike(
        p.path(),
        &[
            "check-ssh",
            "-p",
            "playbooks/pb.yml",
            "-i",
            "inv",
            "--loadenv",
            "--connect-timeout",
            "5",
            "--format",
            "github",
            "--summary",
            "summary.md",
        ],
        &[("APP_TOKEN", SECRET)],
    );
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(!r.all().contains(SECRET));
    let ann: Vec<_> = r
        .stdout
        .lines()
        .filter_map(parse_workflow_command)
        .collect();
    assert_eq!(ann.len(), 1, "{}", r.stdout);
    assert_eq!(ann[0].0, "error");
    assert!(
        unescape(&ann[0].2).starts_with("host web1 unreachable: "),
        "{:?}",
        ann[0]
    );
    let md = p.read("summary.md");
    assert!(md.starts_with("## jetlike check-ssh: 1 host"), "{md}");
    assert!(md.contains("- <code>web1</code> unreachable: "), "{md}");
    assert!(!md.contains(SECRET));
}

#[test]
fn annotations_never_quote_a_sensitive_task_output() {
    let p = Project::new();
    p.file(
        "playbooks/pb.yml",
        "- name: p\n  groups: [all]\n  tasks:\n    - !shell\n      name: loud\n      cmd: echo loud-marker-4712; exit 2\n      and: {ignore_errors: true}\n    - !shell\n      name: quiet\n      cmd: printf 'visible-%s' marker-4711; exit 2\n      sensitive: true\n",
    );
    let r = p.run(&["local", "-p", "playbooks/pb.yml", "--format", "github"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let ann: Vec<_> = r
        .stdout
        .lines()
        .filter_map(parse_workflow_command)
        .collect();
    // The ignored failure is not annotated; the sensitive one is, without its output.
    assert_eq!(ann.len(), 1, "{}", r.stdout);
    assert!(
        unescape(&ann[0].2).contains("task \"quiet\" failed"),
        "{:?}",
        ann[0]
    );
    assert!(!r.all().contains("visible-marker-4711"), "{}", r.all());
    assert!(!ann[0].2.contains("output"), "{:?}", ann[0]);
    assert!(
        r.stdout.contains("loud-marker-4712"),
        "the ignored failure ran: {}",
        r.stdout
    );
}

#[test]
fn pre_commit_hook_runs_lint_on_playbook_and_template_changes() {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    let hooks: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(hooks.len(), 1);
    let h = &hooks[0];
    for key in ["id", "name", "entry", "language"] {
        assert!(h[key].as_str().is_some_and(|v| !v.is_empty()), "{key}");
    }
    assert_eq!(h["id"].as_str(), Some("jetlike-lint"));
    assert_eq!(h["entry"].as_str(), Some("jetlike lint"));
    assert_eq!(h["pass_filenames"].as_bool(), Some(false));
    assert!(["rust", "system"].contains(&h["language"].as_str().unwrap()));
    // pre-commit matches `files` with Python's re.search; this regex means the same in Rust.
    let files = regex::Regex::new(h["files"].as_str().unwrap()).unwrap();
    for f in [
        "playbooks/site.yml",
        "a.yaml",
        "templates/app.conf.hb",
        "t/x.j2",
    ] {
        assert!(files.is_match(f), "{f}");
    }
    for f in ["src/main.rs", "README.md", "x.yml.bak"] {
        assert!(!files.is_match(f), "{f}");
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("hooks: [{id: jetlike-lint, args: [-p, "));
}
