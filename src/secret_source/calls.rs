//! The `secret` calls of a template file, in either dialect: the template variable each one
//! reads and its source, or where a call's provider and key are not two string literals.

use crate::template::{call_name, Dialect};

use super::Source;

/// A secret a template file uses: its template variable, the source when the template names
/// it (`{{secret "p" "k"}}`), and where.
#[derive(Debug, Clone)]
pub struct SecretUse {
    pub name: String,
    pub call: Option<Source>,
    pub line: usize,
    pub column: usize,
}

/// The `secret` calls of a template file: `Ok` with each call's use, or the positions of calls
/// whose provider and key are not two string literals (they cannot be checked before the run).
pub fn template_calls(dialect: Dialect, text: &str) -> (Vec<SecretUse>, Vec<(usize, usize)>) {
    let calls: Vec<crate::template::SecretCall> = match dialect {
        Dialect::Handlebars => crate::template::secret_calls(text),
        Dialect::Jinja => jinja_secret_calls(text),
    };
    let mut uses = vec![];
    let mut bad = vec![];
    for (p, k, (line, column)) in calls {
        match (p, k) {
            (Some(p), Some(k)) if valid_provider(&p) => uses.push(SecretUse {
                name: call_name(&p, &k),
                call: Some(Source::from_provider(&p, &k)),
                line,
                column,
            }),
            _ => bad.push((line, column)),
        }
    }
    (uses, bad)
}

pub(super) fn valid_provider(p: &str) -> bool {
    !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `secret("p", "k")` calls in a Jinja text (a lexical scan): literal arguments, or `None`s.
pub(super) fn jinja_secret_calls(text: &str) -> Vec<crate::template::SecretCall> {
    use std::sync::OnceLock;
    static CALL: OnceLock<regex::Regex> = OnceLock::new();
    static FULL: OnceLock<regex::Regex> = OnceLock::new();
    static TAG: OnceLock<regex::Regex> = OnceLock::new();
    let call = CALL.get_or_init(|| regex::Regex::new(r"\bsecret\s*\(").unwrap());
    let full = FULL.get_or_init(|| {
        regex::Regex::new(
            r#"^secret\s*\(\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*,\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\)"#,
        )
        .unwrap()
    });
    let tag = TAG.get_or_init(|| regex::Regex::new(r"(?s)\{\{.*?\}\}|\{%.*?%\}").unwrap());
    let mut out = vec![];
    // Only inside expression and statement tags: plain text ("rotate the secret (yearly)")
    // and comments are not calls.
    let starts = tag.find_iter(text).flat_map(|t| {
        call.find_iter(t.as_str())
            .map(move |m| t.start() + m.start())
    });
    for start in starts {
        let m = &text[start..];
        // Not `x.secret(`: only the global function.
        if text[..start].ends_with('.') {
            continue;
        }
        let (line, column) = line_col(text, start);
        match full.captures(m) {
            Some(c) => {
                let p = c.get(1).or(c.get(2)).map(|m| m.as_str().to_string());
                let k = c.get(3).or(c.get(4)).map(|m| m.as_str().to_string());
                out.push((p, k, (line, column)));
            }
            None => out.push((None, None, (line, column))),
        }
    }
    out
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, column)
}
