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

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::engine::GeneralPurpose;
use base64::Engine as _;
use zeroize::{Zeroize, Zeroizing};

use crate::secret::Secret;

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
        for mut p in pats {
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
        let (ranges, _) = set.scan(&view, None, 0, true);
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
            prev: None,
        }
    }
}

/// One compiled, immutable pattern set.
struct PatternSet {
    generation: u64,
    /// Every pattern (ASCII-lowercased) with its end marked: exact matching and hold-back.
    trie: Trie,
    /// 4-grams at offsets 0-4 of patterns of 8+ bytes: probed every 5 bytes.
    long: Grams,
    /// The same, one bitset per offset: on a hit, which starts are worth checking.
    long_at: [Grams; LONG_STRIDE],
    /// 4-grams at offset 0 of patterns of 4-7 word bytes: probed at each token of 4-7 bytes.
    short_word: Option<Grams>,
    /// 4-grams at offset 0 of other patterns of 4-7 bytes (with a non-word byte): probed at
    /// each token whose length is the length of such a pattern's leading word run, and after
    /// two non-word bytes when a pattern starts with one.
    short_other: Option<Grams>,
    /// Bit `r`: some pattern of `short_other` starts with a run of exactly `r` word bytes.
    other_runs: u8,
    /// 4-grams at offset 0 of every pattern: which tails may be held back.
    first: Grams,
    /// The longest pattern.
    max_len: usize,
}

impl PatternSet {
    fn new(pats: &[Bytes], generation: u64) -> PatternSet {
        // 2^18 bits: 32 KiB, so probes hit the L1 cache.
        let mut long = Grams::new(18);
        let mut long_at: [Grams; LONG_STRIDE] = std::array::from_fn(|_| Grams::new(16));
        let mut short_word = Grams::new(16);
        let mut short_other = Grams::new(16);
        let mut first = Grams::new(18);
        let (mut has_word, mut has_other) = (false, false);
        let mut other_runs = 0u8;
        for p in pats {
            if p.len() >= MIN_ANYWHERE {
                for (off, at) in long_at.iter_mut().enumerate() {
                    long.insert(gram(&p[off..]));
                    at.insert(gram(&p[off..]));
                }
            } else if p.iter().all(|&b| is_word(b)) {
                has_word = true;
                short_word.insert(gram(p));
            } else {
                has_other = true;
                short_other.insert(gram(p));
                other_runs |= 1 << p.iter().take_while(|&&b| is_word(b)).count();
            }
            first.insert(gram(p));
        }
        PatternSet {
            generation,
            trie: Trie::new(pats),
            long,
            long_at,
            short_word: has_word.then_some(short_word),
            short_other: has_other.then_some(short_other),
            other_runs,
            first,
            max_len: pats.iter().map(|p| p.len()).max().unwrap_or(0),
        }
    }

    fn is_empty(&self) -> bool {
        self.max_len == 0
    }

    /// Finds the valid matches in `view` and unions intersecting ones into sorted, disjoint
    /// ranges of the original bytes. `prev` is the text byte just before the view (None at
    /// the start of the stream), `open` the length of a prefix of the view's bytes that
    /// belongs to a range already emitted as a token, and `eof` whether the stream ends with
    /// it. Also returns, in text (escape-free) coordinates, the start of the earliest short
    /// match that ends at the end of the text, whose validity waits for the next byte.
    fn scan(
        &self,
        view: &escapes::View<'_>,
        prev: Option<u8>,
        open: usize,
        eof: bool,
    ) -> (Vec<(usize, usize)>, Option<usize>) {
        let (found, unsure) = self.find(view.text(), prev, eof);
        let mut found: Vec<(usize, usize)> = found
            .into_iter()
            .map(|(s, e)| (view.orig(s), view.orig(e - 1) + 1))
            .collect();
        found.sort_unstable();
        let mut ranges = Vec::new();
        let mut cur = (open > 0).then_some((0, open));
        for (s, e) in found {
            match &mut cur {
                Some(c) if s < c.1 => c.1 = c.1.max(e),
                _ => {
                    ranges.extend(cur);
                    cur = Some((s, e));
                }
            }
        }
        ranges.extend(cur);
        (ranges, unsure)
    }

