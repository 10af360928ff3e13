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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use similar::{DiffOp, DiffTag, TextDiff};

use crate::credentials::credential_lines;
use crate::taint::Hole;

/// Files larger than this are summarised, not diffed.
pub const MAX_DIFF_BYTES: usize = 256 * 1024;
/// Above this many secret-bearing changed lines (and over half of the change), summarise.
const MOSTLY_SECRET_LINES: usize = 10;
/// How many skeletons inside, and how many outside, its own change block a removed line is
/// tried against (nearest first).
const FAR_CANDIDATES: usize = 256;
/// How many lines of its block a removed line is tried against as an edit (nearest first).
const NEAR_CANDIDATES: usize = 16;
/// How long one line diff may search for a minimal diff.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_millis(500);

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
    fn label(self) -> &'static str {
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
    fn new(var: &str, state: HoleChange) -> Self {
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
fn merge_states(states: impl IntoIterator<Item = HoleState>) -> Vec<HoleState> {
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

/// A line of the new content, split into literal text and secret holes.
#[derive(Debug, Clone)]
enum Seg {
    Lit(String),
    Hole {
        var: String,
        value: String,
        approximate: bool,
    },
}

/// A secret-bearing line of the new content.
#[derive(Debug, Clone)]
struct Skel {
    segs: Vec<Seg>,
    /// The line ends with `\r\n`; `cr_in_hole`: that `\r` came from a secret.
    cr: bool,
    cr_in_hole: bool,
    /// The literal text between holes; `groups[k]` (indices into `segs`) are the holes
    /// between `lits[k]` and `lits[k + 1]`. Adjacent holes form one group: an old value
    /// cannot be split between them.
    lits: Vec<String>,
    groups: Vec<Vec<usize>>,
}

impl Skel {
    fn new(segs: Vec<Seg>, cr: bool, cr_in_hole: bool) -> Self {
        let mut lits = vec![String::new()];
        let mut groups: Vec<Vec<usize>> = vec![];
        let mut in_group = false;
        for (k, s) in segs.iter().enumerate() {
            match s {
                Seg::Lit(l) if !l.is_empty() => {
                    if in_group {
                        lits.push(String::new());
                        in_group = false;
                    }
                    lits.last_mut().unwrap().push_str(l);
                }
                Seg::Lit(_) => {}
                Seg::Hole { .. } => {
                    if !in_group {
                        groups.push(vec![]);
                        in_group = true;
                    }
                    groups.last_mut().unwrap().push(k);
                }
            }
        }
        if in_group {
            lits.push(String::new());
        }
        Skel {
            segs,
            cr,
            cr_in_hole,
            lits,
            groups,
        }
    }

    fn text(&self) -> String {
        self.segs
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => l.clone(),
                Seg::Hole { var, .. } => format!("***{var}***"),
            })
            .collect()
    }

    fn has_literal(&self) -> bool {
        self.lits.iter().any(|l| !l.is_empty())
    }

    /// The old values of the groups, if `old` fits (literals in order, groups lazy).
    fn captures<'o>(&self, old: &'o str) -> Option<Vec<&'o str>> {
        let (first, last) = (&self.lits[0], self.lits.last().unwrap());
        if self.groups.is_empty()
            || old.len() < first.len() + last.len()
            || !old.starts_with(first.as_str())
            || !old.ends_with(last.as_str())
        {
            return None;
        }
        let limit = old.len() - last.len();
        let mut pos = first.len();
        let mut caps = vec![];
        for lit in &self.lits[1..self.lits.len() - 1] {
            let i = old[pos..limit].find(lit.as_str())?;
            caps.push(&old[pos..pos + i]);
            pos += i + lit.len();
        }
        caps.push(&old[pos..limit]);
        Some(caps)
    }

    /// Matches an old line (without line ending) against the skeleton: the per-hole states.
    fn fit(&self, old: &str, old_cr: bool) -> Option<Vec<HoleState>> {
        let caps = self.captures(old)?;
        let ends_in_hole = matches!(self.segs.last(), Some(Seg::Hole { .. }));
        let mut states = vec![];
        for (k, (group, old_value)) in self.groups.iter().zip(caps).enumerate() {
            let mut new_value = String::new();
            let mut approximate = false;
            for s in group.iter().map(|&i| &self.segs[i]) {
                if let Seg::Hole {
                    value,
                    approximate: a,
                    ..
                } = s
                {
                    new_value.push_str(value);
                    approximate |= a;
                }
            }
            let mut old_value = old_value.to_string();
            if self.cr_in_hole && ends_in_hole && k + 1 == self.groups.len() {
                new_value.push('\r');
                if old_cr {
                    old_value.push('\r');
                }
            }
            let state = if old_value == new_value {
                HoleChange::Unchanged
            } else if approximate {
                HoleChange::Unknown
            } else {
                HoleChange::Changed
            };
            for s in group.iter().map(|&i| &self.segs[i]) {
                if let Seg::Hole { var, .. } = s {
                    states.push(HoleState::new(var, state));
                }
            }
        }
        Some(merge_states(states))
    }

    /// An old line that holds every current secret value of this skeleton where its holes
    /// are, and otherwise differs from it only by small, plain edits away from the holes
    /// (`password = <current> # db1` for `password = ***P*** # db2`): the old line with the
    /// values masked, and every hole unchanged. A changed span touching a value is refused:
    /// the old value may have been longer (`<current>-OLDTAIL`).
    fn near_fit(&self, old: &str, known: &KnownText) -> Option<(String, Vec<HoleState>)> {
        let mut values: Vec<(&str, &str)> = vec![];
        for s in &self.segs {
            if let Seg::Hole {
                var,
                value,
                approximate,
            } = s
            {
                if *approximate || value.chars().count() < 4 || !old.contains(value.as_str()) {
                    return None;
                }
                values.push((value, var));
            }
        }
        values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        let token = |var: &str| format!("\u{E000}{var}\u{E001}");
        let (mut old_toks, mut shown, mut rest) = (vec![], String::new(), old);
        loop {
            let next = values
                .iter()
                .filter_map(|(v, var)| rest.find(v).map(|i| (i, v.len(), *var)))
                .min_by_key(|&(i, len, _)| (i, std::cmp::Reverse(len)));
            let Some((i, len, var)) = next else {
                old_toks.extend(tokens(rest).into_iter().map(str::to_string));
                shown.push_str(&tokenwise(rest, known, false).0);
                break;
            };
            old_toks.extend(tokens(&rest[..i]).into_iter().map(str::to_string));
            shown.push_str(&tokenwise(&rest[..i], known, false).0);
            old_toks.push(token(var));
            shown.push_str(&format!("***{var}***"));
            rest = &rest[i + len..];
        }
        let mut new_toks = vec![];
        for s in &self.segs {
            match s {
                Seg::Lit(l) => new_toks.extend(tokens(l).into_iter().map(str::to_string)),
                Seg::Hole { var, .. } => new_toks.push(token(var)),
            }
        }
        let is_hole = |t: &str| t.starts_with('\u{E000}');
        let mut equal = vec![false; old_toks.len()];
        let (mut shared, mut matched) = (false, 0);
        for op in similar::capture_diff_slices(similar::Algorithm::Myers, &old_toks, &new_toks) {
            let (tag, r, _) = op.as_tag_tuple();
            match tag {
                DiffTag::Equal => {
                    for k in r {
                        equal[k] = true;
                        matched += usize::from(is_hole(&old_toks[k]));
                        shared |= old_toks[k].chars().any(char::is_alphanumeric)
                            && !is_hole(&old_toks[k]);
                    }
                }
                // What else differs is shown token by token (`tokenwise`).
                DiffTag::Delete | DiffTag::Replace | DiffTag::Insert => {}
            }
        }
        let holes_in_old = old_toks.iter().filter(|t| is_hole(t)).count();
        let neighbours_equal = (0..old_toks.len())
            .filter(|&k| is_hole(&old_toks[k]))
            .all(|k| (k == 0 || equal[k - 1]) && (k + 1 == old_toks.len() || equal[k + 1]));
        (shared && matched == values.len() && holes_in_old == matched && neighbours_equal)
            .then(|| (shown, self.states(HoleChange::Unchanged)))
    }

    fn states(&self, state: HoleChange) -> Vec<HoleState> {
        merge_states(self.segs.iter().filter_map(|s| match s {
            Seg::Hole { var, .. } => Some(HoleState::new(var, state)),
            Seg::Lit(_) => None,
        }))
    }
}

