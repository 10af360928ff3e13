//! Check-mode diffs that show the structure of every change and never a secret value, old or
//! new. Lines of the new content that hold secret bytes (known from the renderer's taint
//! record) are shown as skeletons — the literal text with each hole as `***ENV_NAME***`. An old
//! line paired with such a line is matched against the skeleton (holes as wildcards): if it
//! fits, it is shown as the same skeleton, and each hole says whether its value changed
//! (compared in memory, never printed); if not, it is hidden. Removed lines that look like they
//! held a secret are hidden too. Everything still passes through the output masker.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;
use similar::{DiffOp, TextDiff};

use crate::taint::Hole;

/// Files larger than this are summarised, not diffed.
pub const MAX_DIFF_BYTES: usize = 256 * 1024;
/// Above this many secret-bearing changed lines (and over half of the change), summarise.
const MOSTLY_SECRET_LINES: usize = 10;

pub const HIDDEN_LINE: &str = "<line hidden: held secret content>";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HoleState {
    pub var: String,
    /// `Some(true)`: the value changes; `Some(false)`: it stays; `None`: unknown (new line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffLine {
    /// " ", "-" or "+".
    pub op: &'static str,
    pub text: String,
    /// The line was rewritten (skeleton) or hidden because it holds secret content.
    pub masked: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holes: Vec<HoleState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FileDiff {
    pub path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hunks: Vec<Hunk>,
    /// Set instead of hunks for binary, oversized or mostly secret files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Secret variables whose value this change rotates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets_changed: Vec<String>,
}

/// A line of the new content, split into literal text and secret holes.
#[derive(Debug, Clone)]
enum Seg {
    Lit(String),
    Hole { var: String, value: String },
}

fn is_binary(b: &[u8]) -> bool {
    b.contains(&0) || std::str::from_utf8(b).is_err()
}

fn secret_looking(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|auth)\w*\s*[:=]|-----BEGIN [A-Z ]*PRIVATE KEY-----")
            .unwrap()
    })
    .is_match(line)
}

/// Splits the new content's lines into segments, using the holes' byte ranges.
fn skeletons(new: &str, holes: &[Hole]) -> Vec<Option<Vec<Seg>>> {
    let mut out = vec![];
    let mut start = 0;
    for line in new.split_inclusive('\n') {
        let end = start + line.len();
        let body_end = start + line.trim_end_matches('\n').len();
        let mut segs = vec![];
        let mut pos = start;
        let mut tainted = false;
        for h in holes
            .iter()
            .filter(|h| h.range.start < end.max(start + 1) && h.range.end > start)
        {
            let hs = h.range.start.max(start);
            let he = h.range.end.min(body_end);
            if hs > pos {
                segs.push(Seg::Lit(new[pos..hs.min(body_end)].to_string()));
            }
            if he > hs || h.range.start < start {
                segs.push(Seg::Hole {
                    var: h.var.clone(),
                    value: new[hs..he.max(hs)].to_string(),
                });
                tainted = true;
            }
            pos = he.max(pos);
        }
        if pos < body_end {
            segs.push(Seg::Lit(new[pos..body_end].to_string()));
        }
        out.push(tainted.then_some(segs));
        start = end;
    }
    out
}

fn skeleton_text(segs: &[Seg]) -> String {
    segs.iter()
        .map(|s| match s {
            Seg::Lit(l) => l.clone(),
            Seg::Hole { var, .. } => format!("***{var}***"),
        })
        .collect()
}

/// Matches an old line against a skeleton; returns the old values of the holes.
fn match_skeleton(old: &str, segs: &[Seg]) -> Option<Vec<String>> {
    let mut pat = String::from("^");
    for s in segs {
        match s {
            Seg::Lit(l) => pat.push_str(&regex::escape(l)),
            Seg::Hole { .. } => pat.push_str("(.*?)"),
        }
    }
    pat.push('$');
    let re = Regex::new(&pat).ok()?;
    let caps = re.captures(old)?;
    Some(
        caps.iter()
            .skip(1)
            .map(|c| c.map_or(String::new(), |m| m.as_str().to_string()))
            .collect(),
    )
}