    /// Every valid match in `text` as (start, end), and the `unsure` start (see `scan`).
    fn find(
        &self,
        text: &[u8],
        prev: Option<u8>,
        eof: bool,
    ) -> (Vec<(usize, usize)>, Option<usize>) {
        let n = text.len();
        let mut found = Vec::new();
        let mut unsure: Option<usize> = None;
        if n < MIN_MASKED || self.is_empty() {
            return (found, unsure);
        }
        // Candidate starts, increasing. A pattern of 8+ bytes at `s` covers a probe position
        // `i` (a multiple of 5) with `s <= i <= s + len - 4`, so `s` is one of `i-4..=i`.
        let mut starts: Vec<usize> = Vec::new();
        let mut i = 0;
        while i + 4 <= n {
            let g = gram(&text[i..]);
            if self.long.has(g) {
                // Offsets 4..=0, so starts stay increasing.
                for off in (0..LONG_STRIDE).rev() {
                    if off <= i && self.long_at[off].has(g) {
                        starts.push(i - off);
                    }
                }
            }
            i += LONG_STRIDE;
        }
        // A pattern of 4-7 bytes starts where the byte before is not a word byte. One made
        // of word bytes only is then a whole token of its length: only tokens of 4-7 bytes
        // are probed for those, found 64 bytes at a time from a bit-per-byte word mask.
        let mut extra = Vec::new();
        if self.short_word.is_some() || self.short_other.is_some() {
            let words = word_bits(text);
            let mut carry = u64::from(prev.is_some_and(is_word));
            for (j, &w) in words.iter().enumerate() {
                let next = words.get(j + 1).copied().unwrap_or(0);
                let ahead = |k: u32| (w >> k) | (next << (64 - k));
                // `runs[r]`: a word byte starting a run of at least `r + 1` word bytes.
                let mut runs = [w; 8];
                for r in 1..8 {
                    runs[r] = runs[r - 1] & ahead(u32::try_from(r).unwrap_or(7));
                }
                let before_non_word = !((w << 1) | carry);
                carry = w >> 63;
                let token_start = w & before_non_word;
                let mut probe = |mut m: u64, bits: &Grams| {
                    while m != 0 {
                        let i = 64 * j + m.trailing_zeros() as usize;
                        if i + MIN_MASKED <= n && bits.has(gram(&text[i..])) {
                            extra.push(i);
                        }
                        m &= m - 1;
                    }
                };
                if let Some(short) = &self.short_word {
                    // A token of 4-7 bytes.
                    probe(token_start & runs[3] & !runs[7], short);
                }
                if let Some(short) = &self.short_other {
                    // A token of exactly a first-run length of some pattern, or a non-word
                    // byte after a non-word byte for patterns that start with one.
                    let mut m = 0;
                    for r in 1..7 {
                        if self.other_runs & (1 << r) != 0 {
                            m |= token_start & runs[r - 1] & !runs[r];
                        }
                    }
                    if self.other_runs & 1 != 0 {
                        m |= !w & before_non_word;
                    }
                    probe(m, short);
                }
            }
        }
        if !extra.is_empty() {
            starts.extend(extra);
            starts.sort_unstable();
            starts.dedup();
        }
        for s in starts {
            self.trie.matches_at(&text[s..], |len| {
                let e = s + len;
                if len < MIN_ANYWHERE {
                    let before = if s == 0 { prev } else { Some(text[s - 1]) };
                    if before.is_some_and(is_word) {
                        return;
                    }
                    if e == n {
                        if !eof {
                            unsure = Some(unsure.map_or(s, |u| u.min(s)));
                            return;
                        }
                    } else if is_word(text[e]) {
                        return;
                    }
                }
                found.push((s, e));
            });
        }
        (found, unsure)
    }

    /// How many trailing bytes of `text` could still grow into a match: the longest suffix
    /// that is a proper prefix of some pattern.
    fn hold(&self, text: &[u8]) -> usize {
        let n = text.len();
        let from = n.saturating_sub(self.max_len.saturating_sub(1));
        for j in from..n {
            let tail = &text[j..];
            if tail.len() >= 4 && !self.first.has(gram(tail)) {
                continue;
            }
            if self.trie.is_open_prefix(tail) {
                return n - j;
            }
        }
        0
    }
}

const LONG_STRIDE: usize = MIN_ANYWHERE - 3;

/// The case-folded hash of the 4 bytes at the start of `b` (at least 4 long). `| 0x20` folds
/// ASCII letters (and a few other pairs: a filter may over-approximate).
#[inline]
fn gram(b: &[u8]) -> u32 {
    let w = u32::from_le_bytes(b[..4].try_into().expect("4 bytes")) | 0x2020_2020;
    w.wrapping_mul(0x9E37_79B1)
}