/// A line of either side: its text without line ending.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    body: &'a str,
    cr: bool,
    /// The last line, without a final newline.
    no_nl: bool,
}

fn lines(s: &str) -> Vec<Line<'_>> {
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

fn is_binary(b: &[u8]) -> bool {
    b.contains(&0) || std::str::from_utf8(b).is_err()
}

/// Splits the new content's lines into segments, using the holes' byte ranges.
fn skeletons(new: &str, holes: &[Hole]) -> Vec<Option<Skel>> {
    let mut holes: Vec<&Hole> = holes.iter().collect();
    holes.sort_by_key(|h| (h.range.start, h.range.end));
    let mut out = vec![];
    let mut start = 0;
    for line in new.split_inclusive('\n') {
        let end = start + line.len();
        let body_end = start + line.strip_suffix('\n').unwrap_or(line).len();
        let cr = new[start..body_end].ends_with('\r');
        let content_end = body_end - usize::from(cr);
        let mut segs = vec![];
        let mut pos = start;
        let mut cr_in_hole = false;
        let mut tainted = false;
        for h in &holes {
            let touches = if h.range.is_empty() {
                h.range.start >= start && h.range.start <= body_end
            } else {
                h.range.start < end && h.range.end > start
            };
            if !touches {
                continue;
            }
            tainted = true;
            if cr && h.range.start < body_end && h.range.end >= body_end {
                cr_in_hole = true;
            }
            let hs = h.range.start.clamp(pos, content_end);
            let he = h.range.end.clamp(hs, content_end);
            if hs > pos {
                segs.push(Seg::Lit(new[pos..hs].to_string()));
            }
            segs.push(Seg::Hole {
                var: h.var.clone(),
                value: new[hs..he].to_string(),
                approximate: h.approximate,
            });
            pos = he;
        }
        if pos < content_end {
            segs.push(Seg::Lit(new[pos..content_end].to_string()));
        }
        out.push(tainted.then(|| Skel::new(segs, cr, cr_in_hole)));
        start = end;
    }
    out
}

