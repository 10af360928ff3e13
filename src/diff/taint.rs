//! Taint tracking for rendered templates: which byte ranges of the output came from secret
//! values. The template is rendered a second time with each secret replaced by a sentinel (a
//! private-use character pair around its index); helpers and filters carry the sentinel
//! through, so its position marks the hole. The literal text between sentinels is then aligned
//! with the real output to find each hole's bytes.

use std::ops::Range;

/// A span of rendered output that came from a secret variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    pub range: Range<usize>,
    pub var: String,
    /// The renders could not be aligned here, so the range is a whole line that may also hold
    /// literal text: a difference in it does not prove the secret changed.
    pub approximate: bool,
}

impl Hole {
    pub fn new(range: Range<usize>, var: impl Into<String>) -> Self {
        Hole {
            range,
            var: var.into(),
            approximate: false,
        }
    }
}

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// The stand-in for secret number `i` in the sentinel render.
pub fn sentinel(i: usize) -> String {
    format!("{OPEN}{i}{CLOSE}")
}

enum Part<'a> {
    Lit(&'a str),
    Hole(usize),
}

fn parts(s: &str) -> Option<Vec<Part<'_>>> {
    let mut out = vec![];
    let mut rest = s;
    while let Some(i) = rest.find(OPEN) {
        out.push(Part::Lit(&rest[..i]));
        let after = &rest[i + OPEN.len_utf8()..];
        let j = after.find(CLOSE)?;
        out.push(Part::Hole(after[..j].parse().ok()?));
        rest = &after[j + CLOSE.len_utf8()..];
    }
    if rest.contains(CLOSE) {
        return None;
    }
    out.push(Part::Lit(rest));
    Some(out)
}

/// Finds the holes of `real` given its sentinel render. `values[i]` is secret `i`'s value,
/// tried first so that a value containing the following literal text still aligns, and so
/// that adjacent secrets (`{{A}}{{B}}`) are told apart when they were rendered unchanged.
/// Where the renders cannot be aligned (a filter that reorders or re-encodes the sentinel,
/// such as `reverse` or `b64encode`), the two renders are compared line by line: every line
/// of the real render that differs from the sentinel render becomes one approximate hole,
/// named after the secrets whose sentinels appear in the differing lines (all `names` if
/// none does). `None` only when `real` is not the render the sentinels came from at all.
pub fn holes(
    real: &str,
    sentinel_render: &str,
    names: &[String],
    values: &[&[u8]],
) -> Option<Vec<Hole>> {
    if let Some(h) = parts(sentinel_render).and_then(|p| align(real, &p, names, values, 0)) {
        return Some(h);
    }
    Some(by_lines(real, sentinel_render, names, values))
}