/// A bitset of 4-gram hashes.
struct Grams {
    bits: Vec<u64>,
    shift: u32,
}

impl Grams {
    fn new(log2: u32) -> Grams {
        Grams {
            bits: vec![0; 1 << (log2 - 6)],
            shift: 32 - log2,
        }
    }

    fn insert(&mut self, h: u32) {
        let i = (h >> self.shift) as usize;
        self.bits[i >> 6] |= 1 << (i & 63);
    }

    #[inline]
    fn has(&self, h: u32) -> bool {
        let i = (h >> self.shift) as usize;
        self.bits[i >> 6] & (1 << (i & 63)) != 0
    }
}

impl Drop for Grams {
    /// The bits say little, but they are derived from secrets.
    fn drop(&mut self) {
        self.bits.zeroize();
    }
}

/// The high bit of each byte of `w` (8 bytes, little-endian) that is not a word byte: the
/// SWAR form of `!is_word`. No carry crosses a byte: every sum stays under 0x100.
#[inline]
fn non_word_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = w & !HIGH;
    let digit = (x + ONES * (0x80 - u64::from(b'0'))) & !(x + ONES * (0x7f - u64::from(b'9')));
    let y = x | (ONES * 0x20);
    let letter = (y + ONES * (0x80 - u64::from(b'a'))) & !(y + ONES * (0x7f - u64::from(b'z')));
    let z = x ^ (ONES * u64::from(b'_'));
    let not_underscore = (z + !HIGH) | z;
    let word = (digit | letter | !not_underscore) & !w & HIGH;
    !word & HIGH
}

