//! Check-mode diffs that show the structure of every change and never a secret value, old or
//! new.
//!
//! Lines of the new content that hold secret bytes (known from the renderer's taint record)
//! are shown as skeletons: the literal text with each hole as `***ENV_NAME***`. The target's
//! current content may hold secrets nobody knows any more (a rotated-out password), so when
//! the new content holds secrets, an old byte is shown only when it is provably not secret
//! (fail closed). A removed line is shown:
//! - as is, when it is identical to a literal (untainted) line of the new content;
//! - as a skeleton of the new content it fits (literal segments in order, holes as
//!   wildcards), each hole saying whether its value changed (compared in memory, adjacent
//!   holes as one, never printed);
//! - otherwise token by token: a word is shown only when it occurs in text known not to be
//!   secret (the new content outside its holes, the template's source), every other run
//!   prints as `‹old›` (`-connect = db1 5432 ‹old›`), symbols touching it included; current
//!   secret values in it print as `***ENV_NAME***`.
//!
//! Files without secret holes (plain copies) are shown as they are, except lines that look
//! like credentials, which are hidden on both sides. Binary, oversized and mostly secret files
//! are summarised. Everything still passes through the output masker.

mod lines;
mod old_line;
mod render;
mod skeleton;
pub mod taint;
mod tokens;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use similar::{DiffOp, DiffTag, TextDiff};

use crate::credentials::credential_lines;
use lines::{is_binary, line_diff, lines, Line};
use old_line::{NewSide, Old};
use skeleton::{skeletons, Seg, Skel};
use taint::Hole;
pub use tokens::{KnownText, OLD_TOKEN};

/// Files larger than this are summarised, not diffed.
pub const MAX_DIFF_BYTES: usize = 256 * 1024;
/// Above this many secret-bearing changed lines (and over half of the change), summarise.
const MOSTLY_SECRET_LINES: usize = 10;

pub const CREDENTIAL_LINE: &str = "<line hidden: looks like a credential>";

/// What is known about one secret hole of a line.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum HoleChange {
    /// No old value to compare with: the file or the line is new.
    New,
    /// The old value equals the new one.
    Unchanged,
    /// The old line at this place could not be compared (its layout changed, or the hole also
    /// covers literal text that changed): the value may or may not change.
    Unknown,
    /// The old value differs from the new one.
    Changed,
}

impl HoleChange {
    pub(crate) fn label(self) -> &'static str {
        match self {
            HoleChange::New => "new",
            HoleChange::Unchanged => "unchanged",
            HoleChange::Unknown => "may change",
            HoleChange::Changed => "changed",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HoleState {
    pub var: String,
    /// `Some(true)`: the value changes; `Some(false)`: it stays; `None`: see `state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
    pub state: HoleChange,
}

impl HoleState {
    pub(crate) fn new(var: &str, state: HoleChange) -> Self {
        HoleState {
            var: var.to_string(),
            changed: match state {
                HoleChange::Changed => Some(true),
                HoleChange::Unchanged => Some(false),
                _ => None,
            },
            state,
        }
    }
}

/// One variable per entry, in order of first appearance; repeated holes merged (the most
/// telling state wins: changed, then may change, then unchanged, then new).
pub(crate) fn merge_states(states: impl IntoIterator<Item = HoleState>) -> Vec<HoleState> {
    let mut out: Vec<HoleState> = vec![];
    for s in states {
        match out.iter_mut().find(|o| o.var == s.var) {
            Some(o) if s.state > o.state => *o = s,
            Some(_) => {}
            None => out.push(s),
        }
    }
    out
}

// serde's `skip_serializing_if` passes the field by reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffLine {
    /// " ", "-" or "+".
    pub op: &'static str,
    /// The line without its line ending.
    pub text: String,
    /// The line was rewritten (skeleton) or hidden because it holds secret content.
    pub masked: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holes: Vec<HoleState>,
    /// The line ends with `\r\n`.
    #[serde(skip_serializing_if = "is_false")]
    pub cr: bool,
    /// The last line of its side, without a final newline.
    #[serde(skip_serializing_if = "is_false")]
    pub no_newline_at_eof: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<DiffLine>,
}

/// A change of a file attribute (`mode`, `owner`, `group`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AttributeChange {
    pub attribute: String,
    /// `None` when the file does not exist yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    pub new: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FileDiff {
    pub path: String,
    /// Attribute changes, shown as header lines (`mode 0644 -> 0600`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attribute_changes: Vec<AttributeChange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hunks: Vec<Hunk>,
    /// Set instead of hunks for binary, oversized or mostly secret files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Secret variables whose value this change rotates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets_changed: Vec<String>,
    /// Secret variables the new content holds whose change could not be determined (a layout
    /// change, a summarised file); not in `secrets_changed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets_may_change: Vec<String>,
    /// The content holds secrets that could not be located or named: whether they change is
    /// unknown.
    #[serde(skip_serializing_if = "is_false")]
    pub secrets_unknown: bool,
}

