//! How each line removed from the target is shown, decided against the new content: as is,
//! as a skeleton it fits, rewritten with the current values masked, or token by token.

use std::collections::HashMap;

use super::lines::Line;
use super::skeleton::Skel;
use super::tokens::{tokenwise, KnownText, OLD_TOKEN};
use super::HoleState;

/// How many skeletons inside, and how many outside, its own change block a removed line is
/// tried against (nearest first).
const FAR_CANDIDATES: usize = 256;
/// How many lines of its block a removed line is tried against as an edit (nearest first).
const NEAR_CANDIDATES: usize = 16;

/// How a removed line of the old content is shown.
#[derive(Debug, Clone)]
pub(super) enum Old {
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
    pub(super) fn speaks_for(&self) -> Option<(usize, &[HoleState])> {
        match self {
            Old::Skeleton { j, states } | Old::Rewritten { j, states, .. } => {
                Some((*j, states.as_slice()))
            }
            _ => None,
        }
    }
}

/// What the classification of removed lines needs to know about the new content.
pub(super) struct NewSide<'a> {
    pub(super) skel: &'a [Option<Skel>],
    /// Body of each literal new line -> whether it looks like a credential.
    pub(super) literal: HashMap<&'a str, bool>,
    /// New lines with a skeleton, in order.
    pub(super) tainted: Vec<usize>,
    pub(super) known: &'a KnownText,
}

/// The elements of two sorted index lists, `left` (all before `anchor`) read backwards and
/// `right` (all from `anchor` on) forwards, nearest to `anchor` first.
pub(super) fn by_distance<'a>(
    left: &'a [usize],
    right: &'a [usize],
    anchor: usize,
) -> impl Iterator<Item = usize> + 'a {
    let (mut left_end, mut right_start) = (left.len(), 0);
    std::iter::from_fn(move || {
        let prev = left_end.checked_sub(1).map(|i| left[i]);
        let next = right.get(right_start).copied();
        match (prev, next) {
            (Some(p), Some(n)) if anchor.abs_diff(p) < anchor.abs_diff(n) => {
                left_end -= 1;
                Some(p)
            }
            (_, Some(n)) => {
                right_start += 1;
                Some(n)
            }
            (Some(p), None) => {
                left_end -= 1;
                Some(p)
            }
            (None, None) => None,
        }
    })
}

/// Of the sorted indices `idx`: those inside `block` and those outside it, each nearest to
/// `anchor` first.
pub(super) fn near<'a>(
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
    pub(super) fn fit(
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

    pub(super) fn classify(
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
                s.near_fit(old.body, self.known)
                    .map(|(text, states)| (j, text, states))
            });
        if let Some((j, text, states)) = near_fit {
            return Old::Rewritten { j, text, states };
        }
        // Fail closed: an old byte is shown only when it is known not to be secret.
        let (text, placeholders) = tokenwise(old.body, self.known, old_cred);
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
