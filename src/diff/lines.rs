//! The two sides of a diff as lines, and the bounded line diff between them.

use similar::TextDiff;

/// How long one line diff may search for a minimal diff.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_millis(500);

/// A line of either side: its text without line ending.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    pub(super) body: &'a str,
    pub(super) cr: bool,
    /// The last line, without a final newline.
    pub(super) no_nl: bool,
}

pub(super) fn lines(s: &str) -> Vec<Line<'_>> {
    s.split_inclusive('\n')
        .map(|l| {
            let (l, no_nl) = match l.strip_suffix('\n') {
                Some(l) => (l, false),
                None => (l, true),
            };
            match l.strip_suffix('\r') {
                Some(b) => Line {
                    body: b,
                    cr: true,
                    no_nl,
                },
                None => Line {
                    body: l,
                    cr: false,
                    no_nl,
                },
            }
        })
        .collect()
}

pub(super) fn is_binary(b: &[u8]) -> bool {
    b.contains(&0) || std::str::from_utf8(b).is_err()
}

/// The line diff, bounded in time: past the deadline `similar` settles for a less minimal
/// (still correct) diff, so a large, wholly rewritten file cannot stall a run.
pub(crate) fn line_diff<'a>(old: &'a str, new: &'a str) -> TextDiff<'a, 'a, 'a, str> {
    TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .deadline(std::time::Instant::now() + DIFF_DEADLINE)
        .diff_lines(old, new)
}