/// Builds the diff of `old` (None: the file does not exist) against `new`.
/// `holes`: secret spans of `new`; `all_secret`: they could not be located, so the whole file
/// is treated as secret.
pub fn file_diff(
    path: &str,
    old: Option<&[u8]>,
    new: &[u8],
    holes: &[Hole],
    all_secret: bool,
) -> FileDiff {
    file_diff_knowing(path, old, new, holes, all_secret, &[])
}

/// [`file_diff`], where `known` (the template's source) is text known not to be secret, whose
/// tokens an old line may show besides those of the new content outside its holes.
pub fn file_diff_knowing(
    path: &str,
    old: Option<&[u8]>,
    new: &[u8],
    holes: &[Hole],
    all_secret: bool,
    known: &[&str],
) -> FileDiff {
    let mut fd = FileDiff {
        path: path.to_string(),
        ..Default::default()
    };
    let text = std::str::from_utf8(new).unwrap_or_default();
    // Holes that do not fit the content (never produced by `taint::holes`): trust none.
    let all_secret = all_secret
        || holes.iter().any(|h| {
            h.range.start > h.range.end
                || !text.is_char_boundary(h.range.start)
                || !text.is_char_boundary(h.range.end)
        });
    let old_bytes = old.unwrap_or_default();
    if let Some(summary) = summary_only(old_bytes, new, !holes.is_empty(), all_secret) {
        fd.summary = Some(summary);
        if old.is_some() {
            let names: BTreeSet<String> = holes.iter().map(|h| h.var.clone()).collect();
            fd.secrets_may_change = names.into_iter().collect();
            fd.secrets_unknown = all_secret;
        }
        return fd;
    }
    let o = std::str::from_utf8(old_bytes).unwrap_or_default();
    let sides = Sides::new(o, text, holes, known);
    let diff = line_diff(o, text);
    let (removed, plus) = sides.classify_removed(&diff);
    let states = sides.hole_states(&removed, plus, old.is_some());
    let (hunks, changed_lines, secret_lines) = sides.hunks(&diff, &removed, &states);
    fd.hunks = hunks;
    if old.is_some() {
        fd.secrets_may_change = states.may.into_iter().collect();
        fd.secrets_changed = states.changed.into_iter().collect();
    }
    if secret_lines > MOSTLY_SECRET_LINES && secret_lines * 2 > changed_lines {
        fd.summary = Some(format!(
            "{changed_lines} lines changed ({secret_lines} hold secrets)"
        ));
        fd.hunks.clear();
    }
    fd
}

/// The summary that replaces the hunks of a binary, oversized or unlocatably secret file.
fn summary_only(old: &[u8], new: &[u8], has_holes: bool, all_secret: bool) -> Option<String> {
    if is_binary(old) || is_binary(new) {
        return Some(if has_holes || all_secret {
            // The sizes would tell the secrets' lengths.
            "binary content differs".to_string()
        } else {
            format!(
                "binary content differs ({} -> {} bytes)",
                old.len(),
                new.len()
            )
        });
    }
    if old.len() > MAX_DIFF_BYTES || new.len() > MAX_DIFF_BYTES {
        return Some(format!(
            "content differs (over {} KiB, diff not shown)",
            MAX_DIFF_BYTES / 1024
        ));
    }
    all_secret.then(|| {
        "content differs (it holds secrets that could not be located, diff not shown)".to_string()
    })
}

