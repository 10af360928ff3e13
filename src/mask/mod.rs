//! The masker: every byte jetlike writes passes through it.
//!
//! Every encoded variant of every secret is a pattern. Matching is ASCII case-insensitive
//! and looks through terminal escape sequences (see [`escapes`]): a secret printed in upper
//! case, or coloured in the middle by `grep --color=always`, is still masked. All overlapping
//! matches are found and intersecting ranges are unioned, so one secret containing or
//! overlapping another leaves no residue. [`Masker::mask`] masks a whole buffer and is the
//! oracle; [`MaskStream`] masks output as it arrives and produces exactly the same bytes for
//! every chunking, while delaying only bytes that could still be the start of a secret.
//!
//! Short values cannot be masked without wrecking output: values under 4 bytes (after
//! trimming) are not masked and are reported by name; patterns of 4-7 bytes match only as
//! whole tokens; patterns of 8 bytes and more match anywhere. Everything works on bytes.
//!
//! Secrets can be added while output flows ([`Masker::add`]): values derived from secrets by
//! templates, and what a sensitive task saved. See [`Masker::add`] for what a stream that is
//! mid-flight guarantees.
//!
//! Speed: a match can only start where a 4-byte window of the text is in a bitset of the
//! patterns' 4-grams (hashed, ASCII case folded), so ordinary text is scanned with one probe
//! every 5 bytes for the patterns of 8+ bytes, and, for those of 4-7 bytes (whole tokens
//! only), one probe per token of a fitting length, found 64 bytes at a time from a
//! bit-per-byte word mask. Only candidate positions are checked exactly, against a trie of
//! the patterns. `cargo bench --bench mask` measures it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use zeroize::Zeroizing;

use crate::secret::Secret;

pub mod escapes;
mod patterns;
mod stream;
mod trie;
mod variants;

use patterns::{emit, PatternSet};
pub use stream::MaskStream;
use variants::variants;

/// What each masked range becomes: constant, so nothing about the value (not even its
/// length) shows.
pub const MASK_TOKEN: &[u8] = b"***";
/// Secrets whose trimmed value is shorter than this are not masked (see `unmasked_names`).
pub const MIN_MASKED: usize = 4;
/// Patterns shorter than this match only between token boundaries.
pub const MIN_ANYWHERE: usize = 8;
/// A line of a multi-line secret becomes a pattern of its own from this length on.
const MIN_LINE: usize = 8;

/// A pattern or intermediate encoding: wiped when dropped, since it is derived from a secret.
type Bytes = Zeroizing<Vec<u8>>;

/// Masks secret values (and their common encodings) in output. `Send + Sync`; share it as
/// `Arc<Masker>` and open one [`MaskStream`] per output stream.
pub struct Masker {
    /// The compiled pattern set in force; replaced as a whole when secrets are added.
    current: RwLock<Arc<PatternSet>>,
    /// The generation of `current`; streams compare it on every push (one atomic load).
    generation: AtomicU64,
    /// Every pattern so far (folded, sorted, deduplicated) and the names too short to mask:
    /// the input of the next rebuild. Held while rebuilding, so additions are serialised.
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    patterns: Vec<Bytes>,
    unmasked: Vec<String>,
    /// Names in `unmasked` not yet handed out by `take_unwarned`.
    unwarned: Vec<String>,
}

impl std::fmt::Debug for Masker {
    /// Counts and names only: never a pattern.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.debug_struct("Masker")
            .field("patterns", &r.patterns.len())
            .field("unmasked", &r.unmasked)
            .finish_non_exhaustive()
    }
}