/// Bit `i % 64` of word `i / 64` is set when `text[i]` is a word byte.
fn word_bits(text: &[u8]) -> Vec<u64> {
    let mut out = Vec::with_capacity(text.len().div_ceil(64));
    for block in text.chunks(64) {
        let mut bits = 0u64;
        let mut lanes = block.chunks_exact(8);
        for (k, lane) in lanes.by_ref().enumerate() {
            let w = u64::from_le_bytes(lane.try_into().expect("8 bytes"));
            // The high bit of each non-word byte, gathered into 8 bits (byte k -> bit k).
            let nw = ((non_word_mask(w) >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
            bits |= (!nw & 0xff) << (8 * k);
        }
        let done = block.len() - lanes.remainder().len();
        for (k, &b) in lanes.remainder().iter().enumerate() {
            bits |= u64::from(is_word(b)) << (done + k);
        }
        out.push(bits);
    }
    out
}

/// `[A-Za-z0-9_]`: a short pattern must not touch one of these on either side.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Appends `buf[..cut]` to `out` with each range replaced by [`MASK_TOKEN`]. When
/// `first_open`, the first range was already emitted as a token and is skipped silently.
/// Returns how far past `cut` a range straddling `cut` reaches: its token is emitted now, and
/// that many bytes at the start of what remains belong to it.
fn emit(
    buf: &[u8],
    ranges: &[(usize, usize)],
    first_open: bool,
    cut: usize,
    out: &mut Vec<u8>,
) -> usize {
    let mut pos = 0;
    for (i, &(s, e)) in ranges.iter().enumerate() {
        let emitted = first_open && i == 0;
        if s >= cut && !emitted {
            break;
        }
        if !emitted {
            out.extend_from_slice(&buf[pos..s]);
            out.extend_from_slice(MASK_TOKEN);
        }
        if e > cut {
            return e - cut;
        }
        pos = e;
    }
    if pos < cut {
        out.extend_from_slice(&buf[pos..cut]);
    }
    0
}

/// Masks one output stream as it is written. Concatenating every `push` result and the
/// `finish` result gives exactly `Masker::mask` of the whole output, for any chunking (while
/// no secret is added meanwhile; see [`Masker::add`] for what holds then).
///
/// Only the longest tail that is a proper prefix of some pattern is held back (plus a short
/// pattern that ends exactly at the end, until the next byte shows whether it ends a token,
/// and an escape sequence not yet complete); everything else is emitted at once, so prompts
/// show without delay and no timer is needed. A masked range that is still growing is
/// emitted as its token right away and the rest of it is swallowed as it arrives, so the
/// buffer never exceeds the longest pattern (with the escape sequences inside it) plus one
/// chunk.
pub struct MaskStream {
    masker: Arc<Masker>,
    /// The pattern set this stream last used; refreshed when the masker's generation moves.
    set: Arc<PatternSet>,
    /// Bytes received but not yet emitted.
    pending: Vec<u8>,
    /// Leading bytes of `pending` that belong to a range whose token was already emitted.
    open: usize,
    /// The last text byte (outside escape sequences) before `pending`, None at stream start.
    prev: Option<u8>,
}

impl MaskStream {
    fn refresh(&mut self) {
        if self.masker.generation.load(Ordering::Acquire) != self.set.generation {
            self.set = self.masker.set();
        }
    }

    /// Takes the next chunk of output; returns the masked bytes that can be emitted now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.refresh();
        if self.set.is_empty() && self.pending.is_empty() {
            return chunk.to_vec();
        }
        append_wiping(&mut self.pending, chunk);
        let set = &*self.set;
        let view = escapes::View::new(&self.pending);
        let text = view.text();
        let hold = set.hold(text);
        let (ranges, unsure) = set.scan(&view, self.prev, self.open, false);
        // Every match not yet complete starts inside the held tail, and so does every short
        // match still waiting for its right boundary: nothing before `cut` can change.
        let mut keep = text.len() - hold;
        if let Some(u) = unsure {
            keep = keep.min(u);
        }
        let mut cut = if keep < text.len() {
            view.orig(keep)
        } else {
            self.pending.len()
        };
        if let Some(inc) = view.incomplete() {
            cut = cut.min(inc);
        }
        let prev = if keep > 0 {
            Some(text[keep - 1])
        } else {
            self.prev
        };
        drop(view);
        let mut out = Vec::with_capacity(cut + MASK_TOKEN.len());
        self.open = emit(&self.pending, &ranges, self.open > 0, cut, &mut out);
        if cut > 0 {
            self.prev = prev;
            consume_wiping(&mut self.pending, cut);
        }
        out
    }

    /// Masks and returns everything still held: the stream has ended. The stream is then
    /// reset and may be used again as a new stream.
    pub fn finish(&mut self) -> Vec<u8> {
        self.refresh();
        let view = escapes::View::new(&self.pending);
        let (ranges, _) = self.set.scan(&view, self.prev, self.open, true);
        drop(view);
        let mut out = Vec::with_capacity(self.pending.len());
        emit(
            &self.pending,
            &ranges,
            self.open > 0,
            self.pending.len(),
            &mut out,
        );
        self.pending.zeroize();
        self.open = 0;
        self.prev = None;
        out
    }
}

impl Drop for MaskStream {
    /// Held-back bytes may be the start of a secret.
    fn drop(&mut self) {
        self.pending.zeroize();
    }
}

/// Appends without leaving a stale copy of the old contents behind when the vector grows.
fn append_wiping(buf: &mut Vec<u8>, chunk: &[u8]) {
    let need = buf.len() + chunk.len();
    if need > buf.capacity() {
        let mut grown = Vec::with_capacity(need.max(2 * buf.capacity()).max(64));
        grown.extend_from_slice(buf);
        buf.zeroize();
        *buf = grown;
    }
    buf.extend_from_slice(chunk);
}

/// Drops the first `n` bytes and wipes the spare capacity they vacate.
fn consume_wiping(buf: &mut Vec<u8>, n: usize) {
    let keep = buf.len() - n;
    buf.copy_within(n.., 0);
    buf[keep..].zeroize();
    buf.truncate(keep);
}

/// Terminal escape sequences are transparent to matching: the text a secret is looked for in
/// is the output without them, and a masked range runs from the first to the last text byte
/// of the match, swallowing the sequences inside it (those before and after stay).
///
/// Recognised (ECMA-48, byte by byte, so the same bytes split the same way whatever the
/// chunking): CSI `ESC [` parameters/intermediates (0x20-0x3F) then a final byte
/// (0x40-0x7E); OSC, DCS, SOS, PM, APC (`ESC ] P X ^ _`) up to BEL or ST (`ESC \`); other
/// `ESC` sequences (intermediates 0x20-0x2F, then a final 0x30-0x7E). A byte that does not
/// fit ends the sequence before it; a sequence longer than [`escapes::MAX_LEN`] bytes ends
/// there. A sequence still open at the end of a stream's buffer is held back until it is
/// complete (or the stream ends).
pub mod escapes {
    use std::borrow::Cow;

    /// A sequence ends after this many bytes, terminated or not.
    pub const MAX_LEN: usize = 1024;
    const ESC: u8 = 0x1b;

    /// Output bytes as matching sees them.
    pub(super) struct View<'a> {
        text: Cow<'a, [u8]>,
        /// (text position, original position) where each run of text bytes starts; empty
        /// when there is no escape sequence (text and original coincide).
        runs: Vec<(usize, usize)>,
        /// Start of a sequence still open at the end.
        incomplete: Option<usize>,
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum St {
        Esc,
        Inter,
        Csi,
        Str,
        StrEsc,
    }

    /// Where the escape sequence starting at `buf[start]` (an ESC) ends: `Ok(end)`, or
    /// `Err(())` when `buf` ends inside it.
    fn sequence_end(buf: &[u8], start: usize) -> Result<usize, ()> {
        let mut st = St::Esc;
        let mut i = start + 1;
        while i < buf.len() {
            if i - start >= MAX_LEN {
                return Ok(i);
            }
            let b = buf[i];
            st = match st {
                St::Esc => match b {
                    b'[' => St::Csi,
                    b']' | b'P' | b'X' | b'^' | b'_' => St::Str,
                    0x20..=0x2f => St::Inter,
                    0x30..=0x7e => return Ok(i + 1),
                    // Does not fit: the sequence ends before `b`.
                    _ => return Ok(i),
                },
                St::Inter => match b {
                    0x20..=0x2f => St::Inter,
                    0x30..=0x7e => return Ok(i + 1),
                    _ => return Ok(i),
                },
                St::Csi => match b {
                    0x20..=0x3f => St::Csi,
                    0x40..=0x7e => return Ok(i + 1),
                    _ => return Ok(i),
                },
                St::Str => match b {
                    0x07 => return Ok(i + 1),
                    ESC => St::StrEsc,
                    _ => St::Str,
                },
                // ST ends the string; any other ESC ends it and starts a sequence of its own.
                St::StrEsc if b == b'\\' => return Ok(i + 1),
                St::StrEsc => return Ok(i - 1),
            };
            i += 1;
        }
        Err(())
    }

    impl<'a> View<'a> {
        pub(super) fn new(buf: &'a [u8]) -> View<'a> {
            let Some(first) = memchr::memchr(ESC, buf) else {
                return View {
                    text: Cow::Borrowed(buf),
                    runs: Vec::new(),
                    incomplete: None,
                };
            };
            let mut text = Vec::with_capacity(buf.len());
            let mut runs = vec![(0, 0)];
            text.extend_from_slice(&buf[..first]);
            let mut i = first;
            let mut incomplete = None;
            while i < buf.len() {
                if let Ok(end) = sequence_end(buf, i) {
                    i = end;
                } else {
                    incomplete = Some(i);
                    break;
                }
                let next = memchr::memchr(ESC, &buf[i..]).map_or(buf.len(), |p| i + p);
                if next > i {
                    runs.push((text.len(), i));
                    text.extend_from_slice(&buf[i..next]);
                }
                i = next;
            }
            View {
                text: Cow::Owned(text),
                runs,
                incomplete,
            }
        }

        pub(super) fn text(&self) -> &[u8] {
            &self.text
        }

        /// The original position of text byte `k`.
        pub(super) fn orig(&self, k: usize) -> usize {
            if self.runs.is_empty() {
                return k;
            }
            let r = self.runs.partition_point(|&(t, _)| t <= k) - 1;
            let (t, o) = self.runs[r];
            o + (k - t)
        }

        pub(super) fn incomplete(&self) -> Option<usize> {
            self.incomplete
        }
    }

    impl Drop for View<'_> {
        fn drop(&mut self) {
            if let Cow::Owned(t) = &mut self.text {
                zeroize::Zeroize::zeroize(t);
            }
        }
    }
}

const ROOT: u32 = 0;
const NONE: u32 = u32::MAX;

/// Every pattern (ASCII-lowercased) as a trie; walked with lowercased text bytes, only at the
/// candidate positions the 4-gram filter lets through and over the tail a stream may hold.
struct Trie {
    /// Transitions from the root, by byte.
    root: Box<[u32; 256]>,
    nodes: Vec<TrieNode>,
}

struct TrieNode {
    label: u8,
    /// A pattern ends here.
    end: bool,
    first_child: u32,
    next_sibling: u32,
}

impl Trie {
    fn new(pats: &[Bytes]) -> Trie {
        let mut trie = Trie {
            root: Box::new([NONE; 256]),
            nodes: vec![TrieNode {
                label: 0,
                end: false,
                first_child: NONE,
                next_sibling: NONE,
            }],
        };
        for p in pats {
            let mut node = ROOT;
            for &b in p.iter() {
                node = if let Some(c) = trie.child(node, b) {
                    c
                } else {
                    let id = u32::try_from(trie.nodes.len()).expect("trie too large");
                    // The root's children live in its table, others in sibling lists.
                    let sibling = if node == ROOT {
                        trie.root[b as usize] = id;
                        NONE
                    } else {
                        std::mem::replace(&mut trie.nodes[node as usize].first_child, id)
                    };
                    trie.nodes.push(TrieNode {
                        label: b,
                        end: false,
                        first_child: NONE,
                        next_sibling: sibling,
                    });
                    id
                };
            }
            trie.nodes[node as usize].end = true;
        }
        trie
    }

    #[inline]
    fn child(&self, node: u32, b: u8) -> Option<u32> {
        if node == ROOT {
            let c = self.root[b as usize];
            return (c != NONE).then_some(c);
        }
        let mut c = self.nodes[node as usize].first_child;
        while c != NONE {
            let n = &self.nodes[c as usize];
            if n.label == b {
                return Some(c);
            }
            c = n.next_sibling;
        }
        None
    }

    /// Calls `f(len)` for every pattern that `text` starts with.
    fn matches_at(&self, text: &[u8], mut f: impl FnMut(usize)) {
        let mut node = ROOT;
        for (i, &b) in text.iter().enumerate() {
            match self.child(node, b.to_ascii_lowercase()) {
                Some(c) => node = c,
                None => return,
            }
            if self.nodes[node as usize].end {
                f(i + 1);
            }
        }
    }

    /// Whether `text` is a proper prefix of some pattern (a node with children).
    fn is_open_prefix(&self, text: &[u8]) -> bool {
        let mut node = ROOT;
        for &b in text {
            match self.child(node, b.to_ascii_lowercase()) {
                Some(c) => node = c,
                None => return false,
            }
        }
        self.nodes[node as usize].first_child != NONE
    }
}

impl Drop for Trie {
    /// The labels spell out the patterns.
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.label.zeroize();
        }
        self.root.zeroize();
    }
}