/// Both sides of one text diff, split into lines, with what is known about each line.
struct Sides<'a> {
    old_lines: Vec<Line<'a>>,
    new_lines: Vec<Line<'a>>,
    skel: Vec<Option<Skel>>,
    old_cred: Vec<bool>,
    new_cred: Vec<bool>,
    /// The new content holds secret holes: removed lines are shown only when provably safe.
    secret_mode: bool,
    known: KnownText,
}

/// The per-hole states of the added lines, and the secrets the change rotates or may rotate.
struct States {
    /// Which new lines are added (`+`).
    plus: Vec<bool>,
    per_line: BTreeMap<usize, Vec<HoleState>>,
    changed: BTreeSet<String>,
    may: BTreeSet<String>,
}

impl<'a> Sides<'a> {
    fn new(old: &'a str, new: &'a str, holes: &[Hole], known: &[&str]) -> Self {
        let old_lines = lines(old);
        let new_lines = lines(new);
        let skel = skeletons(new, holes);
        let mut k = KnownText::default();
        for (line, s) in new_lines.iter().zip(&skel) {
            match s {
                None => k.add(line.body),
                Some(s) => s.segs.iter().for_each(|seg| {
                    if let Seg::Lit(t) = seg {
                        k.add(t);
                    }
                }),
            }
        }
        for t in known {
            k.add(t);
        }
        Sides {
            old_cred: credential_lines(old_lines.iter().map(|l| l.body)),
            new_cred: credential_lines(new_lines.iter().map(|l| l.body)),
            old_lines,
            new_lines,
            skel,
            secret_mode: !holes.is_empty(),
            known: k,
        }
    }

    /// Pass 1: how each removed line is shown (and which new lines it speaks for), and which
    /// new lines are added.
    fn classify_removed(
        &self,
        diff: &TextDiff<'_, '_, '_, str>,
    ) -> (BTreeMap<usize, Old>, Vec<bool>) {
        let side = NewSide {
            skel: &self.skel,
            literal: self
                .new_lines
                .iter()
                .enumerate()
                .filter(|(j, _)| self.skel[*j].is_none())
                .fold(HashMap::new(), |mut m, (j, l)| {
                    *m.entry(l.body).or_insert(false) |= self.new_cred[j];
                    m
                }),
            tainted: (0..self.new_lines.len())
                .filter(|&j| self.skel[j].is_some())
                .collect(),
            known: &self.known,
        };
        let mut removed = BTreeMap::new();
        let mut plus = vec![false; self.new_lines.len()];
        for op in diff.ops() {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            if tag == DiffTag::Equal {
                continue;
            }
            plus[new_range.clone()].iter_mut().for_each(|p| *p = true);
            for (rel, i) in old_range.enumerate() {
                let class = match (self.secret_mode, self.old_cred[i]) {
                    (false, true) => Old::Credential,
                    (false, false) => Old::Verbatim,
                    (true, cred) => side.classify(
                        self.old_lines[i],
                        cred,
                        new_range.clone(),
                        new_range.start + rel,
                    ),
                };
                removed.insert(i, class);
            }
        }
        (removed, plus)
    }

