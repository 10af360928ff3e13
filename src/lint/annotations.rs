//! CI formats of a lint report: GitHub Actions workflow commands (`--format github`), which
//! annotate the pull request, and a GitLab Code Quality report (`--format gitlab`). The
//! workflow-command helpers are shared with runs' failed-task annotations.

use std::path::Path;

use serde_json::{json, Value};

use super::sarif::{fingerprints, path_for_uri};
use super::{Report, Severity};

/// `jetlike lint --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LintFormat {
    /// Compiler-style findings, the secret flow and the counts.
    Human,
    /// One object: version, findings, flows, errors, warnings.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF consumers.
    Sarif,
    /// GitHub Actions workflow commands (`::error`/`::warning`), annotating the pull request.
    Github,
    /// A GitLab Code Quality report (JSON array).
    Gitlab,
}

/// Escapes a workflow command's message (GitHub's `escapeData`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (GitHub's `escapeProperty`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command line: `::KIND k=v,k=v::message\n`.
pub fn workflow_command(kind: &str, props: &[(&str, String)], message: &str) -> String {
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_property(v)))
        .collect();
    let sep = if props.is_empty() { "" } else { " " };
    format!(
        "::{kind}{sep}{}::{}\n",
        props.join(","),
        escape_data(message)
    )
}

/// Location properties (`file`, `line`, `col`) for whatever is known.
pub fn location_props(
    file: Option<&Path>,
    line: usize,
    column: usize,
) -> Vec<(&'static str, String)> {
    let mut props = vec![];
    if let Some(f) = file {
        props.push(("file", path_for_uri(f)));
        if line > 0 {
            props.push(("line", line.to_string()));
            if column > 0 {
                props.push(("col", column.to_string()));
            }
        }
    }
    props
}

/// Workflow commands, one per finding, then the counts as a plain line.
pub fn render_github(report: &Report) -> String {
    let mut s = String::new();
    for f in &report.findings {
        let kind = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = location_props(f.file.as_deref(), f.line, f.column);
        props.push(("title", f.code.to_string()));
        let message = match &f.hint {
            Some(h) => format!("{}\nhint: {h}", f.message),
            None => f.message.clone(),
        };
        s.push_str(&workflow_command(kind, &props, &message));
    }
    s.push_str(&format!(
        "jetlike lint: {} error(s), {} warning(s)\n",
        report.errors(),
        report.warnings()
    ));
    s
}

/// A GitLab Code Quality report. Every issue needs a path: findings about the command line
/// (no file) are placed at line 1 of `fallback`, the first playbook.
pub fn render_gitlab(report: &Report, fallback: &Path) -> String {
    let prints = fingerprints(report);
    let issues: Vec<Value> = report
        .findings
        .iter()
        .zip(prints)
        .map(|(f, fingerprint)| {
            let path = path_for_uri(f.file.as_deref().unwrap_or(fallback));
            json!({
                "description": format!("[{}] {}", f.code, f.message),
                "check_name": f.code,
                "fingerprint": fingerprint,
                "severity": match f.severity {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                },
                "location": { "path": path, "lines": { "begin": f.line.max(1) } },
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&issues).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_escape_data_and_properties() {
        let line = workflow_command(
            "error",
            &[("file", "a,b:c.yml".into()), ("title", "x%y".into())],
            "50% done\r\nnext: a,b",
        );
        assert_eq!(
            line,
            "::error file=a%2Cb%3Ac.yml,title=x%25y::50%25 done%0D%0Anext: a,b\n"
        );
        assert_eq!(workflow_command("warning", &[], "m"), "::warning::m\n");
    }
}
