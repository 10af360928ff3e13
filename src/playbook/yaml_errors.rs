//! YAML errors as diagnostics: the nesting-depth and duplicate-key checks run before serde,
//! and `serde_yaml_ng`'s messages mapped to a located diagnostic with help (the list of modules
//! for an unknown tag). Error texts quoting a value are cut to a prefix: it may be a secret.

use std::path::Path;

use crate::error::{Diagnostic, Error, Location, Result};
use crate::modules::MODULES;
use crate::yaml_spans::{self, YamlProblemKind};

/// Refuses YAML nested deeper than [`crate::depth::YAML_DEPTH_LIMIT`] before any recursive
/// parser sees it; then what serde reports badly or not at all: a key repeated in a mapping
/// (at the repeated key) and syntax errors at yaml-rust2's position (an unclosed quote where
/// it opens).
pub fn check_yaml_depth(path: &Path, text: &str) -> Result<()> {
    crate::depth::check_yaml(text).map_err(|e| {
        Error::invalid(
            Diagnostic::new(e.to_string())
                .at(Some(Location::new(path, e.line, e.column)))
                .help(e.help()),
        )
    })?;
    let problems: Vec<Diagnostic> = yaml_spans::problems(text)
        .into_iter()
        .filter_map(|p| {
            let help = match p.kind {
                YamlProblemKind::DuplicateKey => {
                    "remove one of the two entries (YAML would silently keep the last)"
                }
                YamlProblemKind::QuotedScalar => "fix the YAML syntax here",
                // Other syntax errors serde locates as well, with the messages lint's
                // fixtures know.
                YamlProblemKind::Syntax => return None,
            };
            Some(
                Diagnostic::new(p.message)
                    .at(Some(Location::new(path, p.line, p.column)))
                    .help(help),
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Turns a `serde_yaml_ng` error into a diagnostic pointing at the line and column, with the list
/// of valid modules when the tag is unknown. Scalar values quoted by the error text are cut to
/// a short prefix: a mistyped field may hold a secret.
pub fn yaml_error(path: &Path, e: &serde_yaml_ng::Error) -> Diagnostic {
    let mut msg = e.to_string();
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    let loc = e
        .location()
        .map(|l| Location::new(path, l.line(), l.column()));
    with_schema_help(Diagnostic::new(crate::error::sanitize_value_message(&msg)).at(loc))
        .in_file(path)
}

pub(crate) fn with_schema_help(d: Diagnostic) -> Diagnostic {
    let msg = d.message.clone();
    if msg.contains("unknown variant") || msg.contains("expected a YAML tag") {
        d.help(format!(
            "tasks are written with a module tag, one of: {}",
            MODULES
                .iter()
                .map(|m| format!("!{m}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else if msg.contains("unknown field") {
        d.help("remove or rename the field; the valid ones are listed above")
    } else if msg.contains("untagged enum Mode") {
        d.help("write modes as 0o640 or \"0640\"")
    } else if msg.contains("untagged enum Items") {
        d.help("`items:` takes a list, or the name of a variable holding a list")
    } else if msg.contains("missing field") {
        d.help("add the field; see the playbook format in README.md")
    } else if msg.contains("invalid type") {
        d.help("fix the value's type (see the formats in README.md)")
    } else {
        d
    }
}
