//! Property tests for the masker: whole-buffer masking agrees with a brute-force reference,
//! streaming equals whole-buffer masking for every chunking, and no secret long enough to be
//! masked anywhere survives. Bytes come from a small alphabet
//! (word and non-word characters, blanks) so secrets, their prefixes and overlaps occur often.

use std::sync::Arc;

use proptest::prelude::*;

use jetlike::mask::Masker;
use jetlike::secret::Secret;

const ALPHABET: &[u8] = b"aab_- \n";

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..=max)
}

/// 1-4 secrets of 1-20 bytes; later ones are often a prefix, an extension or an overlap of
/// the first, so matches contain and intersect each other.
fn secrets() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec((0u8..4, 0usize..20, bytes(20)), 1..=4).prop_map(|specs| {
        let first = specs[0].2.clone();
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (kind, cut, own))| {
                let mut v = match (i, kind) {
                    (0, _) | (_, 0) => own,
                    (_, 1) => first[..cut.min(first.len())].to_vec(),
                    (_, 2) => [&first[..], &own[..]].concat(),
                    _ => [&first[cut.min(first.len())..], &own[..]].concat(),
                };
                v.truncate(20);
                if v.is_empty() {
                    v.push(b'a');
                }
                v
            })
            .collect()
    })
}

/// Output: random filler with secrets planted between pieces.
fn output(n_secrets: usize) -> impl Strategy<Value = Vec<(Vec<u8>, Option<usize>)>> {
    prop::collection::vec((bytes(8), prop::option::weighted(0.6, 0..n_secrets)), 0..12)
}

fn case() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u8>, Vec<usize>)> {
    secrets().prop_flat_map(|secrets| {
        let n = secrets.len();
        (
            Just(secrets),
            output(n),
            prop::collection::vec(0usize..400, 0..8),
        )
            .prop_map(|(secrets, pieces, cuts)| {
                let mut text = Vec::new();
                for (filler, planted) in pieces {
                    text.extend_from_slice(&filler);
                    if let Some(i) = planted {
                        text.extend_from_slice(&secrets[i]);
                    }
                }
                let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (text.len() + 1)).collect();
                cuts.sort_unstable();
                (secrets, text, cuts)
            })
    })
}

fn stream(m: &Arc<Masker>, text: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut s = m.stream();
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts {
        out.extend(s.push(&text[at..c]));
        at = c;
    }
    out.extend(s.push(&text[at..]));
    out.extend(s.finish());
    out
}