    /// The states of the holes of each added line: what the removed lines it replaces say,
    /// else `may change` (something was hidden) or `new`; a secret that changes somewhere
    /// changes everywhere it is written.
    fn hole_states(
        &self,
        removed: &BTreeMap<usize, Old>,
        plus: Vec<bool>,
        existed: bool,
    ) -> States {
        let any_hidden = removed
            .values()
            .any(|c| matches!(c, Old::Tokens(_) | Old::Credential));
        let mut said: BTreeMap<usize, Vec<HoleState>> = BTreeMap::new();
        for (j, states) in removed.values().filter_map(Old::speaks_for) {
            if plus[j] {
                said.entry(j).or_default().extend(states.iter().cloned());
            }
        }
        let mut new_states: BTreeMap<usize, Vec<HoleState>> = BTreeMap::new();
        for (j, s) in self.skel.iter().enumerate() {
            let Some(s) = s.as_ref().filter(|_| plus[j]) else {
                continue;
            };
            let states = match said.remove(&j) {
                Some(st) => merge_states(st),
                None if existed && any_hidden => s.states(HoleChange::Unknown),
                None => s.states(HoleChange::New),
            };
            new_states.insert(j, states);
        }
        let spoken: Vec<&HoleState> = removed
            .values()
            .filter_map(|c| c.speaks_for().map(|(_, s)| s))
            .flatten()
            .collect();
        let changed: BTreeSet<String> = spoken
            .iter()
            .copied()
            .chain(new_states.values().flatten())
            .filter(|s| s.state == HoleChange::Changed)
            .map(|s| s.var.clone())
            .collect();
        for s in new_states.values_mut().flatten() {
            if matches!(s.state, HoleChange::New | HoleChange::Unknown) && changed.contains(&s.var)
            {
                *s = HoleState::new(&s.var, HoleChange::Changed);
            }
        }
        let may = new_states
            .values()
            .flatten()
            .chain(spoken.iter().copied())
            .filter(|s| s.state == HoleChange::Unknown && !changed.contains(&s.var))
            .map(|s| s.var.clone())
            .collect();
        States {
            plus,
            per_line: new_states,
            changed,
            may,
        }
    }

    /// A line of the new side (context or added).
    fn new_line(&self, op: &'static str, j: usize, states: &States) -> DiffLine {
        let l = self.new_lines[j];
        match &self.skel[j] {
            Some(s) => DiffLine {
                op,
                text: s.text(),
                masked: true,
                holes: if op == "+" {
                    states.per_line.get(&j).cloned().unwrap_or_default()
                } else {
                    vec![]
                },
                cr: s.cr && !s.cr_in_hole,
                no_newline_at_eof: l.no_nl,
            },
            None if self.new_cred[j] => DiffLine::hidden(op, CREDENTIAL_LINE, l),
            None => DiffLine::verbatim(op, l),
        }
    }

    /// A removed line, as pass 1 decided.
    fn old_line(&self, i: usize, class: &Old, plus: &[bool]) -> DiffLine {
        let l = self.old_lines[i];
        match class {
            Old::Verbatim => DiffLine::verbatim("-", l),
            Old::Credential => DiffLine::hidden("-", CREDENTIAL_LINE, l),
            Old::Tokens(text) => DiffLine::of("-", text.clone(), true, l, l.cr),
            Old::Skeleton { j, states } => {
                let s = self.skel[*j].as_ref().expect("a skeleton line");
                DiffLine {
                    holes: if plus[*j] { vec![] } else { states.clone() },
                    ..DiffLine::of("-", s.text(), true, l, l.cr && !s.cr_in_hole)
                }
            }
            Old::Rewritten { j, text, states } => DiffLine {
                holes: if plus[*j] { vec![] } else { states.clone() },
                ..DiffLine::of("-", text.clone(), true, l, l.cr)
            },
        }
    }

    /// Pass 2: the hunks, with the number of changed lines and of those holding secrets.
    fn hunks(
        &self,
        diff: &TextDiff<'_, '_, '_, str>,
        removed: &BTreeMap<usize, Old>,
        states: &States,
    ) -> (Vec<Hunk>, usize, usize) {
        let (mut hunks, mut changed_lines, mut secret_lines) = (vec![], 0, 0);
        for group in diff.grouped_ops(3) {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let mut hunk = Hunk {
                old_start: first.old_range().start + 1,
                old_len: last.old_range().end - first.old_range().start,
                new_start: first.new_range().start + 1,
                new_len: last.new_range().end - first.new_range().start,
                lines: vec![],
            };
            for op in &group {
                if let DiffOp::Equal { new_index, len, .. } = *op {
                    hunk.lines.extend(
                        (new_index..new_index + len).map(|j| self.new_line(" ", j, states)),
                    );
                    continue;
                }
                let changes: Vec<DiffLine> = op
                    .old_range()
                    .map(|i| self.old_line(i, &removed[&i], &states.plus))
                    .chain(op.new_range().map(|j| self.new_line("+", j, states)))
                    .collect();
                changed_lines += changes.len();
                secret_lines += changes.iter().filter(|l| l.masked).count();
                hunk.lines.extend(changes);
            }
            hunks.push(hunk);
        }
        (hunks, changed_lines, secret_lines)
    }
}

