//! `jetlike lint --format sarif`: the report as a SARIF 2.1.0 log, the format GitHub code
//! scanning and GitLab ingest. One rule per finding code (from [`super::rules`]), results
//! located by line and column (1-based, Unicode code points, a region only when known), and a
//! fingerprint per result that does not depend on line numbers, so a finding keeps its
//! identity when lines above it move.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::rules::{rule_of, RULES};
use super::{Finding, Report, Severity};

pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The `partialFingerprints` key: bump the version if the hashed inputs ever change.
pub const FINGERPRINT_KEY: &str = "jetlikeFinding/v1";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// One fingerprint per finding, in report order: SHA-256 of the code, the file, the message
/// and how many identical (code, file, message) findings precede it — never a line number.
pub fn fingerprints(report: &Report) -> Vec<String> {
    let mut seen: HashMap<(&str, Option<&Path>, &str), usize> = HashMap::new();
    report
        .findings
        .iter()
        .map(|f| {
            let n = seen
                .entry((f.code, f.file.as_deref(), f.message.as_str()))
                .or_insert(0);
            let mut h = Sha256::new();
            h.update(f.code.as_bytes());
            h.update([0]);
            if let Some(p) = &f.file {
                h.update(path_for_uri(p).as_bytes());
            }
            h.update([0]);
            h.update(f.message.as_bytes());
            h.update([0]);
            h.update(n.to_string().as_bytes());
            *n += 1;
            hex::encode(&h.finalize()[..16])
        })
        .collect()
}

/// The path with `/` separators and no leading `./`, as repositories name files.
pub fn path_for_uri(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    let mut s = s.as_str();
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    s.to_string()
}

/// Percent-encodes everything but unreserved characters and `/` (RFC 3986).
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn artifact_location(p: &Path) -> Value {
    let path = path_for_uri(p);
    if path.starts_with('/') {
        json!({ "uri": format!("file://{}", uri_encode(&path)) })
    } else {
        // Relative to the directory lint ran in: the repository root in CI.
        json!({ "uri": uri_encode(&path), "uriBaseId": "%SRCROOT%" })
    }
}

fn location(f: &Finding) -> Option<Value> {
    let file = f.file.as_ref()?;
    let mut physical = json!({ "artifactLocation": artifact_location(file) });
    if f.line > 0 {
        let mut region = json!({ "startLine": f.line });
        if f.column > 0 {
            region["startColumn"] = f.column.into();
        }
        physical["region"] = region;
    }
    Some(json!({ "physicalLocation": physical }))
}

fn rule_json(code: &str) -> Value {
    let (short, help, severity) = match rule_of(code) {
        Some(r) => (r.short, r.help, r.severity),
        None => ("A jetlike lint finding.", "See README.md.", Severity::Error),
    };
    json!({
        "id": code,
        "name": code,
        "shortDescription": { "text": short },
        "fullDescription": { "text": format!("{short} {help}") },
        "help": { "text": help },
        "defaultConfiguration": { "level": level(severity) },
    })
}

/// The SARIF 2.1.0 log of a report.
pub fn render_sarif(report: &Report) -> String {
    // Every documented rule, then any code without one (none, while the rules test passes).
    let mut codes: Vec<&str> = RULES.iter().map(|r| r.code).collect();
    for f in &report.findings {
        if !codes.contains(&f.code) {
            codes.push(f.code);
        }
    }
    let rules: Vec<Value> = codes.iter().map(|c| rule_json(c)).collect();
    let prints = fingerprints(report);
    let results: Vec<Value> = report
        .findings
        .iter()
        .zip(&prints)
        .map(|(f, print)| {
            let mut r = json!({
                "ruleId": f.code,
                "ruleIndex": codes.iter().position(|c| *c == f.code).unwrap_or(0),
                "level": level(f.severity),
                "message": { "text": f.message },
                "partialFingerprints": { FINGERPRINT_KEY: print },
            });
            if let Some(l) = location(f) {
                r["locations"] = json!([l]);
            }
            if let Some(h) = &f.hint {
                r["properties"] = json!({ "hint": h });
            }
            r
        })
        .collect();
    let doc = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "jetlike",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn finding(code: &'static str, line: usize, message: &str) -> Finding {
        Finding {
            severity: Severity::Warning,
            code,
            message: message.into(),
            file: Some(PathBuf::from("./playbooks/a b.yml")),
            line,
            column: 3,
            hint: None,
        }
    }

    #[test]
    fn fingerprints_ignore_lines_and_tell_duplicates_apart() {
        let a = Report {
            findings: vec![finding("env-unused", 3, "m"), finding("env-unused", 9, "m")],
            flows: vec![],
        };
        let b = Report {
            findings: vec![
                finding("env-unused", 40, "m"),
                finding("env-unused", 41, "m"),
            ],
            flows: vec![],
        };
        let (fa, fb) = (fingerprints(&a), fingerprints(&b));
        assert_eq!(fa, fb, "moving lines keeps fingerprints");
        assert_ne!(fa[0], fa[1], "identical findings get distinct fingerprints");
        let c = Report {
            findings: vec![finding("env-unused", 3, "other")],
            flows: vec![],
        };
        assert_ne!(fingerprints(&c)[0], fa[0]);
    }

    #[test]
    fn uris_are_relative_and_encoded() {
        let r = Report {
            findings: vec![finding("env-unused", 0, "m")],
            flows: vec![],
        };
        let doc: Value = serde_json::from_str(&render_sarif(&r)).unwrap();
        let loc = &doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "playbooks/a%20b.yml");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert!(loc.get("region").is_none(), "line 0 means no region: {loc}");
    }
}
