//! The masker: every byte jetlike writes passes through it. One Aho-Corasick automaton over
//! every encoded variant of every secret; overlapping matches are unioned so no residue is left
//! when secrets overlap; streaming holds back only the bytes that could still begin a secret,
//! so a secret split across writes is still masked and other output is never delayed. Works on
//! bytes. Values under 4 bytes cannot be masked without destroying output: they are reported
//! by name; patterns of 4-7 bytes match only as whole words; 8 bytes and more match anywhere.

use std::collections::HashSet;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::secret::Secret;

pub const MASK_TOKEN: &[u8] = b"***";
/// Values shorter than this (after trimming) are not masked.
pub const MIN_MASKED: usize = 4;
/// Patterns shorter than this match only on word boundaries.
pub const MIN_ANYWHERE: usize = 8;

struct Pattern {
    len: usize,
    /// Must not touch `[A-Za-z0-9_]` on either side.
    boundary: bool,
}

pub struct Masker {
    ac: Option<AhoCorasick>,
    patterns: Vec<Pattern>,
    /// Every proper prefix of every pattern: what a stream must hold back.
    prefixes: HashSet<Vec<u8>>,
    max_len: usize,
    unmasked: Vec<String>,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The stable middle of base64 of `value` placed after `offset` other bytes: the characters
/// that depend on the value's bits only.
fn base64_at(engine: &impl Engine, value: &[u8], offset: usize) -> Vec<u8> {
    let mut buf = vec![0u8; offset];
    buf.extend_from_slice(value);
    let enc = engine.encode(&buf).into_bytes();
    let first = (8 * offset).div_ceil(6);
    let last = (8 * (offset + value.len())) / 6; // exclusive
    if last <= first || last > enc.len() {
        return vec![];
    }
    enc[first..last].to_vec()
}

fn percent(value: &[u8], upper: bool, plus: bool, keep_slash: bool) -> Vec<u8> {
    let mut out = vec![];
    for &b in value {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b);
        } else if plus && b == b' ' {
            out.push(b'+');
        } else if upper {
            out.extend(format!("%{b:02X}").bytes());
        } else {
            out.extend(format!("%{b:02x}").bytes());
        }
    }
    out
}

