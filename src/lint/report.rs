//! The lint report: findings (severity, stable code, message, location, hint) and the secret
//! flows of each play, serialized as the `--format json` document.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Diagnostic, Location};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier, for CI annotations and allowlists.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    pub line: usize,
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A templated destination as rendered with the variables of the hosts it is written on.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedDest {
    pub path: String,
    /// Only when the path differs between hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateFlow {
    pub task: String,
    pub src: String,
    /// As written in the playbook.
    pub dest: String,
    /// `dest` rendered, when it is templated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolved_dest: Vec<ResolvedDest>,
    pub env: Vec<String>,
    pub vars: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Octal, as written or defaulted ("0600 (default for secret-bearing templates)").
    pub mode: String,
    /// The template file could not be found, read or parsed: `env` and `vars` are unknown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_loaded: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlayFlow {
    pub play: String,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    pub templates: Vec<TemplateFlow>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub flows: Vec<PlayFlow>,
}

impl Report {
    pub(crate) fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        message: String,
        at: Option<Location>,
        hint: Option<String>,
    ) {
        let (file, line, column) = match at {
            Some(l) => (Some(l.file), l.line, l.column),
            None => (None, 0, 0),
        };
        // Messages quote user text (task names default to their command): whatever in them
        // looks like a secret is cut to its prefix.
        self.findings.push(Finding {
            severity,
            code,
            message: crate::credentials::redact(&message).into_owned(),
            file,
            line,
            column,
            hint: hint.map(|h| crate::credentials::redact(&h).into_owned()),
        });
    }
    pub(crate) fn error(
        &mut self,
        code: &'static str,
        message: String,
        at: Location,
        hint: String,
    ) {
        self.push(Severity::Error, code, message, Some(at), Some(hint));
    }
    pub(crate) fn warn(&mut self, code: &'static str, message: String, at: Location, hint: String) {
        self.push(Severity::Warning, code, message, Some(at), Some(hint));
    }
    pub(crate) fn push_diagnostic(
        &mut self,
        code: &'static str,
        d: Diagnostic,
        default_hint: &str,
    ) {
        let msg = match &d.context {
            Some(c) => format!("{} [{c}]", d.message),
            None => d.message,
        };
        let hint = d.help.unwrap_or_else(|| default_hint.to_string());
        self.push(Severity::Error, code, msg, d.location, Some(hint));
    }
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }
}