/// An independent, brute-force masker for texts over [`ALPHABET`]. Over that alphabet every
/// encoded variant other than the raw value, the trimmed value, the trimmed value reversed
/// and the lines either equals one
/// of those or contains a byte outside the alphabet (`\\`, `%`, `+`, a digit, or in base64 a
/// character that carries a byte's top six bits: `Y`, `X`, `L`, `I`, `C`), so these three forms
/// are all that can match and this reference must agree with `Masker::mask` exactly.
fn reference(secrets: &[Vec<u8>], text: &[u8]) -> Vec<u8> {
    let reversed: Vec<Vec<u8>> = secrets
        .iter()
        .map(|v| v.trim_ascii().iter().rev().copied().collect())
        .collect();
    let mut pats: Vec<&[u8]> = Vec::new();
    for (v, r) in secrets.iter().zip(&reversed) {
        let t = v.trim_ascii();
        if t.len() < 4 {
            continue;
        }
        pats.push(v);
        pats.push(t);
        pats.push(r);
        if v.contains(&b'\n') {
            pats.extend(
                v.split(|&b| b == b'\n')
                    .map(<[u8]>::trim_ascii)
                    .filter(|l| l.len() >= 8),
            );
        }
    }
    let word = |i: Option<usize>| {
        i.and_then(|i| text.get(i))
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for s in 0..text.len() {
        for p in &pats {
            let e = s + p.len();
            if text.get(s..e) == Some(p)
                && (p.len() >= 8 || (!word(s.checked_sub(1)) && !word(Some(e))))
            {
                ranges.push((s, e));
            }
        }
    }
    ranges.sort_unstable();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while i < ranges.len() {
        let (s, mut e) = ranges[i];
        while i < ranges.len() && ranges[i].0 < e {
            e = e.max(ranges[i].1);
            i += 1;
        }
        out.extend_from_slice(&text[pos..s]);
        out.extend_from_slice(b"***");
        pos = e;
    }
    out.extend_from_slice(&text[pos..]);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn streaming_matches_whole_buffer_and_hides_secrets((secrets, text, cuts) in case()) {
        let owned: Vec<Secret> = secrets
            .iter()
            .enumerate()
            .map(|(i, v)| Secret::new(format!("S{i}"), v.clone()))
            .collect();
        let m = Arc::new(Masker::new(owned.iter()));
        let whole = m.mask(&text);
        prop_assert_eq!(&whole, &reference(&secrets, &text), "reference");

        prop_assert_eq!(&stream(&m, &text, &cuts), &whole, "cuts {:?}", cuts);
        let ones: Vec<usize> = (1..text.len()).collect();
        prop_assert_eq!(&stream(&m, &text, &ones), &whole, "1-byte pushes");
        prop_assert_eq!(&stream(&m, &text, &[]), &whole, "one push");

        let unmasked = m.unmasked_names();
        for s in &owned {
            let v = s.expose();
            if unmasked.iter().any(|n| n == s.name()) {
                // Too short to mask: the caller warns by name instead.
                prop_assert!(v.trim_ascii().len() < 4);
                continue;
            }
            if v.len() >= 8 {
                prop_assert!(!contains(&whole, v), "{:?} survives in {:?}", s.name(), whole);
            }
            let t = v.trim_ascii();
            if t.len() >= 8 {
                prop_assert!(!contains(&whole, t));
            }
        }
    }
}

/// Printable ASCII except `*`, the mask token's byte.
fn printable() -> impl Strategy<Value = u8> {
    (0x20u8..0x7f).prop_map(|b| if b == b'*' { b'+' } else { b })
}

/// Encoded forms of a value, as a program might print them.
fn encoded(v: &[u8], how: u8, pad: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let with_pad = [pad, v].concat();
    match how {
        0 => base64::engine::general_purpose::STANDARD
            .encode(&with_pad)
            .into_bytes(),
        1 => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode([v, b"\n"].concat())
            .into_bytes(),
        2 => v
            .iter()
            .flat_map(|b| format!("{b:02x}").into_bytes())
            .collect(),
        3 => v
            .iter()
            .flat_map(|&b| match b {
                b'"' => b"\\\"".to_vec(),
                b'\\' => b"\\\\".to_vec(),
                b if b < 0x20 => format!("\\u{b:04x}").into_bytes(),
                b => vec![b],
            })
            .collect(),
        _ => v.to_vec(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The same equivalence with the full pattern set in play: arbitrary printable secrets
    /// planted raw and encoded (base64 at offsets 0-2, URL-safe of value + newline, hex, JSON).
    #[test]
    fn streaming_matches_whole_buffer_with_encodings(
        values in prop::collection::vec(prop::collection::vec(printable(), 4..20), 1..=3),
        plants in prop::collection::vec(
            (prop::collection::vec(printable(), 0..6), 0usize..3, 0u8..5, 0usize..3),
            0..8,
        ),
        cuts in prop::collection::vec(0usize..400, 0..6),
    ) {
        let owned: Vec<Secret> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Secret::new(format!("S{i}"), v.clone()))
            .collect();
        let m = Arc::new(Masker::new(owned.iter()));
        let mut text = Vec::new();
        for (filler, which, how, pad) in plants {
            text.extend_from_slice(&filler);
            text.extend(encoded(&values[which % values.len()], how, &b"xy"[..pad]));
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (text.len() + 1)).collect();
        cuts.sort_unstable();
        let whole = m.mask(&text);
        prop_assert_eq!(&stream(&m, &text, &cuts), &whole, "cuts {:?}", cuts);
        let ones: Vec<usize> = (1..text.len()).collect();
        prop_assert_eq!(&stream(&m, &text, &ones), &whole, "1-byte pushes");
        for v in &values {
            // `*` is never drawn, so a secret cannot be formed across a mask token.
            if v.len() >= 8 && v.trim_ascii().len() >= 4 {
                prop_assert!(!contains(&whole, v));
            }
        }
    }
}

/// Complete terminal escape sequences (CSI, OSC ended by BEL, a charset designation).
/// No secret's variant can match across these sequences' own bytes (none ends in a byte that
/// starts a variant of a secret over this alphabet: not `\\`, which starts JSON's `\\n`), so
/// the raw search adds nothing and matching is exactly transparent. What the raw search adds
/// (a value inside a terminal title or after a string terminator) is in the unit tests.
const ESCAPES: &[&[u8]] = &[
    b"\x1b[31m",
    b"\x1b[0m",
    b"\x1b[01;31m\x1b[K",
    b"\x1b]0;title\x07",
    b"\x1b]8;;http://h/\x07",
    b"\x1b(0",
];

/// Pieces that are not complete sequences: a lone ESC, an unterminated CSI or OSC.
const BROKEN: &[&[u8]] = &[b"\x1b", b"\x1b[", b"\x1b[3", b"\x1b]0;t", b"\x1b]0;t\x1b"];

fn strip(text: &[u8]) -> Vec<u8> {
    let mut out = text.to_vec();
    for e in ESCAPES {
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(e) {
                i += e.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Escape sequences anywhere, inside secrets too: matching looks through them (masking
    /// the text with the sequences then removing them equals masking the text without them),
    /// and streaming still equals whole-buffer masking for every chunking, broken sequences
    /// included.
    #[test]
    fn escape_sequences_are_transparent_and_streaming_still_matches(
        (secrets, text, cuts) in case(),
        inserts in prop::collection::vec((0usize..400, 0usize..ESCAPES.len()), 0..10),
        broken in prop::collection::vec((0usize..400, 0usize..BROKEN.len()), 0..3),
    ) {
        let owned: Vec<Secret> = secrets
            .iter()
            .enumerate()
            .map(|(i, v)| Secret::new(format!("S{i}"), v.clone()))
            .collect();
        let m = Arc::new(Masker::new(owned.iter()));
        let mut inserts = inserts;
        inserts.sort_unstable();
        let mut coloured = Vec::new();
        let mut at = 0;
        for (pos, which) in inserts {
            let pos = pos % (text.len() + 1);
            coloured.extend_from_slice(&text[at..pos.max(at)]);
            at = pos.max(at);
            coloured.extend_from_slice(ESCAPES[which]);
        }
        coloured.extend_from_slice(&text[at..]);
        let whole = m.mask(&coloured);
        prop_assert_eq!(strip(&whole), reference(&secrets, &text), "transparent");
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (coloured.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(&stream(&m, &coloured, &cuts), &whole, "cuts {:?}", cuts);
        let ones: Vec<usize> = (1..coloured.len()).collect();
        prop_assert_eq!(&stream(&m, &coloured, &ones), &whole, "1-byte pushes");

        let mut messy = coloured.clone();
        for (pos, which) in broken {
            let pos = pos % (messy.len() + 1);
            messy.splice(pos..pos, BROKEN[which].iter().copied());
        }
        let whole = m.mask(&messy);
        let ones: Vec<usize> = (1..messy.len()).collect();
        prop_assert_eq!(&stream(&m, &messy, &ones), &whole, "1-byte pushes, broken sequences");
        prop_assert_eq!(&stream(&m, &messy, &[messy.len() / 2]), &whole, "two halves");
    }
}