fn json_escapes(value: &[u8]) -> Vec<Vec<u8>> {
    let Ok(s) = std::str::from_utf8(value) else {
        return vec![];
    };
    let plain = serde_json::to_string(s).unwrap_or_default();
    let plain = plain[1..plain.len() - 1].to_string();
    let slash = plain.replace('/', "\\/");
    let ascii: String = plain
        .chars()
        .flat_map(|c| {
            if c.is_ascii() {
                vec![c.to_string()]
            } else {
                let mut b = [0u16; 2];
                c.encode_utf16(&mut b)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    vec![plain.into_bytes(), slash.into_bytes(), ascii.into_bytes()]
}

fn shell_quoted(value: &[u8]) -> Vec<Vec<u8>> {
    let mut single = vec![];
    for &b in value {
        if b == b'\'' {
            single.extend_from_slice(b"'\\''");
        } else {
            single.push(b);
        }
    }
    let mut q = vec![];
    for &b in value {
        if !(b.is_ascii_alphanumeric() || b"_./-=,+@%:".contains(&b) || b >= 0x80) {
            q.push(b'\\');
        }
        q.push(b);
    }
    vec![single, q]
}

/// Every form in which `value` might show up in output.
fn variants(value: &[u8]) -> Vec<Vec<u8>> {
    let trimmed = value.trim_ascii();
    let mut out = vec![value.to_vec(), trimmed.to_vec()];
    if trimmed.contains(&b'\n') {
        for line in trimmed.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.len() >= MIN_ANYWHERE {
                out.push(line.to_vec());
            }
        }
    }
    let mut nl = trimmed.to_vec();
    nl.push(b'\n');
    for v in [trimmed, &nl[..]] {
        out.push(STANDARD.encode(v).into_bytes());
        out.push(STANDARD_NO_PAD.encode(v).into_bytes());
        out.push(URL_SAFE.encode(v).into_bytes());
        out.push(URL_SAFE_NO_PAD.encode(v).into_bytes());
        for offset in 0..3 {
            out.push(base64_at(&STANDARD, v, offset));
            out.push(base64_at(&URL_SAFE, v, offset));
        }
    }
    out.extend(json_escapes(trimmed));
    for (upper, plus, slash) in [
        (true, false, false),
        (false, false, false),
        (true, true, false),
        (true, false, true),
    ] {
        out.push(percent(trimmed, upper, plus, slash));
    }
    out.extend(shell_quoted(trimmed));
    out.push(hex::encode(trimmed).into_bytes());
    out.push(hex::encode_upper(trimmed).into_bytes());
    out
}

impl Masker {
    pub fn empty() -> Masker {
        Masker {
            ac: None,
            patterns: vec![],
            prefixes: HashSet::new(),
            max_len: 0,
            unmasked: vec![],
        }
    }

    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Masker {
        let mut m = Masker::empty();
        let mut seen = HashSet::new();
        let mut pats: Vec<Vec<u8>> = vec![];
        for s in secrets {
            let v = s.expose();
            if v.trim_ascii().len() < MIN_MASKED {
                if !v.is_empty() {
                    m.unmasked.push(s.name().to_string());
                }
                continue;
            }
            for p in variants(v) {
                if p.len() >= MIN_MASKED && seen.insert(p.clone()) {
                    pats.push(p);
                }
            }
        }
        m.unmasked.sort();
        m.unmasked.dedup();
        if pats.is_empty() {
            return m;
        }
        for p in &pats {
            for k in 1..p.len() {
                m.prefixes.insert(p[..k].to_vec());
            }
        }
        m.max_len = pats.iter().map(Vec::len).max().unwrap_or(0);
        m.patterns = pats
            .iter()
            .map(|p| Pattern {
                len: p.len(),
                boundary: p.len() < MIN_ANYWHERE,
            })
            .collect();
        m.ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&pats)
            .ok();
        m
    }

    pub fn is_empty(&self) -> bool {
        self.ac.is_none()
    }

    /// Names of secrets too short to mask; the caller warns by name.
    pub fn unmasked_names(&self) -> Vec<String> {
        self.unmasked.clone()
    }

    /// Masks a whole buffer (the same as streaming it in one piece).
    pub fn mask(self: &Arc<Self>, input: &[u8]) -> Vec<u8> {
        let mut s = self.stream();
        let mut out = s.push(input);
        out.extend(s.finish());
        out
    }

    pub fn mask_str(self: &Arc<Self>, input: &str) -> String {
        String::from_utf8_lossy(&self.mask(input.as_bytes())).into_owned()
    }

    pub fn stream(self: &Arc<Self>) -> MaskStream {
        MaskStream {
            masker: self.clone(),
            pending: vec![],
            prev: None,
        }
    }

    /// Merged secret ranges in `buf`. `prev` is the byte before `buf`; `at_end`: nothing
    /// follows `buf`. Also returns the earliest start of a short match whose right boundary
    /// is not known yet.
    fn ranges(
        &self,
        buf: &[u8],
        prev: Option<u8>,
        at_end: bool,
    ) -> (Vec<(usize, usize)>, Option<usize>) {
        let Some(ac) = &self.ac else {
            return (vec![], None);
        };
        let mut found: Vec<(usize, usize)> = vec![];
        let mut undecided: Option<usize> = None;
        for m in ac.find_overlapping_iter(buf) {
            let p = &self.patterns[m.pattern().as_usize()];
            let (s, e) = (m.start(), m.end());
            debug_assert_eq!(e - s, p.len);
            if p.boundary {
                let before = if s == 0 { prev } else { Some(buf[s - 1]) };
                if before.is_some_and(is_word) {
                    continue;
                }
                if e == buf.len() && !at_end {
                    undecided = Some(undecided.map_or(s, |u: usize| u.min(s)));
                    continue;
                }
                if e < buf.len() && is_word(buf[e]) {
                    continue;
                }
            }
            found.push((s, e));
        }
        found.sort_unstable();
        let mut merged: Vec<(usize, usize)> = vec![];
        for (s, e) in found {
            match merged.last_mut() {
                Some(last) if s < last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        (merged, undecided)
    }

    /// Length of the longest suffix of `buf` that is a proper prefix of some pattern.
    fn holdback(&self, buf: &[u8]) -> usize {
        let max = self.max_len.saturating_sub(1).min(buf.len());
        (1..=max)
            .rev()
            .find(|&k| self.prefixes.contains(&buf[buf.len() - k..]))
            .unwrap_or(0)
    }
}

/// A masking stream for one output channel.
pub struct MaskStream {
    masker: Arc<Masker>,
    pending: Vec<u8>,
    prev: Option<u8>,
}

impl MaskStream {
    /// Returns what can be written now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.masker.is_empty() {
            return chunk.to_vec();
        }
        self.pending.extend_from_slice(chunk);
        let m = &self.masker;
        let (ranges, undecided) = m.ranges(&self.pending, self.prev, false);
        let mut emit = self.pending.len() - m.holdback(&self.pending);
        if let Some(u) = undecided {
            emit = emit.min(u);
        }
        for &(s, e) in &ranges {
            if s < emit && e > emit {
                emit = s;
            }
        }
        let out = replace(&self.pending[..emit], ranges.iter().filter(|r| r.1 <= emit));
        if emit > 0 {
            self.prev = Some(self.pending[emit - 1]);
        }
        self.pending.drain(..emit);
        out
    }

    /// Masks and returns everything still held back; the stream can be reused afterwards.
    pub fn finish(&mut self) -> Vec<u8> {
        let (ranges, _) = self.masker.ranges(&self.pending, self.prev, true);
        let out = replace(&self.pending, ranges.iter());
        if let Some(&b) = self.pending.last() {
            self.prev = Some(b);
        }
        self.pending.clear();
        out
    }
}

fn replace<'a>(buf: &[u8], ranges: impl Iterator<Item = &'a (usize, usize)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len());
    let mut pos = 0;
    for &(s, e) in ranges {
        out.extend_from_slice(&buf[pos..s]);
        out.extend_from_slice(MASK_TOKEN);
        pos = e;
    }
    out.extend_from_slice(&buf[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker(values: &[&str]) -> Arc<Masker> {
        let secrets: Vec<Secret> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Secret::new(format!("ENV_{i}"), v.as_bytes().to_vec()))
            .collect();
        Arc::new(Masker::new(secrets.iter()))
    }

    fn m(values: &[&str], text: &str) -> String {
        masker(values).mask_str(text)
    }

    #[test]
    fn raw_and_encoded_forms() {
        let s = "s3cret/Value+1";
        assert_eq!(m(&[s], &format!("x {s} y")), "x *** y");
        let b64 = STANDARD.encode(format!("{s}\n"));
        assert_eq!(m(&[s], &format!("[{b64}]")), "[***]");
        for offset in [1, 2] {
            let enc = STANDARD.encode(format!("{}{s}", "x".repeat(offset)));
            assert!(
                !m(&[s], &enc).contains(&STANDARD.encode(s)[4..12]),
                "offset {offset}"
            );
        }
        assert_eq!(m(&[s], "s3cret%2fValue%2b1"), "***");
        assert_eq!(m(&[s], "s3cret%2FValue%2B1"), "***");
        let q = "it's a \"secret\"\nline";
        let json = serde_json::to_string(q).unwrap();
        assert_eq!(m(&[q], &json), "\"***\"");
        assert_eq!(m(&[q], "it'\\''s a \"secret\"\nline"), "***");
        assert_eq!(m(&["a b$c'd!x"], "a\\ b\\$c\\'d\\!x"), "***");
    }

    #[test]
    fn pem_lines_masked_alone() {
        let pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----\n";
        assert_eq!(
            m(&[pem], "got MIIEvQIBADANBgkqhkiG9w0B here"),
            "got *** here"
        );
    }

    #[test]
    fn overlapping_secrets_leave_no_residue() {
        assert_eq!(m(&["hunter22x", "hunter22xy"], "hunter22xy!"), "***!");
        assert_eq!(m(&["abcdefgh", "efghijkl"], "abcdefghijkl"), "***");
    }

    #[test]
    fn short_values() {
        let mk = masker(&["abc", "pass5"]);
        assert_eq!(mk.unmasked_names(), ["ENV_0"]);
        assert_eq!(
            mk.mask_str("abc pass5 xpass5x pass5_ (pass5)"),
            "abc *** xpass5x pass5_ (***)"
        );
    }

    #[test]
    fn streaming_split_and_immediate() {
        let mk = masker(&["secretvalue"]);
        let mut s = mk.stream();
        assert_eq!(s.push(b"hello "), b"hello ");
        assert_eq!(s.push(b"sec"), b"");
        assert_eq!(s.push(b"retval"), b"");
        let mut out = s.push(b"ue tail");
        out.extend(s.finish());
        assert_eq!(out, b"*** tail");
        let mut s = mk.stream();
        let mut out = vec![];
        for b in b"a secretvalue b secretvalu" {
            out.extend(s.push(&[*b]));
        }
        out.extend(s.finish());
        assert_eq!(out, b"a *** b secretvalu");
    }
}
