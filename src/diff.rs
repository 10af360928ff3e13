//! Content diffs for check mode. Every line still passes through the output sink's masker; the
//! taint-aware skeleton renderer for secret-bearing lines builds on this.

use similar::TextDiff;

/// Files larger than this are summarised, not diffed.
pub const MAX_DIFF_BYTES: usize = 256 * 1024;

fn is_binary(b: &[u8]) -> bool {
    b.contains(&0) || std::str::from_utf8(b).is_err()
}

/// A unified diff of `old` (None: the file does not exist) against `new`, or a one-line summary
/// for binary and oversized files.
pub fn unified(path: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    let old_bytes = old.unwrap_or_default();
    if is_binary(old_bytes) || is_binary(new) {
        return format!(
            "~ {path}: binary content differs ({} -> {} bytes)\n",
            old_bytes.len(),
            new.len()
        );
    }
    if old_bytes.len() > MAX_DIFF_BYTES || new.len() > MAX_DIFF_BYTES {
        return format!(
            "~ {path}: content differs (file over {} KiB, diff not shown)\n",
            MAX_DIFF_BYTES / 1024
        );
    }
    let (o, n) = (
        std::str::from_utf8(old_bytes).unwrap_or_default(),
        std::str::from_utf8(new).unwrap_or_default(),
    );
    let diff = TextDiff::from_lines(o, n);
    let from = if old.is_some() {
        format!("a{path}")
    } else {
        "/dev/null".to_string()
    };
    let mut out = diff
        .unified_diff()
        .context_radius(3)
        .header(&from, &format!("b{path}"))
        .to_string();
    if !out.ends_with('\n') && !out.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_lines_with_context() {
        let d = unified("/etc/x", Some(b"a\nb\nc\n"), b"a\nB\nc\n");
        assert!(d.contains("--- a/etc/x"));
        assert!(d.contains("-b\n+B\n"));
        assert!(d.contains("@@"));
    }

    #[test]
    fn summarises_binary() {
        let d = unified("/x", Some(b"\0\x01"), b"\0\x02");
        assert!(d.contains("binary"));
    }
}