/// Words (alphanumeric runs) and single other characters.
fn tokens(s: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else {
            if let Some(st) = start.take() {
                out.push(&s[st..i]);
            }
            out.push(&s[i..i + c.len_utf8()]);
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

/// What an old line's token is replaced by when it is not known to be safe to show.
pub const OLD_TOKEN: &str = "\u{2039}old\u{203a}";

/// Text known not to be secret, as tokens: the new render outside its secret holes and the
/// template's own source. An old token is shown only when it is one of these.
#[derive(Debug, Default)]
pub struct KnownText {
    words: HashSet<String>,
    marks: HashSet<char>,
}

impl KnownText {
    pub fn add(&mut self, text: &str) {
        for t in tokens(text) {
            match t.chars().next() {
                Some(c) if c.is_alphanumeric() => {
                    self.words.insert(t.to_string());
                }
                Some(c) => {
                    self.marks.insert(c);
                }
                None => {}
            }
        }
    }

    fn knows(&self, token: &str) -> bool {
        match token.chars().next() {
            Some(c) if c.is_alphanumeric() => self.words.contains(token),
            // A lone ASCII mark is structure (`=`, `:`, `#`); next to an unknown word it is
            // hidden with it (see `tokenwise`).
            Some(c) if c.is_whitespace() || c.is_ascii_punctuation() => true,
            Some(c) => self.marks.contains(&c),
            None => true,
        }
    }
}

/// An old line shown token by token: a token is shown only when `known` has it; every other
/// run becomes [`OLD_TOKEN`]. Symbols between two unknown tokens (or between one and the
/// line's or a word's edge) join the placeholder, so a secret's inner punctuation is not
/// shown either. In a credential-looking line nothing after the first `=` or `:` is shown.
/// Returns the text and whether any placeholder was needed.
fn tokenwise(line: &str, known: &KnownText, credential: bool) -> (String, bool) {
    let toks = tokens(line);
    let cut = if credential {
        toks.iter()
            .position(|t| *t == "=" || *t == ":")
            .map_or(0, |p| p + 1)
    } else {
        toks.len()
    };
    let is_space = |t: &str| t.chars().all(char::is_whitespace);
    let mut unknown: Vec<bool> = toks
        .iter()
        .enumerate()
        .map(|(k, t)| {
            if is_space(t) {
                return false;
            }
            k >= cut || !known.knows(t)
        })
        .collect();
    // Symbols next to an unknown token, up to a space or a known word, are unknown too.
    let word = |t: &str| t.chars().next().is_some_and(char::is_alphanumeric);
    for k in 0..toks.len() {
        if !unknown[k] || !word(toks[k]) {
            continue;
        }
        for dir in [-1isize, 1] {
            let mut i = k as isize + dir;
            let mut run = vec![];
            while i >= 0 && (i as usize) < toks.len() {
                let t = toks[i as usize];
                if is_space(t) || word(t) {
                    break;
                }
                run.push(i as usize);
                i += dir;
            }
            let edge = i < 0 || i as usize >= toks.len() || is_space(toks[i as usize]);
            let other_unknown = !edge && unknown[i as usize];
            if edge || other_unknown {
                for r in run {
                    unknown[r] = true;
                }
            }
        }
    }
    let mut out = String::with_capacity(line.len());
    let mut any = false;
    let mut in_placeholder = false;
    for (t, u) in toks.iter().zip(&unknown) {
        if *u {
            if !in_placeholder {
                out.push_str(OLD_TOKEN);
                in_placeholder = true;
                any = true;
            }
        } else {
            out.push_str(t);
            in_placeholder = false;
        }
    }
    (out, any)
}

/// How a removed line of the old content is shown.
#[derive(Debug, Clone)]
enum Old {
    Verbatim,
    Credential,
    /// Token by token (see `tokenwise`), some tokens replaced by [`OLD_TOKEN`].
    Tokens(String),
    /// As the skeleton of new line `j`.
    Skeleton {
        j: usize,
        states: Vec<HoleState>,
    },
    /// As its own text with the current secret values masked (see `Skel::near_fit`); speaks
    /// for new line `j`.
    Rewritten {
        j: usize,
        text: String,
        states: Vec<HoleState>,
    },
}

impl Old {
    fn speaks_for(&self) -> Option<(usize, &[HoleState])> {
        match self {
            Old::Skeleton { j, states } | Old::Rewritten { j, states, .. } => {
                Some((*j, states.as_slice()))
            }
            _ => None,
        }
    }
}

/// What the classification of removed lines needs to know about the new content.
struct NewSide<'a> {
    skel: &'a [Option<Skel>],
    /// Body of each literal new line -> whether it looks like a credential.
    literal: HashMap<&'a str, bool>,
    /// New lines with a skeleton, in order.
    tainted: Vec<usize>,
    known: KnownText,
}

/// The elements of two sorted index lists, `left` (all before `anchor`) read backwards and
/// `right` (all from `anchor` on) forwards, nearest to `anchor` first.
fn by_distance<'a>(
    left: &'a [usize],
    right: &'a [usize],
    anchor: usize,
) -> impl Iterator<Item = usize> + 'a {
    let (mut l, mut r) = (left.len(), 0);
    std::iter::from_fn(move || {
        let a = l.checked_sub(1).map(|i| left[i]);
        let b = right.get(r).copied();
        match (a, b) {
            (Some(x), Some(y)) if anchor.abs_diff(x) < anchor.abs_diff(y) => {
                l -= 1;
                Some(x)
            }
            (_, Some(y)) => {
                r += 1;
                Some(y)
            }
            (Some(x), None) => {
                l -= 1;
                Some(x)
            }
            (None, None) => None,
        }
    })
}