/// Every form of `value` worth masking, appended to `out` (unfiltered, undeduplicated).
fn variants(value: &[u8], out: &mut Vec<Bytes>) {
    let trimmed = value.trim_ascii();
    out.push(Zeroizing::new(value.to_vec()));
    encodings(value, out);
    if trimmed != value {
        out.push(Zeroizing::new(trimmed.to_vec()));
        encodings(trimmed, out);
    }
    // A multi-line value (a PEM key) is often printed one line at a time.
    if value.contains(&b'\n') {
        for line in value.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.len() >= MIN_LINE {
                out.push(Zeroizing::new(line.to_vec()));
            }
        }
    }
    text_forms(trimmed, out);
    // Reversed (`|reverse` in a template, `rev` on the target): masked from the start, before
    // any template derives it.
    let reversed: Zeroizing<Vec<u8>> = match std::str::from_utf8(trimmed) {
        Ok(s) => Zeroizing::new(s.chars().rev().collect::<String>().into_bytes()),
        Err(_) => Zeroizing::new(trimmed.iter().rev().copied().collect()),
    };
    if reversed[..] != *trimmed {
        out.push(reversed);
    }
}

/// Forms of a UTF-8 value that other programs produce from it: its Unicode upper and lower
/// case (ASCII case needs no pattern: matching ignores it), its normalisation forms (NFC,
/// NFD, NFKC, NFKD), each raw and JSON-escaped, and the UTF-16 LE and BE encodings of all of
/// these (`iconv -t UTF-16LE`, Windows tools, PowerShell). A value that is not UTF-8 gets
/// the UTF-16 of its bytes read as Latin-1.
fn text_forms(v: &[u8], out: &mut Vec<Bytes>) {
    use unicode_normalization::UnicodeNormalization;
    let mut forms: Vec<Zeroizing<String>> = Vec::new();
    match std::str::from_utf8(v) {
        Ok(s) => {
            forms.push(Zeroizing::new(s.to_string()));
            if !s.is_ascii() {
                let base = [s.to_string(), s.to_uppercase(), s.to_lowercase()];
                for b in &base {
                    forms.push(Zeroizing::new(b.clone()));
                    forms.push(Zeroizing::new(b.nfc().collect()));
                    forms.push(Zeroizing::new(b.nfd().collect()));
                    forms.push(Zeroizing::new(b.nfkc().collect()));
                    forms.push(Zeroizing::new(b.nfkd().collect()));
                }
                let mut base = base;
                base.iter_mut().for_each(zeroize::Zeroize::zeroize);
                forms.sort_unstable_by(|a, b| a[..].cmp(&b[..]));
                forms.dedup_by(|a, b| a[..] == b[..]);
            }
        }
        Err(_) => forms.push(Zeroizing::new(v.iter().map(|&b| char::from(b)).collect())),
    }
    for f in &forms {
        if f.as_bytes() != v {
            out.push(Zeroizing::new(f.as_bytes().to_vec()));
            out.extend(json_escape(f.as_bytes(), false, None));
            out.extend(json_escape(f.as_bytes(), false, Some(false)));
        }
        let mut le = Zeroizing::new(Vec::with_capacity(2 * f.len()));
        let mut be = Zeroizing::new(Vec::with_capacity(2 * f.len()));
        for unit in f.encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
            be.extend_from_slice(&unit.to_be_bytes());
        }
        out.push(le);
        out.push(be);
    }
}

