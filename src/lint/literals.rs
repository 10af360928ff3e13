//! Hard-coded secrets in files: every playbook, role and inventory file is scanned as raw text
//! (whether it parses or not) with the one credential detector, [`crate::credentials`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Report;
use crate::error::Location;

const HINT_SECRET: &str = "move the value to the environment and use it from a template as ENV_NAME; or add `# jetlike:allow-secret` to the line if it is not a secret";
const HINT_ENTROPY: &str =
    "if it is a secret, move it to the environment; otherwise add `# jetlike:allow-secret`";

/// Secret-looking literals in a text file. Never reports the value: at most a short prefix.
pub fn scan_text(path: &Path, text: &str, report: &mut Report) {
    for (i, line) in text.lines().enumerate() {
        for h in crate::credentials::scan_line(line) {
            let shown = match &h.prefix {
                Some(p) => format!("starts with {p:?}…"),
                None => "value not shown".to_string(),
            };
            let column = line[..h.start].chars().count() + 1;
            let at = Location::new(path, i + 1, column);
            if h.code == "high-entropy-string" {
                report.warn(
                    h.code,
                    format!("{} ({shown})", h.kind),
                    at,
                    HINT_ENTROPY.into(),
                );
            } else {
                report.error(
                    h.code,
                    format!("{} found ({shown})", h.kind),
                    at,
                    HINT_SECRET.into(),
                );
            }
        }
    }
}

/// Files larger than this are not scanned (they are not hand-written configuration).
const SCAN_LIMIT: u64 = 4 << 20;

pub(super) fn scan_file(path: &Path, report: &mut Report, seen: &mut BTreeSet<PathBuf>) {
    if !seen.insert(path.to_path_buf()) {
        return;
    }
    // Files that are not regular, or too large, are not scanned (the loaders report those
    // that the project uses).
    if let Ok(bytes) = crate::input_file::read_bytes_limited(path, SCAN_LIMIT) {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            scan_text(path, text, report);
        }
    }
}

/// Every file under `dir` (a role: tasks, handlers, defaults, vars, templates, files...).
pub(super) fn scan_tree(
    dir: &Path,
    report: &mut Report,
    seen: &mut BTreeSet<PathBuf>,
    depth: usize,
) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if depth < 8 {
                scan_tree(&p, report, seen, depth + 1);
            }
        } else {
            scan_file(&p, report, seen);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        let mut r = Report::default();
        scan_text(Path::new("x"), text, &mut r);
        r.findings.iter().map(|f| f.message.clone()).collect()
    }

    #[test]
    fn detects_well_known_tokens_without_printing_them() {
        let cases = [
            "key: AKIAIOSFODNN7EXAMPLE",
            "t: ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "-----BEGIN RSA PRIVATE KEY-----",
            "slack: xoxb-123456789012-abcdefghij",
            "stripe: sk_live_abcdefghijklmnop1234",
            "password: hunter2hunter2",
            "db_password: hunter2hunter2",
        ];
        for c in cases {
            let k = messages(c);
            assert_eq!(k.len(), 1, "{c}: {k:?}");
            assert!(!k[0].contains(&c[c.len() - 8..]), "value printed: {k:?}");
        }
        assert!(messages("password: \"{{ENV_DB}}\"").is_empty());
        assert!(messages("password: hunter2hunter2 # jetlike:allow-secret").is_empty());
        assert!(messages("name: demo-app").is_empty());
        assert_eq!(messages("x: q8Zr2LmV9pXw4TkB7nYs3HcJ6dFa").len(), 1);
        // A 4-character value would be its own prefix: below 8 characters nothing is shown.
        for short in ["password: s3cr", "password: s3cr3t1"] {
            let m = messages(short);
            assert_eq!(m.len(), 1, "{m:?}");
            assert!(
                m[0].contains("value not shown") && !m[0].contains("s3cr"),
                "{m:?}"
            );
        }
    }
}