/// Of the sorted indices `idx`: those inside `block` and those outside it, each nearest to
/// `anchor` first.
fn near<'a>(
    idx: &'a [usize],
    block: &std::ops::Range<usize>,
    anchor: usize,
) -> (
    impl Iterator<Item = usize> + 'a,
    impl Iterator<Item = usize> + 'a,
) {
    let pp = |x: usize| idx.partition_point(|&j| j < x);
    let (bs, be) = (pp(block.start), pp(block.end));
    let a = pp(anchor.clamp(block.start, block.end)).clamp(bs, be);
    (
        by_distance(&idx[bs..a], &idx[a..be], anchor),
        by_distance(&idx[..bs], &idx[be..], anchor),
    )
}

impl NewSide<'_> {
    /// The first skeleton that `old` fits, trying the paired line, then the rest of its block,
    /// then the nearest others; `literal`: only skeletons with (or only without) literal text.
    fn fit(
        &self,
        old: Line<'_>,
        block: &std::ops::Range<usize>,
        anchor: usize,
        literal: bool,
    ) -> Option<(usize, Vec<HoleState>)> {
        let ok = |j: usize| {
            self.skel[j]
                .as_ref()
                .filter(|s| s.has_literal() == literal)
                .and_then(|s| s.fit(old.body, old.cr))
                .map(|st| (j, st))
        };
        let (inside, outside) = near(&self.tainted, block, anchor);
        inside
            .take(FAR_CANDIDATES)
            .chain(outside.take(FAR_CANDIDATES))
            .find_map(ok)
    }

    fn classify(
        &self,
        old: Line<'_>,
        old_cred: bool,
        block: std::ops::Range<usize>,
        anchor: usize,
    ) -> Old {
        if let Some(&cred) = self.literal.get(old.body) {
            return if cred { Old::Credential } else { Old::Verbatim };
        }
        if let Some((j, states)) = self.fit(old, &block, anchor, true) {
            return Old::Skeleton { j, states };
        }
        let near_fit = near(&self.tainted, &block, anchor)
            .0
            .take(NEAR_CANDIDATES)
            .find_map(|j| {
                let s = self.skel[j].as_ref()?;
                s.near_fit(old.body, &self.known)
                    .map(|(text, states)| (j, text, states))
            });
        if let Some((j, text, states)) = near_fit {
            return Old::Rewritten { j, text, states };
        }
        // Fail closed: an old byte is shown only when it is known not to be secret.
        let (text, placeholders) = tokenwise(old.body, &self.known, old_cred);
        if !placeholders {
            return Old::Verbatim;
        }
        // A line with no known word left (a key body line) is best told as the whole-line
        // secret it may have been; one with known words keeps its structure.
        let structure = text
            .replace(OLD_TOKEN, "")
            .chars()
            .any(char::is_alphanumeric);
        if !structure {
            if let Some((j, states)) = self.fit(old, &block, anchor, false) {
                return Old::Skeleton { j, states };
            }
        }
        Old::Tokens(text)
    }
}