/// The encoded forms of one value.
fn encodings(v: &[u8], out: &mut Vec<Bytes>) {
    // `echo "$S" | base64` encodes the value plus a newline.
    let mut with_nl = Zeroizing::new(v.to_vec());
    with_nl.push(b'\n');
    for input in [v, &with_nl[..]] {
        for engine in [&STANDARD, &URL_SAFE] {
            base64_forms(engine, input, out);
        }
    }
    for (slash, unicode) in [
        (false, None),
        (true, None),
        (false, Some(false)),
        (false, Some(true)),
        (true, Some(false)),
    ] {
        out.extend(json_escape(v, slash, unicode));
    }
    for upper in [true, false] {
        for (plus, keep_slash) in [(false, false), (true, false), (false, true)] {
            out.push(url_encode(v, upper, plus, keep_slash, b""));
        }
    }
    // JavaScript's encodeURIComponent leaves these unescaped.
    out.push(url_encode(v, true, false, false, b"!'()*"));
    out.push(replace_byte(v, b'\'', b"'\\''"));
    out.push(replace_byte(v, b'\'', b"'\"'\"'"));
    out.push(double_quote_inner(v));
    out.push(printf_q(v));
    out.extend(ansi_c_inner(v));
    out.push(markup_escape(v, b"&#39;"));
    out.push(markup_escape(v, b"&apos;"));
    out.push(hex(v, b"0123456789abcdef"));
    out.push(hex(v, b"0123456789ABCDEF"));
}