impl DiffLine {
    fn of(op: &'static str, text: String, masked: bool, l: Line<'_>, cr: bool) -> DiffLine {
        DiffLine {
            op,
            text,
            masked,
            holes: vec![],
            cr,
            no_newline_at_eof: l.no_nl,
        }
    }

    fn verbatim(op: &'static str, l: Line<'_>) -> DiffLine {
        DiffLine::of(op, l.body.to_string(), false, l, l.cr)
    }

    fn hidden(op: &'static str, text: &str, l: Line<'_>) -> DiffLine {
        DiffLine::of(op, text.to_string(), true, l, false)
    }
}

impl FileDiff {
    /// A content change whose content may not be shown (`diff: false`, `--no-diff-content`).
    pub fn withheld(path: &str, existed: bool, holes: &[Hole], all_secret: bool) -> Self {
        let names: BTreeSet<String> = holes.iter().map(|h| h.var.clone()).collect();
        FileDiff {
            path: path.to_string(),
            summary: Some("content differs (content not shown: diff disabled)".to_string()),
            secrets_may_change: if existed {
                names.into_iter().collect()
            } else {
                vec![]
            },
            secrets_unknown: existed && all_secret,
            ..Default::default()
        }
    }

    /// A content change too large to diff (either side over [`MAX_DIFF_BYTES`]), decided
    /// without reading either side whole. `detail` (a copy's sizes and hashes; never given for
    /// secret-bearing content) follows the summary.
    pub fn oversized(
        path: &str,
        existed: bool,
        holes: &[Hole],
        all_secret: bool,
        detail: Option<&str>,
    ) -> Self {
        let mut summary = format!(
            "content differs (over {} KiB, diff not shown)",
            MAX_DIFF_BYTES / 1024
        );
        if let Some(d) = detail {
            summary.push_str(": ");
            summary.push_str(d);
        }
        FileDiff {
            summary: Some(summary),
            ..FileDiff::withheld(path, existed, holes, all_secret)
        }
    }

    /// A diff with no content change, only attribute changes (add them with
    /// `with_attribute_change`).
    pub fn attributes_only(path: &str) -> Self {
        FileDiff {
            path: path.to_string(),
            ..Default::default()
        }
    }