fn line(op: &'static str, text: String, masked: bool, l: Line<'_>, cr: bool) -> DiffLine {
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
    line(op, l.body.to_string(), false, l, l.cr)
}

fn hidden(op: &'static str, text: &str, l: Line<'_>) -> DiffLine {
    line(op, text.to_string(), true, l, false)
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
    // Holes that do not fit the content (never produced by `taint::holes`): trust none.
    let text = std::str::from_utf8(new).unwrap_or_default();
    let all_secret = all_secret
        || holes.iter().any(|h| {
            let n = text;
            h.range.start > h.range.end
                || !n.is_char_boundary(h.range.start)
                || !n.is_char_boundary(h.range.end)
        });
    let names: BTreeSet<String> = holes.iter().map(|h| h.var.clone()).collect();
    let secret_bearing = all_secret || !holes.is_empty();
    let existed = old.is_some();
    let old_bytes = old.unwrap_or_default();
    let summarise = |fd: &mut FileDiff, summary: String| {
        fd.summary = Some(summary);
        if existed {
            fd.secrets_may_change = names.iter().cloned().collect();
            fd.secrets_unknown = all_secret;
        }
    };
    if is_binary(old_bytes) || is_binary(new) {
        let s = if secret_bearing {
            // The sizes would tell the secrets' lengths.
            "binary content differs".to_string()
        } else {
            format!(
                "binary content differs ({} -> {} bytes)",
                old_bytes.len(),
                new.len()
            )
        };
        summarise(&mut fd, s);
        return fd;
    }
    if old_bytes.len() > MAX_DIFF_BYTES || new.len() > MAX_DIFF_BYTES {
        summarise(
            &mut fd,
            format!(
                "content differs (over {} KiB, diff not shown)",
                MAX_DIFF_BYTES / 1024
            ),
        );
        return fd;
    }
    if all_secret {
        summarise(
            &mut fd,
            "content differs (it holds secrets that could not be located, diff not shown)"
                .to_string(),
        );
        return fd;
    }
    let o = std::str::from_utf8(old_bytes).unwrap_or_default();
    let n = std::str::from_utf8(new).unwrap_or_default();
    let old_lines = lines(o);
    let new_lines = lines(n);
    let skel = skeletons(n, holes);
    let old_cred = credential_lines(old_lines.iter().map(|l| l.body));
    let new_cred = credential_lines(new_lines.iter().map(|l| l.body));
    let secret_mode = !holes.is_empty();
    let side = NewSide {
        skel: &skel,
        literal: new_lines
            .iter()
            .enumerate()
            .filter(|(j, _)| skel[*j].is_none())
            .fold(HashMap::new(), |mut m, (j, l)| {
                *m.entry(l.body).or_insert(false) |= new_cred[j];
                m
            }),
        tainted: (0..new_lines.len())
            .filter(|&j| skel[j].is_some())
            .collect(),
        known: {
            let mut k = KnownText::default();
            for (j, l) in new_lines.iter().enumerate() {
                match &skel[j] {
                    None => k.add(l.body),
                    Some(s) => s.segs.iter().for_each(|seg| {
                        if let Seg::Lit(t) = seg {
                            k.add(t);
                        }
                    }),
                }
            }
            known.iter().for_each(|t| k.add(t));
            k
        },
    };
    let diff = line_diff(o, n);

    // Pass 1: how each removed line is shown, and which new lines it speaks for.
    let mut removed: BTreeMap<usize, Old> = BTreeMap::new();
    let mut plus = vec![false; new_lines.len()];
    for op in diff.ops() {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            continue;
        }
        plus[new_range.clone()].iter_mut().for_each(|p| *p = true);
        for (rel, i) in old_range.clone().enumerate() {
            let l = old_lines[i];
            let class = if !secret_mode {
                if old_cred[i] {
                    Old::Credential
                } else {
                    Old::Verbatim
                }
            } else {
                side.classify(l, old_cred[i], new_range.clone(), new_range.start + rel)
            };
            removed.insert(i, class);
        }
    }
    let any_hidden = removed
        .values()
        .any(|c| matches!(c, Old::Tokens(_) | Old::Credential));
    let mut plus_states: BTreeMap<usize, Vec<HoleState>> = BTreeMap::new();
    for (j, states) in removed.values().filter_map(Old::speaks_for) {
        if plus[j] {
            plus_states
                .entry(j)
                .or_default()
                .extend(states.iter().cloned());
        }
    }
    let mut new_states: BTreeMap<usize, Vec<HoleState>> = BTreeMap::new();
    for (j, s) in skel.iter().enumerate() {
        let Some(s) = s else { continue };
        if !plus[j] {
            continue;
        }
        let states = match plus_states.remove(&j) {
            Some(st) => merge_states(st),
            None if existed && any_hidden => s.states(HoleChange::Unknown),
            None => s.states(HoleChange::New),
        };
        new_states.insert(j, states);
    }
    // A secret that changes somewhere changes everywhere it is written.
    let mut changed: BTreeSet<String> = removed
        .values()
        .filter_map(|c| c.speaks_for().map(|(_, s)| s))
        .chain(new_states.values().map(Vec::as_slice))
        .flatten()
        .filter(|s| s.state == HoleChange::Changed)
        .map(|s| s.var.clone())
        .collect();
    for st in new_states.values_mut() {
        for s in st.iter_mut() {
            if matches!(s.state, HoleChange::New | HoleChange::Unknown) && changed.contains(&s.var)
            {
                *s = HoleState::new(&s.var, HoleChange::Changed);
            }
        }
    }
    let may: BTreeSet<String> = new_states
        .values()
        .flatten()
        .chain(
            removed
                .values()
                .filter_map(|c| c.speaks_for().map(|(_, s)| s))
                .flatten(),
        )
        .filter(|s| s.state == HoleChange::Unknown && !changed.contains(&s.var))
        .map(|s| s.var.clone())
        .collect();
    if !existed {
        changed.clear();
    }

    // Pass 2: the hunks.
    let new_line = |op: &'static str, j: usize| -> DiffLine {
        let l = new_lines[j];
        match &skel[j] {
            Some(s) => DiffLine {
                op,
                text: s.text(),
                masked: true,
                holes: if op == "+" {
                    new_states.get(&j).cloned().unwrap_or_default()
                } else {
                    vec![]
                },
                cr: s.cr && !s.cr_in_hole,
                no_newline_at_eof: l.no_nl,
            },
            None if new_cred[j] => hidden(op, CREDENTIAL_LINE, l),
            None => verbatim(op, l),
        }
    };
    let old_line = |i: usize| -> DiffLine {
        let l = old_lines[i];
        match &removed[&i] {
            Old::Verbatim => verbatim("-", l),
            Old::Credential => hidden("-", CREDENTIAL_LINE, l),
            Old::Tokens(text) => line("-", text.clone(), true, l, l.cr),
            Old::Skeleton { j, states } => {
                let s = skel[*j].as_ref().unwrap();
                DiffLine {
                    op: "-",
                    text: s.text(),
                    masked: true,
                    holes: if plus[*j] { vec![] } else { states.clone() },
                    cr: l.cr && !s.cr_in_hole,
                    no_newline_at_eof: l.no_nl,
                }
            }
            Old::Rewritten { j, text, states } => DiffLine {
                op: "-",
                text: text.clone(),
                masked: true,
                holes: if plus[*j] { vec![] } else { states.clone() },
                cr: l.cr,
                no_newline_at_eof: l.no_nl,
            },
        }
    };
    let (mut changed_lines, mut secret_lines) = (0usize, 0usize);
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
            if let DiffOp::Equal { new_index, len, .. } = *op {
                hunk.lines
                    .extend((new_index..new_index + len).map(|j| new_line(" ", j)));
                continue;
            }
            let changes: Vec<DiffLine> = op
                .old_range()
                .map(old_line)
                .chain(op.new_range().map(|j| new_line("+", j)))
                .collect();
            changed_lines += changes.len();
            secret_lines += changes.iter().filter(|l| l.masked).count();
            hunk.lines.extend(changes);
        }
        fd.hunks.push(hunk);
    }
    if existed {
        fd.secrets_may_change = may.into_iter().collect();
    }
    fd.secrets_changed = changed.into_iter().collect();
    if secret_lines > MOSTLY_SECRET_LINES && secret_lines * 2 > changed_lines {
        fd.summary = Some(format!(
            "{changed_lines} lines changed ({secret_lines} hold secrets)"
        ));
        fd.hunks.clear();
    }
    fd
}