/// Full encodings (with and without `=`), the stable middles at offsets 0/1/2, and for the
/// standard alphabet the lines of the output wrapped at 76 (coreutils) and 64 (PEM, openssl).
fn base64_forms(engine: &GeneralPurpose, v: &[u8], out: &mut Vec<Bytes>) {
    let full = Zeroizing::new(engine.encode(v).into_bytes());
    let unpadded = full.iter().position(|&b| b == b'=').unwrap_or(full.len());
    out.push(Zeroizing::new(full[..unpadded].to_vec()));
    for offset in 0..3 {
        out.push(base64_middle(engine, v, offset));
    }
    if std::ptr::eq(engine, &STANDARD) {
        for width in [76, 64] {
            if full.len() > width {
                for line in full.chunks(width) {
                    out.push(Zeroizing::new(line.to_vec()));
                }
            }
        }
    }
    out.push(full);
}

/// The characters of base64(`offset` other bytes + `v`) that depend only on `v`'s bits: the
/// part that is the same whatever precedes or follows the value. Characters carrying bits of
/// the preceding bytes or of what follows (or padding) are dropped, as GitHub Actions does.
fn base64_middle(engine: &GeneralPurpose, v: &[u8], offset: usize) -> Bytes {
    let mut input = Zeroizing::new(vec![0u8; offset]);
    input.extend_from_slice(v);
    let enc = Zeroizing::new(engine.encode(&input[..]).into_bytes());
    let first = (8 * offset).div_ceil(6);
    let last = 8 * (offset + v.len()) / 6;
    Zeroizing::new(enc[first..last.max(first)].to_vec())
}