fn strip_nl(s: &str) -> &str {
    s.strip_suffix('\n').unwrap_or(s)
}

/// Builds the diff of `old` (None: the file does not exist) against `new`.
/// `holes`: secret spans of `new`; `None` with `all_secret` means they could not be located,
/// so the whole file is treated as secret.
pub fn file_diff(
    path: &str,
    old: Option<&[u8]>,
    new: &[u8],
    holes: &[Hole],
    all_secret: bool,
) -> FileDiff {
    let mut fd = FileDiff {
        path: path.to_string(),
        ..Default::default()
    };
    let old_bytes = old.unwrap_or_default();
    if is_binary(old_bytes) || is_binary(new) {
        fd.summary = Some(format!(
            "binary content differs ({} -> {} bytes)",
            old_bytes.len(),
            new.len()
        ));
        return fd;
    }
    if old_bytes.len() > MAX_DIFF_BYTES || new.len() > MAX_DIFF_BYTES {
        fd.summary = Some(format!(
            "content differs (over {} KiB, diff not shown)",
            MAX_DIFF_BYTES / 1024
        ));
        return fd;
    }
    let o = std::str::from_utf8(old_bytes).unwrap_or_default();
    let n = std::str::from_utf8(new).unwrap_or_default();
    let old_lines: Vec<&str> = o.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = n.split_inclusive('\n').collect();
    let skel = if all_secret {
        new_lines
            .iter()
            .map(|_| {
                Some(vec![Seg::Hole {
                    var: "secret".into(),
                    value: String::new(),
                }])
            })
            .collect()
    } else {
        skeletons(n, holes)
    };
    let diff = TextDiff::from_lines(o, n);
    let mut changed_vars = BTreeSet::new();
    let (mut changed_lines, mut secret_lines) = (0usize, 0usize);

    let old_line = |i: usize, paired: Option<&Vec<Seg>>, states: &mut Vec<HoleState>| -> DiffLine {
        let text = strip_nl(old_lines[i]);
        if let Some(segs) = paired {
            if let Some(old_vals) = match_skeleton(text, segs) {
                let mut k = 0;
                for s in segs {
                    if let Seg::Hole { var, value } = s {
                        let changed = old_vals.get(k).is_none_or(|v| v != value);
                        k += 1;
                        states.push(HoleState {
                            var: var.clone(),
                            changed: Some(changed),
                        });
                    }
                }
                return DiffLine {
                    op: "-",
                    text: skeleton_text(segs),
                    masked: true,
                    holes: vec![],
                };
            }
            // The literal text changed: if every current value still stands in the old line,
            // the secrets did not change, and masking them leaves nothing secret we know of.
            let values: Vec<(&str, &str)> = segs
                .iter()
                .filter_map(|s| match s {
                    Seg::Hole { var, value } if !value.is_empty() => {
                        Some((var.as_str(), value.as_str()))
                    }
                    _ => None,
                })
                .collect();
            if !values.is_empty() && values.iter().all(|(_, v)| text.contains(v)) {
                let mut shown = text.to_string();
                for (var, v) in &values {
                    shown = shown.replace(v, &format!("***{var}***"));
                    states.push(HoleState {
                        var: var.to_string(),
                        changed: Some(false),
                    });
                }
                return DiffLine {
                    op: "-",
                    text: shown,
                    masked: true,
                    holes: vec![],
                };
            }
            for s in segs {
                if let Seg::Hole { var, .. } = s {
                    states.push(HoleState {
                        var: var.clone(),
                        changed: Some(true),
                    });
                }
            }
            return DiffLine {
                op: "-",
                text: HIDDEN_LINE.into(),
                masked: true,
                holes: vec![],
            };
        }
        if secret_looking(text) {
            DiffLine {
                op: "-",
                text: HIDDEN_LINE.into(),
                masked: true,
                holes: vec![],
            }
        } else {
            DiffLine {
                op: "-",
                text: text.to_string(),
                masked: false,
                holes: vec![],
            }
        }
    };
    let new_line = |j: usize, states: Vec<HoleState>| -> DiffLine {
        match &skel[j] {
            Some(segs) => {
                let holes = if states.is_empty() {
                    segs.iter()
                        .filter_map(|s| match s {
                            Seg::Hole { var, .. } => Some(HoleState {
                                var: var.clone(),
                                changed: None,
                            }),
                            _ => None,
                        })
                        .collect()
                } else {
                    states
                };
                DiffLine {
                    op: "+",
                    text: skeleton_text(segs),
                    masked: true,
                    holes,
                }
            }
            None => DiffLine {
                op: "+",
                text: strip_nl(new_lines[j]).to_string(),
                masked: false,
                holes: vec![],
            },
        }
    };

    for group in diff.grouped_ops(3) {
        let (first, last) = (group.first().unwrap(), group.last().unwrap());
        let mut hunk = Hunk {
            old_start: first.old_range().start + 1,
            old_len: last.old_range().end - first.old_range().start,
            new_start: first.new_range().start + 1,
            new_len: last.new_range().end - first.new_range().start,
            lines: vec![],
        };
        for op in &group {
            match *op {
                DiffOp::Equal { new_index, len, .. } => {
                    for j in new_index..new_index + len {
                        let line = match &skel[j] {
                            Some(segs) => DiffLine {
                                op: " ",
                                text: skeleton_text(segs),
                                masked: true,
                                holes: vec![],
                            },
                            None => DiffLine {
                                op: " ",
                                text: strip_nl(new_lines[j]).to_string(),
                                masked: false,
                                holes: vec![],
                            },
                        };
                        hunk.lines.push(line);
                    }
                }
                DiffOp::Delete {
                    old_index, old_len, ..
                } => {
                    for i in old_index..old_index + old_len {
                        changed_lines += 1;
                        let l = old_line(i, None, &mut vec![]);
                        secret_lines += usize::from(l.masked);
                        hunk.lines.push(l);
                    }
                }
                DiffOp::Insert {
                    new_index, new_len, ..
                } => {
                    for j in new_index..new_index + new_len {
                        changed_lines += 1;
                        let l = new_line(j, vec![]);
                        secret_lines += usize::from(l.masked);
                        if old.is_some() {
                            changed_vars.extend(l.holes.iter().map(|h| h.var.clone()));
                        }
                        hunk.lines.push(l);
                    }
                }
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => {
                    let mut plus = vec![];
                    let mut minus = vec![];
                    for k in 0..old_len.max(new_len) {
                        let mut states = vec![];
                        if k < old_len {
                            let paired = (k < new_len)
                                .then(|| skel[new_index + k].as_ref())
                                .flatten();
                            minus.push(old_line(old_index + k, paired, &mut states));
                        }
                        if k < new_len {
                            plus.push(new_line(new_index + k, states));
                        }
                    }
                    for l in minus.into_iter().chain(plus) {
                        changed_lines += 1;
                        secret_lines += usize::from(l.masked);
                        changed_vars.extend(
                            l.holes
                                .iter()
                                .filter(|h| h.changed != Some(false))
                                .map(|h| h.var.clone()),
                        );
                        hunk.lines.push(l);
                    }
                }
            }
        }
        fd.hunks.push(hunk);
    }
    fd.secrets_changed = changed_vars.into_iter().collect();
    if secret_lines > MOSTLY_SECRET_LINES && secret_lines * 2 > changed_lines {
        fd.summary = Some(format!(
            "{changed_lines} lines changed ({secret_lines} hold secrets)"
        ));
        fd.hunks.clear();
    }
    fd
}