    /// Records that `attribute` (`mode`, `owner`, `group`) goes from `old` (`None`: the file
    /// is new) to `new`.
    #[must_use]
    pub fn with_attribute_change(mut self, attribute: &str, old: Option<&str>, new: &str) -> Self {
        self.attribute_changes.push(AttributeChange {
            attribute: attribute.to_string(),
            old: old.map(str::to_string),
            new: new.to_string(),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hole(text: &str, value: &str, var: &str) -> Hole {
        let s = text.find(value).unwrap();
        Hole::new(s..s + value.len(), var)
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
    fn layout_change_around_a_secret_is_hidden_and_not_guessed() {
        let new = "password: SAMEVALUE1\n";
        let h = [hole(new, "SAMEVALUE1", "ENV_P")];
        // The current value stands where the hole is, only the separator changed.
        let d = file_diff(
            "/c",
            Some(b"password = SAMEVALUE1\n"),
            new.as_bytes(),
            &h,
            false,
        );
        let t = d.render(false);
        assert!(!t.contains("SAMEVALUE1"), "{t}");
        assert!(t.contains("-password = ***ENV_P***\n"), "{t}");
        assert!(t.contains("(ENV_P: unchanged)"), "{t}");
        // The old value may have been longer, or is something else: not shown, not guessed.
        for old in [
            "password = SAMEVALUE1-OLDTAIL\n",
            "pw OTHERVALUE\n",
            "x = SAMEVALUE1 Zq9xK2mLp0\n",
        ] {
            let d = file_diff("/c", Some(old.as_bytes()), new.as_bytes(), &h, false);
            let t = d.render(false);
            assert!(
                !t.contains("VALUE") && !t.contains("OLDTAIL") && !t.contains("Zq9"),
                "{t}"
            );
            assert!(t.contains(OLD_TOKEN) || t.contains(CREDENTIAL_LINE), "{t}");
            assert!(t.contains("(ENV_P: may change)"), "{t}");
            assert!(d.secrets_changed.is_empty());
            assert_eq!(d.secrets_may_change, ["ENV_P"]);
        }
        let d = file_diff(
            "/c",
            Some(b"password: OTHERVALUE\n"),
            new.as_bytes(),
            &h,
            false,
        );
        assert!(d.render(false).contains("(ENV_P: changed)"));
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
            !t.contains("abcdef123456") && t.contains(CREDENTIAL_LINE),
            "{t}"
        );
    }

    #[test]
    fn an_old_line_is_matched_against_every_skeleton() {
        // A line added above the secret line: index pairing would compare the old secret
        // line with the comment.
        let new = "database:\n  # rotated\n  url: postgres://app:NEWPW@db/app\n";
        let d = file_diff(
            "/c",
            Some(b"database:\n  url: postgres://app:OLDPW@db/app\n"),
            new.as_bytes(),
            &[hole(new, "NEWPW", "ENV_DB")],
            false,
        );
        let t = d.render(false);
        assert!(!t.contains("OLDPW") && !t.contains("NEWPW"), "{t}");
        assert!(
            t.contains("-  url: postgres://app:***ENV_DB***@db/app\n"),
            "{t}"
        );
        assert!(t.contains("(ENV_DB: changed)"), "{t}");
    }

    #[test]
    fn unexplained_old_lines_are_hidden_in_secret_files() {
        let new = "a = 1\npw: NEWPW\n";
        let d = file_diff(
            "/c",
            Some(b"a = 1\nsomething Zq9xK2mLp0\nhost = db1\n"),
            new.as_bytes(),
            &[hole(new, "NEWPW", "ENV_P")],
            false,
        );
        let t = d.render(false);
        assert!(!t.contains("Zq9xK2mLp0") && !t.contains("db1"), "{t}");
        // An edit of a literal line shows only the tokens the new content has: the old value
        // may have been a secret written there by an earlier render.
        let new = "host = db2\npw: NEWPW\n";
        let d = file_diff(
            "/c",
            Some(b"host = db1\npw: NEWPW\n"),
            new.as_bytes(),
            &[hole(new, "NEWPW", "ENV_P")],
            false,
        );
        assert!(
            d.render(false)
                .contains("-host = \u{2039}old\u{203a}\n+host = db2\n"),
            "{}",
            d.render(false)
        );
        let d = file_diff(
            "/c",
            Some(b"host = Zq9xK2mLp0\npw: NEWPW\n"),
            new.as_bytes(),
            &[hole(new, "NEWPW", "ENV_P")],
            false,
        );
        assert!(!d.render(false).contains("Zq9xK2mLp0"));
    }

    #[test]
    fn adjacent_holes_are_compared_as_one() {
        let new = "d=PPPPQQQ\n";
        let holes = [Hole::new(2..6, "ENV_P"), Hole::new(6..9, "ENV_Q")];
        let d = file_diff("/c", Some(b"d=PPPPXQQ\n"), new.as_bytes(), &holes, false);
        let t = d.render(false);
        assert!(t.contains("(ENV_P: changed, ENV_Q: changed)"), "{t}");
        let d = file_diff("/c", Some(b"d=PPPPQQQ\nx\n"), new.as_bytes(), &holes, false);
        assert!(d.secrets_changed.is_empty(), "{d:?}");
    }

    #[test]
    fn a_repeated_secret_is_noted_once() {
        let new = "NEW a NEW\n";
        let holes = [Hole::new(0..3, "ENV_P"), Hole::new(6..9, "ENV_P")];
        let t = file_diff("/c", Some(b"OLD a OLD\n"), new.as_bytes(), &holes, false).render(false);
        assert!(
            t.contains("+***ENV_P*** a ***ENV_P***   (ENV_P: changed)\n"),
            "{t}"
        );
    }

    #[test]
    fn line_endings_are_visible() {
        let new = "a = 1\r\npassword = NEW\r\n";
        let holes = [hole(new, "NEW", "ENV_P")];
        let t = file_diff(
            "/c",
            Some(b"a = 1\r\npassword = OLD\r\n"),
            new.as_bytes(),
            &holes,
            false,
        )
        .render(false);
        assert!(!t.contains('\r'), "{t:?}");
        assert!(
            t.contains("+password = ***ENV_P***\u{240d}   (ENV_P: changed)"),
            "{t}"
        );
        let t = file_diff("/c", Some(b"a\nb"), b"a\nb\n", &[], false).render(false);
        assert!(t.contains("-b\n\\ No newline at end of file\n+b\n"), "{t}");
        let t = file_diff("/c", Some(b"a\n"), b"a\r\n", &[], false).render(false);
        assert!(t.contains("-a\n+a\u{240d}\n"), "{t}");
    }

    #[test]
    fn plain_files_hide_credentials_on_both_sides() {
        let old = "-----BEGIN PRIVATE KEY-----\nOLDKEYBODY\n-----END PRIVATE KEY-----\nname = x\n";
        let new = "-----BEGIN PRIVATE KEY-----\nNEWKEYBODY\n-----END PRIVATE KEY-----\nname = y\n";
        let t = file_diff("/k", Some(old.as_bytes()), new.as_bytes(), &[], false).render(false);
        assert!(!t.contains("KEYBODY") && !t.contains("BEGIN"), "{t}");
        assert!(t.contains("-name = x\n+name = y\n"), "{t}");
    }

    #[test]
    fn summaries_of_secret_files_tell_no_size() {
        let new = "password = NEWSECRET\n";
        let d = file_diff(
            "/b",
            Some(b"\x00\x01"),
            new.as_bytes(),
            &[hole(new, "NEWSECRET", "ENV_P")],
            false,
        );
        assert_eq!(d.summary.as_deref(), Some("binary content differs"));
        assert_eq!(d.secrets_may_change, ["ENV_P"]);
        let d = file_diff("/b", Some(b"\x00\x01"), b"abc", &[], false);
        assert_eq!(
            d.summary.as_deref(),
            Some("binary content differs (2 -> 3 bytes)")
        );
    }

    #[test]
    fn attribute_changes_render_as_header_lines() {
        let d = FileDiff::attributes_only("/etc/x")
            .with_attribute_change("mode", Some("0644"), "0600")
            .with_attribute_change("owner", Some("root"), "app");
        assert_eq!(
            d.render(false),
            "~ /etc/x: mode 0644 -> 0600, owner root -> app\n"
        );
        let mut d = file_diff("/etc/x", Some(b"a\n"), b"b\n", &[], false);
        d = d.with_attribute_change("mode", Some("0644"), "0600");
        assert!(d
            .render(false)
            .starts_with("--- a/etc/x\n+++ b/etc/x\nmode 0644 -> 0600\n@@"));
        let j = serde_json::to_string(&d).unwrap();
        assert!(
            j.contains(r#""attribute_changes":[{"attribute":"mode","old":"0644","new":"0600"}]"#),
            "{j}"
        );
    }

    #[test]
    fn mostly_secret_files_are_summarised() {
        let pem: String = (0..20).fold(String::new(), |mut s, i| {
            s.push_str(&format!("KEYLINE{i:02}xxxxxxxxxxxxxxxx\n"));
            s
        });
        let d = file_diff(
            "/k",
            None,
            pem.as_bytes(),
            &[Hole::new(0..pem.len() - 1, "ENV_KEY")],
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
