//! Skeletons: a secret-bearing line of the new content as literal text and holes, and how an
//! old line fits one (literal segments in order, holes as wildcards, adjacent holes as one).

use similar::DiffTag;

use super::taint::Hole;
use super::tokens::{tokens, tokenwise, KnownText};
use super::{merge_states, HoleChange, HoleState};

/// A line of the new content, split into literal text and secret holes.
#[derive(Debug, Clone)]
pub(super) enum Seg {
    Lit(String),
    Hole {
        var: String,
        value: String,
        approximate: bool,
    },
}

/// A secret-bearing line of the new content.
#[derive(Debug, Clone)]
pub(super) struct Skel {
    pub(super) segs: Vec<Seg>,
    /// The line ends with `\r\n`; `cr_in_hole`: that `\r` came from a secret.
    pub(super) cr: bool,
    pub(super) cr_in_hole: bool,
    /// The literal text between holes; `groups[k]` (indices into `segs`) are the holes
    /// between `lits[k]` and `lits[k + 1]`. Adjacent holes form one group: an old value
    /// cannot be split between them.
    lits: Vec<String>,
    groups: Vec<Vec<usize>>,
}

impl Skel {
    pub(super) fn new(segs: Vec<Seg>, cr: bool, cr_in_hole: bool) -> Self {
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

    pub(super) fn text(&self) -> String {
        self.segs
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => l.clone(),
                Seg::Hole { var, .. } => format!("***{var}***"),
            })
            .collect()
    }

    pub(super) fn has_literal(&self) -> bool {
        self.lits.iter().any(|l| !l.is_empty())
    }

    /// The old values of the groups, if `old` fits (literals in order, groups lazy).
    pub(super) fn captures<'o>(&self, old: &'o str) -> Option<Vec<&'o str>> {
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
    pub(super) fn fit(&self, old: &str, old_cr: bool) -> Option<Vec<HoleState>> {
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
    pub(super) fn near_fit(
        &self,
        old: &str,
        known: &KnownText,
    ) -> Option<(String, Vec<HoleState>)> {
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

    pub(super) fn states(&self, state: HoleChange) -> Vec<HoleState> {
        merge_states(self.segs.iter().filter_map(|s| match s {
            Seg::Hole { var, .. } => Some(HoleState::new(var, state)),
            Seg::Lit(_) => None,
        }))
    }
}

/// Splits the new content's lines into segments, using the holes' byte ranges.
pub(super) fn skeletons(new: &str, holes: &[Hole]) -> Vec<Option<Skel>> {
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