impl FileDiff {
    /// Unified-diff text for people.
    pub fn render(&self, created: bool) -> String {
        if let Some(s) = &self.summary {
            return format!("~ {}: {s}\n", self.path);
        }
        let from = if created {
            "/dev/null".to_string()
        } else {
            format!("a{}", self.path)
        };
        let mut out = format!("--- {from}\n+++ b{}\n", self.path);
        for h in &self.hunks {
            out.push_str(&format!(
                "@@ -{},{} +{},{} @@\n",
                h.old_start, h.old_len, h.new_start, h.new_len
            ));
            for l in &h.lines {
                out.push_str(l.op);
                out.push_str(&l.text);
                if !l.holes.is_empty() {
                    let notes: Vec<String> = l
                        .holes
                        .iter()
                        .map(|h| match h.changed {
                            Some(true) => format!("{}: changed", h.var),
                            Some(false) => format!("{}: unchanged", h.var),
                            None => format!("{}: new", h.var),
                        })
                        .collect();
                    out.push_str(&format!("   ({})", notes.join(", ")));
                }
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hole(text: &str, value: &str, var: &str) -> Hole {
        let s = text.find(value).unwrap();
        Hole {
            range: s..s + value.len(),
            var: var.into(),
        }
    }

    #[test]
    fn plain_change_with_context() {
        let d = file_diff("/etc/x", Some(b"a\nb\nc\n"), b"a\nB\nc\n", &[], false);
        let t = d.render(false);
        assert!(
            t.contains("--- a/etc/x") && t.contains("-b\n+B\n") && t.contains("@@ -1,3 +1,3 @@"),
            "{t}"
        );
    }

    #[test]
    fn rotated_secret_shows_neither_value() {
        let new = "[db]\npassword = NEWVALUE123\nhost = h\n";
        let d = file_diff(
            "/c",
            Some(b"[db]\npassword = OLDVALUE999\nhost = h\n"),
            new.as_bytes(),
            &[hole(new, "NEWVALUE123", "ENV_DB")],
            false,
        );
        let t = d.render(false);
        assert!(
            !t.contains("NEWVALUE123") && !t.contains("OLDVALUE999"),
            "{t}"
        );
        assert!(t.contains("-password = ***ENV_DB***\n"), "{t}");
        assert!(
            t.contains("+password = ***ENV_DB***   (ENV_DB: changed)"),
            "{t}"
        );
        assert_eq!(d.secrets_changed, ["ENV_DB"]);
    }

    #[test]
    fn layout_change_around_an_unchanged_secret() {
        let new = "password: SAMEVALUE1\n";
        let d = file_diff(
            "/c",
            Some(b"password = SAMEVALUE1\n"),
            new.as_bytes(),
            &[hole(new, "SAMEVALUE1", "ENV_P")],
            false,
        );
        let t = d.render(false);
        assert!(!t.contains("SAMEVALUE1"), "{t}");
        assert!(t.contains("-password = ***ENV_P***\n"), "{t}");
        assert!(t.contains("(ENV_P: unchanged)"), "{t}");
        let d = file_diff(
            "/c",
            Some(b"password: OTHERVALUE\n"),
            new.as_bytes(),
            &[hole(new, "SAMEVALUE1", "ENV_P")],
            false,
        );
        assert!(d.render(false).contains("(ENV_P: changed)"));
        let d = file_diff(
            "/c",
            Some(b"pw OTHERVALUE\n"),
            new.as_bytes(),
            &[hole(new, "SAMEVALUE1", "ENV_P")],
            false,
        );
        let t = d.render(false);
        assert!(t.contains(HIDDEN_LINE) && !t.contains("OTHERVALUE"), "{t}");
    }

    #[test]
    fn deleted_secret_line_is_hidden() {
        let d = file_diff(
            "/c",
            Some(b"a\ntoken = abcdef123456\nb\n"),
            b"a\nb\n",
            &[],
            false,
        );
        let t = d.render(false);
        assert!(
            !t.contains("abcdef123456") && t.contains(HIDDEN_LINE),
            "{t}"
        );
    }

    #[test]
    fn mostly_secret_files_are_summarised() {
        let pem: String = (0..20)
            .map(|i| format!("KEYLINE{i:02}xxxxxxxxxxxxxxxx\n"))
            .collect();
        let d = file_diff(
            "/k",
            None,
            pem.as_bytes(),
            &[Hole {
                range: 0..pem.len() - 1,
                var: "ENV_KEY".into(),
            }],
            false,
        );
        assert!(d
            .summary
            .as_deref()
            .unwrap()
            .contains("20 lines changed (20 hold secrets)"));
        assert!(!d.render(true).contains("KEYLINE"));
    }
}