/// Aligns `real` with the parts of its sentinel render; hole ranges are offset by `base`.
fn align(
    real: &str,
    parts: &[Part<'_>],
    names: &[String],
    values: &[&[u8]],
    base: usize,
) -> Option<Vec<Hole>> {
    let mut pos = 0;
    let mut out = vec![];
    let mut k = 0;
    while k < parts.len() {
        if let Part::Lit(l) = parts[k] {
            if !real[pos..].starts_with(l) {
                return None;
            }
            pos += l.len();
            k += 1;
            continue;
        }
        // A run of holes with nothing (or empty literals) between them.
        let mut run = vec![];
        while k < parts.len() {
            match parts[k] {
                Part::Hole(i) => run.push(i),
                Part::Lit("") => {}
                Part::Lit(_) => break,
            }
            k += 1;
        }
        let next = match parts.get(k) {
            Some(Part::Lit(l)) => Some(*l),
            _ => None,
        };
        let value = |i: usize| values.get(i).copied().unwrap_or_default();
        let concat: Vec<u8> = run.iter().flat_map(|&i| value(i).iter().copied()).collect();
        let after = pos + concat.len();
        let fits = real.as_bytes()[pos..].starts_with(&concat)
            && real.is_char_boundary(after)
            && match next {
                Some(n) => real[after..].starts_with(n),
                None => after == real.len(),
            };
        let end = if fits {
            after
        } else {
            match next {
                Some(n) => pos + real[pos..].find(n)?,
                None => real.len(),
            }
        };
        // Split the run's span between its secrets where their raw values stand in it; the
        // rest of the span goes to the first secret that does not, the others get empty holes
        // right after it (the diff compares adjacent holes as one).
        let mut p = pos;
        for (n, &i) in run.iter().enumerate() {
            let name = names.get(i)?.clone();
            let v = value(i);
            let last = n + 1 == run.len();
            if !last && real.as_bytes()[p..end].starts_with(v) && real.is_char_boundary(p + v.len())
            {
                out.push(Hole::new(base + p..base + p + v.len(), name));
                p += v.len();
            } else {
                out.push(Hole::new(base + p..base + end, name));
                p = end;
            }
        }
        pos = end;
    }
    (pos == real.len()).then_some(out)
}

/// The secrets whose sentinels (forwards or reversed) appear in `text`.
fn sentinels_in(text: &str, names: &[String]) -> Vec<usize> {
    let reversed: String = text.chars().rev().collect();
    (0..names.len())
        .filter(|&i| {
            let s = sentinel(i);
            text.contains(&s) || reversed.contains(&s)
        })
        .collect()
}

/// The line-by-line fallback of `holes`.
fn by_lines(real: &str, shadow: &str, names: &[String], values: &[&[u8]]) -> Vec<Hole> {
    use similar::DiffOp;
    let real_lines: Vec<&str> = real.split_inclusive('\n').collect();
    let shadow_lines: Vec<&str> = shadow.split_inclusive('\n').collect();
    let mut starts = Vec::with_capacity(real_lines.len() + 1);
    let mut at = 0;
    for l in &real_lines {
        starts.push(at);
        at += l.len();
    }
    starts.push(at);
    let diff = super::lines::line_diff(shadow, real);
    let mut out = vec![];
    for op in diff.ops() {
        let (s, r) = match *op {
            DiffOp::Equal { .. } | DiffOp::Delete { .. } => continue,
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (old_index..old_index, new_index..new_index + new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (
                old_index..old_index + old_len,
                new_index..new_index + new_len,
            ),
        };
        // Line by line when the counts agree, else the block as a whole.
        let pieces: Vec<(Range<usize>, Range<usize>)> = if s.len() == r.len() {
            s.zip(r).map(|(s, r)| (s..s + 1, r..r + 1)).collect()
        } else {
            vec![(s, r)]
        };
        for (s, r) in pieces {
            out.extend(block_holes(
                &real_lines,
                &starts,
                &shadow_lines[s],
                r,
                names,
                values,
            ));
        }
    }
    out
}

/// Holes for real lines `r` given the sentinel render's lines `shadow` they differ from.
fn block_holes(
    real_lines: &[&str],
    starts: &[usize],
    shadow: &[&str],
    r: Range<usize>,
    names: &[String],
    values: &[&[u8]],
) -> Vec<Hole> {
    let block: String = real_lines[r.clone()].concat();
    let shadow: String = shadow.concat();
    // The block may still align on its own (another line of the file is the problem).
    if let Some(h) = parts(&shadow)
        .filter(|p| p.iter().any(|p| matches!(p, Part::Hole(_))))
        .and_then(|p| align(&block, &p, names, values, starts[r.start]))
    {
        return h;
    }
    let mut found = sentinels_in(&shadow, names);
    if found.is_empty() {
        found = (0..names.len()).collect();
    }
    let mut out = vec![];
    for j in r {
        let line = real_lines[j];
        let body = line.strip_suffix('\n').unwrap_or(line);
        let end = starts[j] + body.len();
        for (n, &i) in found.iter().enumerate() {
            out.push(Hole {
                range: if n == 0 { starts[j]..end } else { end..end },
                var: names[i].clone(),
                approximate: true,
            });
        }
    }
    out
}

/// Secret runs of one line at most this many bytes apart are also registered joined, with the
/// literal text between them: a secret printed character by character with separators
/// (`{% for c in ENV_S %}{{c}}-{% endfor %}`, `list|join("-")`) is then one pattern, not
/// runs too short to mask.
pub const MAX_GAP: usize = 3;

/// (secret variable, bytes derived from it), for the masker.
pub type Runs = Vec<(String, Vec<u8>)>;

/// What the masker must learn from one render: (secret variable, bytes) for every run of
/// `real` that came from a secret, as `holes` locates them. An exact hole is registered as it
/// is. An approximate hole (a line the renders could not align: `reverse`, a character loop,
/// a slice) is registered twice: the whole line, and the line without the longest prefix and
/// suffix it shares with a line of the sentinel render (the template's literal text around
/// the derived value). Then runs of one line separated by at most [`MAX_GAP`] literal bytes
/// are registered joined too. The masker applies its short-value rule to each.
pub fn secret_runs(real: &str, shadow: &str, holes: &[Hole]) -> Runs {
    let shadow_lines: Vec<&str> = shadow.lines().collect();
    let mut out: Vec<(String, Vec<u8>)> = vec![];
    let mut spans: Vec<(Range<usize>, String)> = vec![];
    for (k, h) in holes
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.range.is_empty())
    {
        let mut r = h.range.clone();
        let mut var = h.var.clone();
        if h.approximate {
            // The empty approximate holes right after it name the other secrets of the line.
            for o in holes[k + 1..]
                .iter()
                .take_while(|o| o.approximate && o.range == (r.end..r.end))
            {
                var = format!("{var}, {}", o.var);
            }
            out.push((var.clone(), real.as_bytes()[r.clone()].to_vec()));
            r = trim_literal(real, r, &shadow_lines);
        }
        if !r.is_empty() {
            spans.push((r, var));
        }
    }
    spans.sort_by_key(|(r, _)| (r.start, r.end));
    for (r, var) in &spans {
        out.push((var.clone(), real.as_bytes()[r.clone()].to_vec()));
    }
    let mut i = 0;
    while i < spans.len() {
        let (start, mut end) = (spans[i].0.start, spans[i].0.end);
        let mut j = i;
        while let Some((next, _)) = spans.get(j + 1) {
            let joins = next.start <= end
                || (next.start - end <= MAX_GAP && !real[end..next.start].contains('\n'));
            if !joins {
                break;
            }
            end = end.max(next.end);
            j += 1;
        }
        if j > i {
            out.push((spans[i].1.clone(), real.as_bytes()[start..end].to_vec()));
        }
        i = j + 1;
    }
    out
}

/// Every line of `real`, for a render whose secret runs cannot be located at all (the
/// sentinel render failed): the whole file is treated as derived from `names`.
pub fn all_lines(real: &str, names: &[String]) -> Runs {
    let name = names.join(", ");
    real.lines()
        .filter(|l| l.trim().len() >= crate::mask::MIN_MASKED)
        .map(|l| (name.clone(), l.as_bytes().to_vec()))
        .collect()
}

/// `r` (a line of `real`) without the longest prefix and the longest suffix it shares with
/// any line of the sentinel render; all of `r` if nothing would be left.
fn trim_literal(real: &str, r: Range<usize>, shadow_lines: &[&str]) -> Range<usize> {
    let line = &real[r.clone()];
    let (mut pre, mut suf) = (0, 0);
    for s in shadow_lines {
        let p: usize = line
            .chars()
            .zip(s.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        let q: usize = line
            .chars()
            .rev()
            .zip(s.chars().rev())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        pre = pre.max(p);
        suf = suf.max(q);
    }
    if pre + suf >= line.len() {
        return r;
    }
    r.start + pre..r.end - suf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["ENV_A".into(), "ENV_B".into()]
    }

    #[test]
    fn finds_holes_between_literals() {
        let s = format!("a={}\nb=x{}y\n", sentinel(0), sentinel(1));
        let h = holes(
            "a=secret1\nb=xSECRET2y\n",
            &s,
            &names(),
            &[b"secret1", b"secret2"],
        )
        .unwrap();
        assert_eq!(h[0].range, 2..9);
        assert_eq!(h[1].range, 13..20);
        assert_eq!(h[1].var, "ENV_B");
    }

    #[test]
    fn value_containing_the_next_literal_aligns() {
        let s = format!("p={};\n", sentinel(0));
        let h = holes("p=a;b;\n", &s, &names(), &[b"a;b"]).unwrap();
        assert_eq!(h[0].range, 2..5);
    }

    #[test]
    fn misaligned_lines_become_whole_line_holes() {
        let s = format!(
            "a={}\nc={}\nz=1\n",
            sentinel(0),
            sentinel(1).chars().rev().collect::<String>()
        );
        let real = "a=secret1\nc=2terces\nz=1\n";
        let h = holes(real, &s, &names(), &[b"secret1", b"secret2"]).unwrap();
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!((h[0].range.clone(), h[0].approximate), (2..9, false));
        assert_eq!(&real[h[1].range.clone()], "c=2terces");
        assert!(h[1].approximate);
        assert_eq!(h[1].var, "ENV_B", "named after the reversed sentinel");
    }

    #[test]
    fn a_re_encoded_sentinel_names_every_secret() {
        let s = "b=7oCAMO6AgQ==\n";
        let real = "b=c2VjcmV0MQ==\n";
        let h = holes(real, s, &names(), &[b"secret1", b"secret2"]).unwrap();
        let vars: Vec<&str> = h.iter().map(|h| h.var.as_str()).collect();
        assert_eq!(vars, ["ENV_A", "ENV_B"]);
        assert_eq!(h[0].range, 0..real.len() - 1);
        assert!(h[1].range.is_empty());
    }

    #[test]
    fn adjacent_secrets_are_told_apart() {
        let s = format!("d={}{}\n", sentinel(0), sentinel(1));
        let real = "d=PPPPQQQ\n";
        let h = holes(real, &s, &names(), &[b"PPPP", b"QQQ"]).unwrap();
        assert_eq!(h[0], Hole::new(2..6, "ENV_A"));
        assert_eq!(h[1], Hole::new(6..9, "ENV_B"));
        // Transformed: the span cannot be split; the first takes it, the second is empty.
        let h = holes("d=ppppqqq\n", &s, &names(), &[b"PPPP", b"QQQ"]).unwrap();
        assert_eq!(h[0], Hole::new(2..9, "ENV_A"));
        assert_eq!(h[1], Hole::new(9..9, "ENV_B"));
    }

    fn runs(real: &str, shadow: &str, values: &[&[u8]]) -> Vec<String> {
        let h = holes(real, shadow, &names(), values).unwrap();
        let mut r: Vec<String> = secret_runs(real, shadow, &h)
            .into_iter()
            .map(|(_, b)| String::from_utf8(b).unwrap())
            .collect();
        r.sort();
        r.dedup();
        r
    }

    #[test]
    fn derived_runs_exact_and_upper_cased() {
        let s = format!("a={}\nb=[{}]\n", sentinel(0), sentinel(1));
        let r = runs("a=secret1\nb=[SECRET2]\n", &s, &[b"secret1", b"secret2"]);
        assert_eq!(r, ["SECRET2", "secret1"]);
    }

    #[test]
    fn derived_runs_of_a_reversed_line_drop_the_literal_text() {
        let rev: String = sentinel(0).chars().rev().collect();
        let s = format!("x: {rev};\nplain\n");
        let r = runs("x: 1terces;\nplain\n", &s, &[b"secret1"]);
        assert_eq!(r, ["1terces", "x: 1terces;"]);
    }

    #[test]
    fn a_character_loop_is_registered_with_its_separators() {
        let loop_render: String = sentinel(0).chars().flat_map(|c| [c, '-']).collect();
        let s = format!("k={loop_render}\n");
        let r = runs("k=s-e-c-r-e-t-\n", &s, &[b"secret"]);
        assert!(r.contains(&"s-e-c-r-e-t".to_string()), "{r:?}");
    }

    #[test]
    fn close_runs_of_one_line_are_joined() {
        let s = format!("{}-{}\n{}\n", sentinel(0), sentinel(1), sentinel(0));
        let r = runs("ab-cd\nab\n", &s, &[b"ab", b"cd"]);
        assert_eq!(r, ["ab", "ab-cd", "cd"]);
        let s = format!("{}, and {}\n", sentinel(0), sentinel(1));
        let r = runs("ab, and cd\n", &s, &[b"ab", b"cd"]);
        assert_eq!(r, ["ab", "cd"], "a longer literal gap keeps runs apart");
    }
}