/// JSON string escaping as `serde_json` does it (`\"` `\\` `\n` `\r` `\t` `\b` `\f`, other
/// control characters as `\u00xx`); optionally `/` as `\/` (PHP), and optionally every
/// non-ASCII character as `\uXXXX` UTF-16 units in lower or upper case (Python, PHP, Java).
/// None when `unicode` is asked for and the value is not UTF-8.
fn json_escape(v: &[u8], slash: bool, unicode: Option<bool>) -> Option<Bytes> {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    let digits: &[u8; 16] = if unicode == Some(true) {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let u_escape = |out: &mut Vec<u8>, unit: u16| {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(digits[usize::from((unit >> shift) & 0xf)]);
        }
    };
    let ascii = |out: &mut Vec<u8>, b: u8| match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'/' if slash => out.extend_from_slice(b"\\/"),
        c if c < 0x20 => u_escape(out, u16::from(c)),
        c => out.push(c),
    };
    if unicode.is_none() {
        for &b in v {
            ascii(&mut out, b);
        }
    } else {
        let text = std::str::from_utf8(v).ok()?;
        let mut units = [0u16; 2];
        for ch in text.chars() {
            if ch.is_ascii() {
                ascii(&mut out, ch as u8);
            } else {
                for &unit in ch.encode_utf16(&mut units).iter() {
                    u_escape(&mut out, unit);
                }
            }
        }
    }
    Some(out)
}

/// Percent-encoding of everything but `A-Za-z0-9-._~` (and `keep`), in upper- or lower-case
/// hex; `plus` writes space as `+` (HTML forms), `keep_slash` leaves `/` alone (paths).
fn url_encode(v: &[u8], upper: bool, plus: bool, keep_slash: bool, keep: &[u8]) -> Bytes {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() * 3));
    for &b in v {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b);
        } else if b == b' ' && plus {
            out.push(b'+');
        } else if b == b'/' && keep_slash {
            out.push(b'/');
        } else {
            out.extend_from_slice(&[
                b'%',
                digits[usize::from(b >> 4)],
                digits[usize::from(b & 15)],
            ]);
        }
    }
    out
}

/// `v` with each `from` byte replaced by `to`: the inside of a single-quoted shell word
/// (`'\''` in sh, `'"'"'` as Python's `shlex.quote` writes it). The inside is registered rather
/// than the quoted word because it is a substring of it, so it masks at least as much.
fn replace_byte(v: &[u8], from: u8, to: &[u8]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for &b in v {
        if b == from {
            out.extend_from_slice(to);
        } else {
            out.push(b);
        }
    }
    out
}

/// The inside of a double-quoted shell word: `\` before `"`, `\`, `$` and `` ` ``.
fn double_quote_inner(v: &[u8]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for &b in v {
        if b"\"\\$`".contains(&b) {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// Bash `printf %q` for printable values: a backslash before each shell metacharacter,
/// blank and newline (bash's `bstab`), and before a leading `#` or `~`.
fn printf_q(v: &[u8]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for (i, &b) in v.iter().enumerate() {
        if b"\t\n !\"$&'()*,;<>?[\\]^`{|}".contains(&b) || (i == 0 && (b == b'#' || b == b'~')) {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// The inside of bash's `$'...'`, which `printf %q` uses for values with control characters
/// (a multi-line key): C escapes, `\\`, `\'`, other control bytes in octal. None when the
/// value has no control character (then `printf %q` backslash-quotes instead).
fn ansi_c_inner(v: &[u8]) -> Option<Bytes> {
    if !v.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for &b in v {
        let esc = match b {
            0x1b => Some(b'E'),
            0x07 => Some(b'a'),
            0x0b => Some(b'v'),
            0x08 => Some(b'b'),
            0x0c => Some(b'f'),
            b'\n' => Some(b'n'),
            b'\r' => Some(b'r'),
            b'\t' => Some(b't'),
            b'\\' | b'\'' => Some(b),
            _ => None,
        };
        match esc {
            Some(e) => out.extend_from_slice(&[b'\\', e]),
            None if b < 0x20 || b == 0x7f => out.extend_from_slice(&[
                b'\\',
                b'0' + (b >> 6),
                b'0' + ((b >> 3) & 7),
                b'0' + (b & 7),
            ]),
            None => out.push(b),
        }
    }
    Some(out)
}

/// HTML/XML text escaping (`&amp; &lt; &gt; &quot;` and the given form for `'`).
fn markup_escape(v: &[u8], apos: &[u8]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for &b in v {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(apos),
            _ => out.push(b),
        }
    }
    out
}

fn hex(v: &[u8], digits: &[u8; 16]) -> Bytes {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len() * 2));
    for &b in v {
        out.extend_from_slice(&[digits[usize::from(b >> 4)], digits[usize::from(b & 15)]]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