/// The line diff, bounded in time: past the deadline `similar` settles for a less minimal
/// (still correct) diff, so a large, wholly rewritten file cannot stall a run.
pub(crate) fn line_diff<'a>(old: &'a str, new: &'a str) -> TextDiff<'a, 'a, 'a, str> {
    TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .deadline(std::time::Instant::now() + DIFF_DEADLINE)
        .diff_lines(old, new)
}

/// Control characters made visible, so that old content cannot move the cursor, rewrite the
/// line or reorder text on a terminal.
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
            '\u{7f}' => '\u{2421}',
            '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            c => c,
        })
        .collect()
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
    pub fn with_attribute_change(mut self, attribute: &str, old: Option<&str>, new: &str) -> Self {
        self.attribute_changes.push(AttributeChange {
            attribute: attribute.to_string(),
            old: old.map(str::to_string),
            new: new.to_string(),
        });
        self
    }

    fn attribute_lines(&self) -> Vec<String> {
        self.attribute_changes
            .iter()
            .map(|a| match &a.old {
                Some(o) => format!("{} {} -> {}", a.attribute, visible(o), visible(&a.new)),
                None => format!("{} {}", a.attribute, visible(&a.new)),
            })
            .collect()
    }

    /// Unified-diff text for people.
    pub fn render(&self, created: bool) -> String {
        let attrs = self.attribute_lines();
        let path = visible(&self.path);
        if let Some(s) = &self.summary {
            let mut out = format!("~ {path}: {s}\n");
            for a in attrs {
                out.push_str(&a);
                out.push('\n');
            }
            return out;
        }
        if self.hunks.is_empty() && !attrs.is_empty() {
            return format!("~ {path}: {}\n", attrs.join(", "));
        }
        let from = if created {
            "/dev/null".to_string()
        } else {
            format!("a{path}")
        };
        let mut out = format!("--- {from}\n+++ b{path}\n");
        for a in attrs {
            out.push_str(&a);
            out.push('\n');
        }
        for h in &self.hunks {
            out.push_str(&format!(
                "@@ -{},{} +{},{} @@\n",
                h.old_start, h.old_len, h.new_start, h.new_len
            ));
            for l in &h.lines {
                out.push_str(l.op);
                out.push_str(&visible(&l.text));
                if l.cr {
                    out.push('\u{240d}');
                }
                if !l.holes.is_empty() {
                    let notes: Vec<String> = l
                        .holes
                        .iter()
                        .map(|h| format!("{}: {}", h.var, h.state.label()))
                        .collect();
                    out.push_str(&format!("   ({})", notes.join(", ")));
                }
                out.push('\n');
                if l.no_newline_at_eof {
                    out.push_str("\\ No newline at end of file\n");
                }
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
        let pem: String = (0..20)
            .map(|i| format!("KEYLINE{i:02}xxxxxxxxxxxxxxxx\n"))
            .collect();
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
