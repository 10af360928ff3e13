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
    out.push(Part::Lit(rest));
    Some(out)
}

/// Finds the holes of `real` given its sentinel render. `values[i]` is secret `i`'s value,
/// tried first so that a value containing the following literal text still aligns.
/// `None` when the two renders cannot be aligned (the caller then treats the file as secret).
pub fn holes(
    real: &str,
    sentinel_render: &str,
    names: &[String],
    values: &[&[u8]],
) -> Option<Vec<Hole>> {
    let parts = parts(sentinel_render)?;
    let mut pos = 0;
    let mut out = vec![];
    for (k, part) in parts.iter().enumerate() {
        match part {
            Part::Lit(l) => {
                if !real[pos..].starts_with(l) {
                    return None;
                }
                pos += l.len();
            }
            Part::Hole(i) => {
                let next = parts[k + 1..].iter().find_map(|p| match p {
                    Part::Lit(l) if !l.is_empty() => Some(*l),
                    _ => None,
                });
                let adjacent = matches!(parts.get(k + 1), Some(Part::Hole(_)))
                    || matches!(parts.get(k + 1), Some(Part::Lit(l)) if l.is_empty() && matches!(parts.get(k + 2), Some(Part::Hole(_))));
                let value = values.get(*i).copied().unwrap_or_default();
                let rest = &real.as_bytes()[pos..];
                let fits_value = rest.starts_with(value)
                    && next.is_none_or(|n| real[pos + value.len()..].starts_with(n));
                let end = if fits_value && (adjacent || next.is_some()) {
                    pos + value.len()
                } else {
                    match next {
                        Some(n) => pos + real[pos..].find(n)?,
                        None if adjacent => pos + value.len().min(rest.len()),
                        None => real.len(),
                    }
                };
                if !real.is_char_boundary(end) {
                    return None;
                }
                out.push(Hole {
                    range: pos..end,
                    var: names.get(*i)?.clone(),
                });
                pos = end;
            }
        }
    }
    (pos == real.len()).then_some(out)
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
    fn misaligned_renders_give_none() {
        let s = format!("p={}\n", sentinel(0));
        assert!(holes("q=1\n", &s, &names(), &[b"1"]).is_none());
    }
}