impl Masker {
    /// Builds the automaton over every variant of every secret. Secrets are read once; the
    /// intermediate copies made here are wiped.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Masker {
        let m = Masker::empty();
        m.add(secrets);
        m
    }

    /// A masker that masks nothing (before the secret set is known, or when there is none).
    pub fn empty() -> Masker {
        Masker {
            current: RwLock::new(Arc::new(PatternSet::new(&[], 0))),
            generation: AtomicU64::new(0),
            registry: Mutex::new(Registry::default()),
        }
    }

    /// Adds secrets while the run goes on (values derived from secrets by templates, what a
    /// sensitive task saved): every variant of each, with the same short-value rule as
    /// [`Masker::new`]. Returns the names of the added values too short to be masked (under
    /// 4 bytes trimmed), for the caller to warn about.
    ///
    /// Guarantee once `add` has returned: every later [`Masker::mask`] and every later
    /// `push`/`finish` of every [`MaskStream`] of this masker (whatever thread or host it
    /// serves) masks the new values, including in bytes a stream was still holding back;
    /// a stream recomputes its hold-back from its held bytes on each push, so nothing of its
    /// old state depends on the old set. Bytes a stream emitted before the call cannot be
    /// recalled: register a value before anything that could print it runs.
    pub fn add<'a>(&self, secrets: impl IntoIterator<Item = &'a Secret>) -> Vec<String> {
        let mut pats: Vec<Bytes> = Vec::new();
        let mut short = Vec::new();
        for secret in secrets {
            let value = secret.expose();
            if value.is_empty() {
                continue;
            }
            if value.trim_ascii().len() < MIN_MASKED {
                short.push(secret.name().to_string());
                continue;
            }
            variants(value, &mut pats);
        }
        let mut reg = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut changed = false;
        for name in &short {
            if let Err(at) = reg.unmasked.binary_search(name) {
                reg.unmasked.insert(at, name.clone());
                reg.unwarned.push(name.clone());
            }
        }
        let visible: Vec<Bytes> = pats.iter().filter_map(|p| escapes::visible(p)).collect();
        for mut p in pats.into_iter().chain(visible) {
            if p.len() < MIN_MASKED {
                continue;
            }
            p.make_ascii_lowercase();
            if let Err(at) = reg.patterns.binary_search_by(|q| q[..].cmp(&p[..])) {
                reg.patterns.insert(at, p);
                changed = true;
            }
        }
        if changed {
            let generation = self.generation.load(Ordering::Acquire) + 1;
            let set = Arc::new(PatternSet::new(&reg.patterns, generation));
            *self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = set;
            self.generation.store(generation, Ordering::Release);
        }
        short
    }

    fn set(&self) -> Arc<PatternSet> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// True when no pattern is registered: output passes through unchanged.
    pub fn is_empty(&self) -> bool {
        self.set().is_empty()
    }

    /// Masks a whole buffer at once. This is the reference that streaming must reproduce.
    pub fn mask(&self, input: &[u8]) -> Vec<u8> {
        let set = self.set();
        if set.is_empty() {
            return input.to_vec();
        }
        let view = escapes::View::new(input);
        let (ranges, _) = set.scan(input, &view, patterns::Before::default(), 0, true);
        let mut out = Vec::with_capacity(input.len());
        emit(input, &ranges, false, input.len(), &mut out);
        out
    }

    /// [`Masker::mask`] on text; masking may cut a multi-byte character, hence lossy.
    pub fn mask_str(&self, input: &str) -> String {
        String::from_utf8_lossy(&self.mask(input.as_bytes())).into_owned()
    }

    /// Names of secrets too short to mask (under 4 bytes after trimming), sorted and
    /// deduplicated, so the caller can warn about each by name.
    pub fn unmasked_names(&self) -> Vec<String> {
        let r = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        r.unmasked.clone()
    }

    /// The names of [`Masker::unmasked_names`] not returned by an earlier call, in the order
    /// they were added: each too-short value is warned about once, however often it is seen.
    pub fn take_unwarned(&self) -> Vec<String> {
        let mut r = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut r.unwarned)
    }

    /// The length of the longest pattern (0 when there is none). A caller that shows a
    /// window cut out of a longer output feeds this many bytes before the window (times two,
    /// plus room for escape sequences inside a match) through the same stream as context, so
    /// a secret that began before the window is still recognised.
    pub fn max_pattern_len(&self) -> usize {
        self.set().max_len
    }

    /// A streaming masker for one output stream (stdout, stderr, a remote command's output).
    pub fn stream(self: &Arc<Self>) -> MaskStream {
        MaskStream {
            masker: Arc::clone(self),
            set: self.set(),
            pending: Vec::new(),
            open: 0,
            before: patterns::Before::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::patterns::{is_word, non_word_mask, word_bits};
    use super::variants::base64_middle;
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine as _;

    fn masker(values: &[&[u8]]) -> Arc<Masker> {
        let secrets: Vec<Secret> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Secret::new(format!("S{i}"), v.to_vec()))
            .collect();
        Arc::new(Masker::new(&secrets))
    }

    fn m(values: &[&[u8]], text: &[u8]) -> String {
        String::from_utf8(masker(values).mask(text)).unwrap()
    }

    /// Streams `text` cut at `cuts`, checks the result against `mask`, and returns it.
    fn streamed(mk: &Arc<Masker>, text: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut s = mk.stream();
        let mut out = Vec::new();
        let mut at = 0;
        for &c in cuts {
            out.extend(s.push(&text[at..c]));
            at = c;
        }
        out.extend(s.push(&text[at..]));
        out.extend(s.finish());
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&mk.mask(text)),
            "cuts {cuts:?}"
        );
        out
    }

    fn b64(v: &[u8]) -> String {
        STANDARD.encode(v)
    }

    #[test]
    fn secrets_across_the_filter_block_boundaries_are_masked() {
        // Large buffers are filtered in blocks (patterns::find): a secret, long or short,
        // that starts just before a block boundary, straddles it or starts just after it is
        // masked all the same, whole and streamed.
        let long: &[u8] = b"Zq8-long-secret-Value";
        let pin: &[u8] = b"483920";
        let mk = masker(&[long, pin]);
        for at in [32 * 1024, 64 * 1024] {
            for shift in 0..24 {
                let mut text = b"ab cd ".repeat(at / 6 + 20_000 / 6);
                let mut placed = 0;
                for (pos, v) in [(at - shift, long), (at + 40 - shift, pin)] {
                    text[pos - 1] = b' ';
                    text[pos..pos + v.len()].copy_from_slice(v);
                    text[pos + v.len()] = b' ';
                    placed += 1;
                }
                let whole = mk.mask(&text);
                let token_count = whole
                    .windows(MASK_TOKEN.len())
                    .filter(|w| *w == MASK_TOKEN)
                    .count();
                assert_eq!(token_count, placed, "at {at}, shift {shift}");
                assert_eq!(streamed(&mk, &text, &[at - 7, at + 3]), whole);
            }
        }
    }

    #[test]
    fn long_secrets_are_found_at_every_offset_of_the_probe_stride() {
        // Long patterns are probed every `shortest - 3` bytes (up to 13), 64 probes at a
        // time: a secret of any length, at any position in and across those batches, is
        // masked, whole and streamed.
        let value: &[u8] = b"Zq8-lOng_secret-Value.with/many=parts+and-more-bytes-to-cut";
        for len in [8, 9, 12, 15, 16, 17, 24, 40, 59] {
            let secret = &value[..len];
            let mk = masker(&[secret]);
            for pos in (0..2 * 64 * 13 + 40).step_by(if len < 16 { 7 } else { 1 }) {
                let mut text = b"ab cd ".repeat(400);
                text[pos..pos + len].copy_from_slice(secret);
                let whole = mk.mask(&text);
                assert!(
                    !whole.windows(len).any(|w| w.eq_ignore_ascii_case(secret)),
                    "length {len} at {pos}: {}",
                    String::from_utf8_lossy(&whole)
                );
                assert_eq!(
                    whole
                        .windows(MASK_TOKEN.len())
                        .filter(|w| *w == MASK_TOKEN)
                        .count(),
                    1,
                    "length {len} at {pos}"
                );
                assert_eq!(streamed(&mk, &text, &[pos + 1, pos + len / 2]), whole);
            }
        }
    }

    #[test]
    fn raw_value() {
        assert_eq!(
            m(&[b"s3cr3t-value"], b"pw=s3cr3t-value; again s3cr3t-value\n"),
            "pw=***; again ***\n"
        );
        assert_eq!(m(&[b"s3cr3t-value"], b"nothing here"), "nothing here");
    }

    #[test]
    fn empty_masker_passes_through() {
        let e = Arc::new(Masker::empty());
        assert!(e.is_empty());
        assert_eq!(e.mask(b"abc"), b"abc");
        let mut s = e.stream();
        assert_eq!(s.push(b"abc"), b"abc");
        assert_eq!(s.finish(), b"");
        assert!(masker(&[b"", b"ab"]).is_empty());
        assert!(!masker(&[b"abcd"]).is_empty());
    }

    #[test]
    fn base64_of_echo_output() {
        // `echo "$S" | base64` encodes value + "\n"; 10 + 1 bytes is not a multiple of 3.
        let s = b"p4ssw0rd!!";
        let mut with_nl = s.to_vec();
        with_nl.push(b'\n');
        let text = format!("got {}\n", b64(&with_nl));
        assert_eq!(m(&[s], text.as_bytes()), "got ***\n");
        let text = format!("got {}\n", b64(s));
        assert_eq!(m(&[s], text.as_bytes()), "got ***\n");
        let text = format!("u={}", URL_SAFE.encode(b"\xfb\xff-secret-\xfe"));
        assert_eq!(m(&[b"\xfb\xff-secret-\xfe"], text.as_bytes()), "u=***");
    }

    #[test]
    fn base64_at_offsets_1_and_2() {
        let s = b"correct-horse-battery";
        for prefix in [&b"x"[..], b"xy", b"user:", b"ab:"] {
            let mut whole = prefix.to_vec();
            whole.extend_from_slice(s);
            whole.extend_from_slice(b"@host");
            let enc = b64(&whole);
            let out = m(&[s], enc.as_bytes());
            assert!(out.contains("***"), "{prefix:?}: {out}");
            // What is left is only the characters that carry the prefix and suffix bits.
            assert!(out.len() < enc.len() - 20, "{prefix:?}: {out}");
        }
    }

    #[test]
    fn json_escaped() {
        let s = b"pa\"ss\nw/rd\t\x01\xc3\xa9";
        assert_eq!(
            m(&[s], br#"{"password":"pa\"ss\nw/rd\t\u0001\u00e9"}"#),
            r#"{"password":"***"}"#
        );
        assert_eq!(
            m(&[s], br#"{"password":"pa\"ss\nw\/rd\t\u0001\u00e9"}"#),
            r#"{"password":"***"}"#
        );
        assert_eq!(
            m(
                &[s],
                "{\"password\":\"pa\\\"ss\\nw/rd\\t\\u0001\u{e9}\"}".as_bytes()
            ),
            r#"{"password":"***"}"#
        );
        assert_eq!(
            m(&[b"\xf0\x9f\x94\x91key-123"], br#"["\ud83d\udd11key-123"]"#),
            r#"["***"]"#
        );
    }

    #[test]
    fn url_encoded() {
        let s = b"p@ss w/rd:1";
        assert_eq!(m(&[s], b"?pw=p%40ss%20w%2frd%3a1&x"), "?pw=***&x");
        assert_eq!(m(&[s], b"?pw=p%40ss%20w%2Frd%3A1&x"), "?pw=***&x");
        assert_eq!(m(&[s], b"?pw=p%40ss+w%2Frd%3A1&x"), "?pw=***&x");
        assert_eq!(m(&[s], b"/p%40ss%20w/rd%3A1/"), "/***/");
    }

    #[test]
    fn shell_quoted() {
        let s = b"it's a $ecret";
        assert_eq!(m(&[s], br"echo it\'s\ a\ \$ecret"), "echo ***");
        assert_eq!(m(&[s], br"echo 'it'\''s a $ecret'"), "echo '***'");
        assert_eq!(m(&[s], br#"echo 'it'"'"'s a $ecret'"#), "echo '***'");
        assert_eq!(m(&[s], br#"echo "it's a \$ecret""#), "echo \"***\"");
        let pem = b"line-one-xx\nline-two-yy";
        assert_eq!(
            m(&[pem], br"printf $'line-one-xx\nline-two-yy'"),
            "printf $'***'"
        );
    }

    #[test]
    fn hex_and_markup() {
        let s = b"<tok&en>";
        assert_eq!(m(&[s], b"3c746f6b26656e3e"), "***");
        assert_eq!(m(&[s], b"3C746F6B26656E3E"), "***");
        assert_eq!(m(&[s], b"<v>&lt;tok&amp;en&gt;</v>"), "<v>***</v>");
    }

    #[test]
    fn pem_lines_masked_alone() {
        let key = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
        let mk = masker(&[key]);
        assert_eq!(mk.mask(key), b"***");
        assert_eq!(mk.mask(b"> MIIEvQIBADANBgkqhkiG9w0BAQEFAASC <"), b"> *** <");
        assert_eq!(mk.mask(b"BKcwggSjAgEAAoIBAQC7\n"), b"***\n");
        // The wrapped `base64` output of a long secret, line by line.
        let mut text = Vec::new();
        for line in b64(key).as_bytes().chunks(76) {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        let out = mk.mask(&text);
        assert!(!out.iter().any(u8::is_ascii_alphanumeric), "{out:?}");
    }

    #[test]
    fn overlapping_secrets_leave_no_residue() {
        assert_eq!(m(&[b"hunter2", b"hunter22"], b"hunter22"), "***");
        assert_eq!(m(&[b"hunter22", b"hunter2"], b"[hunter22]"), "[***]");
        assert_eq!(m(&[b"abcdefgh", b"efghijkl"], b"xabcdefghijklx"), "x***x");
        assert_eq!(
            m(&[b"abcdefgh", b"efghijkl"], b"abcdefgh efghijkl"),
            "*** ***"
        );
        // Adjacent but not intersecting: two tokens.
        assert_eq!(m(&[b"abcdefgh"], b"abcdefghabcdefgh"), "******");
        let mk = masker(&[b"hunter2", b"hunter22"]);
        for cut in 0..=8 {
            streamed(&mk, b"hunter22", &[cut]);
        }
    }

    #[test]
    fn short_values() {
        let secrets = [
            Secret::new("ENV_PIN", "123"),
            Secret::new("ENV_WS", "  ab \n"),
            Secret::new("ENV_PIN", "456"),
            Secret::new("ENV_EMPTY", ""),
            Secret::new("ENV_WORD", "tiger"),
        ];
        let mk = Masker::new(&secrets);
        assert_eq!(mk.unmasked_names(), vec!["ENV_PIN", "ENV_WS"]);
        assert_eq!(mk.mask_str("pin 123 ab"), "pin 123 ab");
        assert_eq!(mk.mask_str("tiger"), "***");
        assert_eq!(mk.mask_str("a tiger, (tiger)"), "a ***, (***)");
        assert_eq!(
            mk.mask_str("xxtigerxx tigers _tiger tiger9"),
            "xxtigerxx tigers _tiger tiger9"
        );
        assert_eq!(mk.mask_str("-tiger-"), "-***-");
    }

    #[test]
    fn short_value_streaming_waits_for_the_boundary() {
        let mk = masker(&[b"tiger"]);
        let mut s = mk.stream();
        assert_eq!(s.push(b"a tiger"), b"a ");
        assert_eq!(s.push(b" b"), b"*** b");
        assert_eq!(s.push(b" tiger"), b" ");
        assert_eq!(s.push(b"s"), b"tigers");
        assert_eq!(s.push(b" tiger"), b" ");
        assert_eq!(s.finish(), b"***");
        let text = b"tiger xtiger tigerx tiger_tiger-tiger";
        for i in 0..=text.len() {
            for j in i..=text.len() {
                streamed(&mk, text, &[i, j]);
            }
        }
    }

    #[test]
    fn split_across_pushes() {
        let mk = masker(&[b"secretvalue"]);
        let mut s = mk.stream();
        assert_eq!(s.push(b"pw: secr"), b"pw: ");
        assert_eq!(s.push(b"etvalue\n"), b"***\n");
        assert_eq!(s.finish(), b"");

        let text = b"a secretvalue b secretsecretvalue c secretvalu";
        let mut s = mk.stream();
        let mut out = Vec::new();
        for &b in text {
            out.extend(s.push(&[b]));
        }
        out.extend(s.finish());
        assert_eq!(out, b"a *** b secret*** c secretvalu");
    }

    #[test]
    fn ordinary_bytes_are_not_delayed() {
        let mk = masker(&[b"secretvalue"]);
        let mut s = mk.stream();
        assert_eq!(s.push(b"hello "), b"hello ");
        assert_eq!(s.push(b"Password: "), b"Password: ");
        // A partial prefix is held back until it can no longer become the secret.
        assert_eq!(s.push(b"sec"), b"");
        assert_eq!(s.push(b"ond"), b"second");
        assert_eq!(s.push(b" se"), b" ");
        assert_eq!(s.finish(), b"se");
    }

    #[test]
    fn growing_range_is_emitted_early_and_buffer_stays_small() {
        let mk = masker(&[b"aaaaaaaa"]);
        let mut s = mk.stream();
        let mut out = Vec::new();
        for _ in 0..1000 {
            out.extend(s.push(b"a"));
            assert!(s.pending.len() < 8);
        }
        assert_eq!(out, b"***");
        out.extend(s.push(b"b"));
        out.extend(s.finish());
        assert_eq!(out, b"***b");
    }

    #[test]
    fn every_two_and_three_chunk_split() {
        let mk = masker(&[b"hunter2", b"hunter22", b"abab-abab", b"tiger", b"r2hu"]);
        let text = b"x hunter22 abab-abab-abab hunter2hunter22 tiger r2hunter2 tiger";
        let n = text.len();
        for i in 0..=n {
            for j in i..=n {
                streamed(&mk, text, &[i, j]);
            }
        }
        for i in (0..=n).step_by(3) {
            for j in (i..=n).step_by(2) {
                for k in j..=n {
                    streamed(&mk, text, &[i, j, k]);
                }
            }
        }
        let ones: Vec<usize> = (1..n).collect();
        streamed(&mk, text, &ones);
    }

    #[test]
    fn finish_resets_the_stream() {
        let mk = masker(&[b"tiger"]);
        let mut s = mk.stream();
        assert_eq!(s.push(b"xtig"), b"x");
        assert_eq!(s.finish(), b"tig");
        assert_eq!(s.push(b"tiger"), b"");
        assert_eq!(s.finish(), b"***");
    }

    #[test]
    fn debug_shows_no_pattern() {
        let mk = masker(&[b"hunter2-secret"]);
        let shown = format!("{mk:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn masker_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Masker>();
        check::<Arc<Masker>>();
        check::<MaskStream>();
    }

    #[test]
    fn base64_middle_is_the_stable_part() {
        let v = b"0123456789";
        for offset in 0..3 {
            let mid = base64_middle(&STANDARD, v, offset);
            for pre in [&b"\x00\x00"[..], b"\xff\xff", b"zz"] {
                for post in [&b""[..], b"\xff", b"ab", b"\n"] {
                    let mut whole = pre[..offset].to_vec();
                    whole.extend_from_slice(v);
                    whole.extend_from_slice(post);
                    let enc = STANDARD.encode(&whole);
                    let mid = std::str::from_utf8(&mid).unwrap();
                    assert!(enc.contains(mid), "{offset} {pre:?} {post:?}");
                }
            }
        }
    }

    #[test]
    fn reversed_value_is_masked() {
        assert_eq!(m(&[b"secret-value-1"], b"[1-eulav-terces]"), "[***]");
        assert_eq!(
            m(&["grüße-secret".as_bytes()], "terces-eßürg".as_bytes()),
            "***"
        );
    }

    #[test]
    fn ascii_case_is_ignored() {
        let mk = masker(&[b"Hunter2-Secret"]);
        assert_eq!(
            mk.mask_str("a HUNTER2-SECRET b hunter2-secret c HuNtEr2-sEcReT"),
            "a *** b *** c ***"
        );
        let b = b64(b"Hunter2-Secret");
        assert_eq!(mk.mask_str(&b), "***");
        // Short values keep the whole-token rule in any case.
        let mk = masker(&[b"tiger"]);
        assert_eq!(mk.mask_str("TIGER Tigers"), "*** Tigers");
    }

    #[test]
    fn unicode_forms_and_utf16() {
        let nfc = "pässwört-Ω".as_bytes();
        let mk = masker(&[nfc]);
        let nfd = "pa\u{308}sswo\u{308}rt-\u{3a9}";
        assert_eq!(mk.mask_str(&format!("[{nfd}]")), "[***]");
        assert_eq!(mk.mask_str("[PÄSSWÖRT-Ω]"), "[***]");
        let le: Vec<u8> = "pässwört-Ω"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let be: Vec<u8> = "pässwört-Ω"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(mk.mask(&[b"<", &le[..], b">"].concat()), b"<***>");
        assert_eq!(mk.mask(&[b"<", &be[..], b">"].concat()), b"<***>");
        let ascii = masker(&[b"plain-secret"]);
        let le: Vec<u8> = b"plain-secret".iter().flat_map(|&b| [b, 0]).collect();
        assert_eq!(ascii.mask(&le), b"***");
        // NFKC: the ligature "ﬁ" folds to "fi".
        let mk = masker(&["ﬁnal-secret".as_bytes()]);
        assert_eq!(mk.mask_str("final-secret"), "***");
    }

    #[test]
    fn escape_sequences_are_transparent() {
        let mk = masker(&[b"secretvalue"]);
        // grep --color=always around part of the value; an OSC title in the middle.
        assert_eq!(
            mk.mask_str("a sec\x1b[01;31m\x1b[Kretva\x1b[m\x1b[Klue b"),
            "a *** b"
        );
        assert_eq!(
            mk.mask_str("x\x1b[1msecret\x1b]0;title\x07value\x1b[0m!"),
            "x\x1b[1m***\x1b[0m!"
        );
        assert_eq!(mk.mask_str("secret\x1b]8;;http://h\x1b\\value"), "***");
        assert_eq!(mk.mask_str("secret\x1b(Bvalue"), "***");
        // Not an escape sequence: a byte that cannot continue one ends it.
        assert_eq!(mk.mask_str("secret\x1b\nvalue"), "secret\x1b\nvalue");
        // A short value keeps its boundary rule across a colour change.
        let mk = masker(&[b"tiger"]);
        assert_eq!(
            mk.mask_str("\x1b[31mtiger\x1b[0m x"),
            "\x1b[31m***\x1b[0m x"
        );
        assert_eq!(mk.mask_str("a\x1b[31mtiger"), "a\x1b[31mtiger");
        let mk = masker(&[b"secretvalue", b"tiger"]);
        let text = b"a sec\x1b[31mret\x1b]0;t\x07value \x1b[1mtiger\x1b[0m tig\x1b[4mer \x1b[";
        for i in 0..=text.len() {
            for j in i..=text.len() {
                streamed(&mk, text, &[i, j]);
            }
        }
    }

    #[test]
    fn a_value_holding_an_escape_sequence_is_masked_as_printed() {
        // Found by the masker fuzz target: matching looks through escapes, so a pattern
        // holding one could never match and the value was printed whole.
        let mk = masker(&[
            b"subgro\x1bps: [b",
            b"\n\n[api]\n# from t\x1b",
            b"ab\x1b[1mcdefgh",
        ]);
        for text in [
            &b"x subgro\x1bps: [b, c]"[..],
            b"port\n\n[api]\n# from t\x1be env",
            b"<ab\x1b[1mcdefgh>",
            b"<ab\x1b[0mcdefgh>",
        ] {
            let out = mk.mask(text);
            assert!(out.windows(3).any(|w| w == MASK_TOKEN), "{out:?}");
            for secret in [&b"subgro"[..], b"[api]", b"cdefgh"] {
                assert!(!out.windows(secret.len()).any(|w| w == secret), "{out:?}");
            }
            streamed(&mk, text, &[1, 5, 9]);
        }
        // Printed raw, a value is masked whole, escape sequences at its ends included.
        let ends = masker(&[b"\x1b]0;title-secret", b"\x1b[31m\x1b[0m\x1b[1m"]);
        assert_eq!(
            ends.mask(b"a \x1b]0;title-secret\x07 \x1b[31m\x1b[0m\x1b[1m!"),
            b"a ***\x07 ***!"
        );
    }

    #[test]
    fn a_value_inside_an_escape_sequence_is_masked() {
        // Found by the masker fuzz target: an OSC string (a terminal title) or a run of
        // intermediate bytes is no text to a terminal, but it is to a log or a pipe.
        let mk = masker(&[b"title-secret", b"./../../../"]);
        for (text, want) in [
            (
                &b"\x1b]0;title-secret\x07 ok"[..],
                &b"\x1b]0;***\x07 ok"[..],
            ),
            (
                b"\x1b]8;;https://h/?t=title-secret\x1b\\x",
                b"\x1b]8;;https://h/?t=***\x1b\\x",
            ),
            (b"\x1b./../../../../../n", b"\x1b***n"),
        ] {
            assert_eq!(
                String::from_utf8_lossy(&mk.mask(text)),
                String::from_utf8_lossy(want)
            );
            for i in 0..text.len() {
                for j in i..text.len() {
                    streamed(&mk, text, &[i, j]);
                }
            }
        }
        // A short value inside a sequence is judged by its raw neighbours.
        let pin = masker(&[b"4711"]);
        let text = b"x\x1b]0;4711\x074711y";
        assert_eq!(pin.mask(text), b"x\x1b]0;***\x074711y");
        for i in 0..text.len() {
            streamed(&pin, text, &[i]);
        }
    }

    #[test]
    fn an_unterminated_escape_is_held_then_released() {
        let mk = masker(&[b"secretvalue"]);
        let mut s = mk.stream();
        assert_eq!(s.push(b"ok \x1b]0;ti"), b"ok ");
        assert_eq!(s.push(b"tle\x07 done\n"), b"\x1b]0;title\x07 done\n");
        // An OSC that never ends stops being one after MAX_LEN bytes.
        let mut long = b"\x1b]".to_vec();
        long.extend(std::iter::repeat_n(b'x', escapes::MAX_LEN + 10));
        let out = [s.push(&long), s.finish()].concat();
        assert_eq!(out, long);
    }

    #[test]
    fn secrets_added_at_run_time_reach_live_streams() {
        let mk = masker(&[b"secret-one"]);
        let mut s = mk.stream();
        // "secret-" is held: it may still become secret-one.
        assert_eq!(s.push(b"a secret-"), b"a ");
        assert!(mk.add(&[Secret::new("T", "secret-two")]).is_empty());
        assert_eq!(s.push(b"two b"), b"*** b");
        assert_eq!(s.finish(), b"");
        assert_eq!(mk.mask(b"SECRET-TWO"), b"***");
        let mut fresh = mk.stream();
        assert_eq!(
            [fresh.push(b"x secret-two"), fresh.finish()].concat(),
            b"x ***"
        );
        // Too short to mask: named once.
        assert_eq!(mk.add(&[Secret::new("P", "ab")]), vec!["P".to_string()]);
        assert_eq!(mk.take_unwarned(), vec!["P".to_string()]);
        assert!(mk.take_unwarned().is_empty());
        // Adding what is known already changes nothing.
        let before = format!("{mk:?}");
        mk.add(&[Secret::new("T2", "secret-two")]);
        assert_eq!(format!("{mk:?}"), before);
        // An empty masker that learns a secret starts masking.
        let e = Arc::new(Masker::empty());
        let mut s = e.stream();
        assert_eq!(s.push(b"x "), b"x ");
        e.add(&[Secret::new("L", "late-secret")]);
        assert_eq!([s.push(b"late-secret."), s.finish()].concat(), b"***.");
    }

    #[test]
    fn word_bits_agree_with_is_word() {
        let text: Vec<u8> = (0..=255u8)
            .chain(b"ab_9 -x".iter().copied())
            .cycle()
            .take(1000)
            .collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 130, 1000] {
            let bits = word_bits(&text[..len]);
            assert_eq!(bits.len(), len.div_ceil(64));
            for (i, &b) in text[..len].iter().enumerate() {
                assert_eq!(
                    bits[i / 64] >> (i % 64) & 1 == 1,
                    is_word(b),
                    "byte {i} of {len}"
                );
            }
        }
    }

    #[test]
    fn short_tokens_are_found_at_every_length_and_position() {
        let mk = masker(&[b"abcd", b"abcdefg", b"x-yz"]);
        for pad in 0..70 {
            let lead = "a".repeat(pad);
            let text = format!("{lead} abcd abcdefg abcde x-yz,ABCD\n");
            assert_eq!(
                mk.mask_str(&text),
                format!("{lead} *** *** abcde ***,***\n"),
                "pad {pad}"
            );
            let glued = format!("{lead}abcd");
            assert_eq!(
                mk.mask_str(&glued),
                if pad == 0 {
                    "***".to_string()
                } else {
                    glued.clone()
                }
            );
        }
    }

    #[test]
    fn non_word_mask_agrees_with_is_word_for_every_byte() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                // The other lanes hold bytes that could carry into or borrow from this one.
                let mut bytes = [0xffu8, 0x00, b'_', b'z', b'0', 0x7f, b'9', b'A'];
                bytes[lane] = b;
                let m = non_word_mask(u64::from_le_bytes(bytes));
                for (k, &x) in bytes.iter().enumerate() {
                    let set = m & (0x80 << (8 * k)) != 0;
                    assert_eq!(set, !is_word(x), "byte {x:#x} in lane {k}");
                }
                assert_eq!(m & !0x8080_8080_8080_8080, 0);
            }
        }
    }
}
