//! Old lines shown token by token: a word is shown only when text known not to be secret has
//! it; every other run prints as [`OLD_TOKEN`].

use std::collections::HashSet;

/// Words (alphanumeric runs) and single other characters.
pub(super) fn tokens(s: &str) -> Vec<&str> {
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

    pub(super) fn knows(&self, token: &str) -> bool {
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
pub(super) fn tokenwise(line: &str, known: &KnownText, credential: bool) -> (String, bool) {
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
        let before: Vec<usize> = (0..k).rev().collect();
        let after: Vec<usize> = (k + 1..toks.len()).collect();
        for side in [before, after] {
            // The symbols next to this word on one side, and what stops them.
            let stop = side
                .iter()
                .position(|&i| is_space(toks[i]) || word(toks[i]));
            let run = &side[..stop.unwrap_or(side.len())];
            let absorb = match stop.map(|s| side[s]) {
                None => true,
                Some(i) => is_space(toks[i]) || unknown[i],
            };
            if absorb {
                for &r in run {
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
