//! The compiled pattern set: a trie for exact matching and hold-back, and a 4-gram prefilter
//! that lets only candidate positions reach it; `emit` writes text with masked ranges.

use zeroize::Zeroize;

use super::escapes;
use super::trie::Trie;
use super::{Bytes, MASK_TOKEN, MIN_ANYWHERE, MIN_MASKED};

/// One compiled, immutable pattern set.
pub(super) struct PatternSet {
    pub(super) generation: u64,
    /// Every pattern (ASCII-lowercased) with its end marked: exact matching and hold-back.
    pub(super) trie: Trie,
    /// 4-grams at offsets `0..stride` of patterns of 8+ bytes, probed every `stride` bytes:
    /// the shortest such pattern minus 3 (at most `MAX_LONG_STRIDE`), so every one of them
    /// covers a whole 4-gram at one probe position at least.
    pub(super) long: Grams,
    /// The same, one bitset per offset (so the stride is its length): on a hit, which
    /// starts are worth checking.
    pub(super) long_at: Vec<Grams>,
    /// The first 8 bytes of patterns of 8+ bytes: a second filter before the trie walk.
    pub(super) long_head: Grams,
    /// 4-grams at offset 0 of patterns of 4-7 word bytes: probed at each token of 4-7 bytes.
    pub(super) short_word: Option<Grams>,
    /// 4-grams at offset 0 of other patterns of 4-7 bytes (with a non-word byte): probed at
    /// each token whose length is the length of such a pattern's leading word run, and after
    /// two non-word bytes when a pattern starts with one.
    pub(super) short_other: Option<Grams>,
    /// Bit `r`: some pattern of `short_other` starts with a run of exactly `r` word bytes.
    pub(super) other_runs: u8,
    /// 4-grams at offset 0 of every pattern: which tails may be held back.
    pub(super) first: Grams,
    /// The longest pattern.
    pub(super) max_len: usize,
}

impl PatternSet {
    pub(super) fn new(pats: &[Bytes], generation: u64) -> PatternSet {
        let long_stride = pats
            .iter()
            .map(|p| p.len())
            .filter(|&l| l >= MIN_ANYWHERE)
            .min()
            .map_or(MIN_ANYWHERE - 3, |l| (l - 3).min(MAX_LONG_STRIDE));
        // 2^18 bits: 32 KiB, so probes hit the L1 cache.
        let mut long = Grams::new(18);
        let mut long_at: Vec<Grams> = (0..long_stride).map(|_| Grams::new(16)).collect();
        let mut short_word = Grams::new(16);
        let mut short_other = Grams::new(16);
        let mut first = Grams::new(18);
        let mut long_head = Grams::new(16);
        let (mut has_word, mut has_other) = (false, false);
        let mut other_runs = 0u8;
        for p in pats {
            if p.len() >= MIN_ANYWHERE {
                long_head.insert(gram8(p));
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
            long_head,
            short_word: has_word.then_some(short_word),
            short_other: has_other.then_some(short_other),
            other_runs,
            first,
            max_len: pats.iter().map(|p| p.len()).max().unwrap_or(0),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.max_len == 0
    }

    /// Finds the valid matches in `view` and unions intersecting ones into sorted, disjoint
    /// ranges of the original bytes `raw`. `before` holds the bytes just before them (None at
    /// the start of the stream), `open` the length of a prefix of `raw` that belongs to a
    /// range already emitted as a token, and `eof` whether the stream ends with it. Also
    /// returns, in original coordinates, the start of the earliest short match that ends at
    /// the end, whose validity waits for the next byte.
    ///
    /// The raw bytes are searched as well when there are escape sequences: a value printed
    /// inside one (a terminal title, a hyperlink) is not text to a terminal, but it is to a
    /// log file or a pipe. A raw match made of text bytes only is the view's to judge.
    pub(super) fn scan(
        &self,
        raw: &[u8],
        view: &escapes::View<'_>,
        before: Before,
        open: usize,
        eof: bool,
    ) -> (Vec<(usize, usize)>, Option<usize>) {
        let (found, unsure) = self.find(view.text(), before.text, eof);
        let mut found: Vec<(usize, usize)> = found
            .into_iter()
            .map(|(s, e)| (view.orig(s), view.orig(e - 1) + 1))
            .collect();
        let mut unsure = unsure.map(|u| view.orig(u));
        if view.has_escapes() {
            // Only what the view could not see: a match with a byte that is not text.
            let (raw_found, raw_unsure) = self.find(raw, before.raw, eof);
            found.extend(
                raw_found
                    .into_iter()
                    .filter(|&(s, e)| view.text_len_before(e) - view.text_len_before(s) < e - s),
            );
            unsure = match (unsure, raw_unsure) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
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
    /// The text is filtered a block at a time, so that the text, its word bits and the
    /// candidate starts stay in cache however large the buffer is; a match may run past its
    /// block (the trie walks the whole text).
    pub(super) fn find(
        &self,
        text: &[u8],
        prev: Option<u8>,
        eof: bool,
    ) -> (Vec<(usize, usize)>, Option<usize>) {
        let mut found = Vec::new();
        let mut unsure: Option<usize> = None;
        if text.len() < MIN_MASKED || self.is_empty() {
            return (found, unsure);
        }
        let mut starts: Vec<usize> = Vec::new();
        let mut from = 0;
        while from < text.len() {
            let to = (from + FIND_BLOCK).min(text.len());
            starts.clear();
            self.long_starts(text, from, to, &mut starts);
            if self.short_word.is_some() || self.short_other.is_some() {
                let before = if from == 0 {
                    prev
                } else {
                    Some(text[from - 1])
                };
                let pushed = starts.len();
                self.short_starts(text, from, to, before, &mut starts);
                if starts.len() > pushed {
                    starts.sort_unstable();
                    starts.dedup();
                }
            }
            for &s in &starts {
                self.matches_from(text, s, prev, eof, &mut found, &mut unsure);
            }
            from = to;
        }
        (found, unsure)
    }

    /// Candidate starts of patterns of 8+ bytes, from the probes in `from..to`. A pattern of
    /// `len` bytes at `s` covers a probe position `i` (a multiple of the stride, at most
    /// `len - 3`) with `s <= i <= s + len - 4`, so `s` is one of `i-stride+1..=i`; its first
    /// 8 bytes must then be the start of some pattern too, which one more filter checks
    /// before the trie is walked.
    fn long_starts(&self, text: &[u8], from: usize, to: usize, starts: &mut Vec<usize>) {
        let n = text.len();
        let stride = self.long_at.len();
        // Probe positions `i` with `i < to` and a whole 4-gram at `i`.
        let end = to.min((n + 1).saturating_sub(4));
        let mut i = from.next_multiple_of(stride);
        while i < end {
            // Up to 64 probes first, without a branch, into a bit mask: the loads overlap
            // and a hit costs no mispredicted jump in the scan; then only the hits are checked.
            let count = (end - i).div_ceil(stride).min(64);
            let mut hits = 0u64;
            for k in 0..count {
                hits |= u64::from(self.long.has(gram(&text[i + k * stride..]))) << k;
            }
            while hits != 0 {
                let p = i + hits.trailing_zeros() as usize * stride;
                hits &= hits - 1;
                let g = gram(&text[p..]);
                // Offsets from the largest down to 0, so starts stay increasing.
                for off in (0..stride).rev() {
                    if off <= p
                        && self.long_at[off].has(g)
                        && (p - off + 8 > n || self.long_head.has(gram8(&text[p - off..])))
                    {
                        starts.push(p - off);
                    }
                }
            }
            i += count * stride;
        }
    }

    /// Candidate starts of patterns of 4-7 bytes in `from..to` (`from` a multiple of 64;
    /// `before`: the byte before it). Such a pattern starts where the byte before is not a
    /// word byte. One made of word bytes only is then a whole token of its length: only
    /// tokens of 4-7 bytes are probed for those, found 64 bytes at a time from a bit-per-byte
    /// word mask.
    fn short_starts(
        &self,
        text: &[u8],
        from: usize,
        to: usize,
        before: Option<u8>,
        starts: &mut Vec<usize>,
    ) {
        let n = text.len();
        // One word of bits past the block: a run may continue into the next block.
        let words = word_bits(&text[from..(to + 64).min(n)]);
        let block_words = (to - from).div_ceil(64);
        let mut carry = u64::from(before.is_some_and(is_word));
        for (j, &w) in words.iter().take(block_words).enumerate() {
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
            let base = from + 64 * j;
            let mut probe = |mut m: u64, bits: &Grams| {
                while m != 0 {
                    let i = base + m.trailing_zeros() as usize;
                    if i + MIN_MASKED <= n && bits.has(gram(&text[i..])) {
                        starts.push(i);
                    }
                    m &= m - 1;
                }
            };
            if let Some(short) = &self.short_word {
                // A token of 4-7 bytes.
                probe(token_start & runs[3] & !runs[7], short);
            }
            if let Some(short) = &self.short_other {
                // A token of exactly a first-run length of some pattern, or a non-word byte
                // after a non-word byte for patterns that start with one.
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

    /// Walks the trie from `s`: every pattern found there that is a valid match goes to
    /// `found`; a short one ending at the end waits for the next byte (`unsure`).
    fn matches_from(
        &self,
        text: &[u8],
        s: usize,
        prev: Option<u8>,
        eof: bool,
        found: &mut Vec<(usize, usize)>,
        unsure: &mut Option<usize>,
    ) {
        let n = text.len();
        self.trie.matches_at(&text[s..], |len| {
            let e = s + len;
            if len < MIN_ANYWHERE {
                let before = if s == 0 { prev } else { Some(text[s - 1]) };
                if before.is_some_and(is_word) {
                    return;
                }
                if e == n {
                    if !eof {
                        *unsure = Some(unsure.map_or(s, |u| u.min(s)));
                        return;
                    }
                } else if is_word(text[e]) {
                    return;
                }
            }
            found.push((s, e));
        });
    }

    /// How many trailing bytes of `text` could still grow into a match: the longest suffix
    /// that is a proper prefix of some pattern.
    pub(super) fn hold(&self, text: &[u8]) -> usize {
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

/// The byte before a buffer, as text (outside escape sequences) and raw.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Before {
    pub(super) text: Option<u8>,
    pub(super) raw: Option<u8>,
}

/// The longest probe stride: each offset up to it has a bitset to check on a hit, so a
/// larger stride trades fewer probes for more checks per hit.
const MAX_LONG_STRIDE: usize = 13;

/// The case-folded hash of the 4 bytes at the start of `b` (at least 4 long). `| 0x20` folds
/// ASCII letters (and a few other pairs: a filter may over-approximate).
#[inline]
pub(super) fn gram(b: &[u8]) -> u32 {
    let w = u32::from_le_bytes(b[..4].try_into().expect("4 bytes")) | 0x2020_2020;
    w.wrapping_mul(0x9E37_79B1)
}

/// The case-folded hash of the 8 bytes at the start of `b` (at least 8 long), folded as
/// [`gram`] folds.
#[inline]
pub(super) fn gram8(b: &[u8]) -> u32 {
    let w = u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) | 0x2020_2020_2020_2020;
    // The high half of the product mixes every input byte.
    u32::try_from(w.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32).unwrap_or(u32::MAX)
}

/// The text is filtered in blocks of this size (a multiple of 64: see `short_starts`).
const FIND_BLOCK: usize = 32 * 1024;

/// A bitset of 4-gram hashes.
pub(super) struct Grams {
    pub(super) bits: Vec<u64>,
    pub(super) shift: u32,
}

impl Grams {
    pub(super) fn new(log2: u32) -> Grams {
        Grams {
            bits: vec![0; 1 << (log2 - 6)],
            shift: 32 - log2,
        }
    }

    pub(super) fn insert(&mut self, h: u32) {
        let i = (h >> self.shift) as usize;
        self.bits[i >> 6] |= 1 << (i & 63);
    }

    #[inline]
    pub(super) fn has(&self, h: u32) -> bool {
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
pub(super) fn non_word_mask(w: u64) -> u64 {
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
pub(super) fn word_bits(text: &[u8]) -> Vec<u64> {
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
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Appends `buf[..cut]` to `out` with each range replaced by [`MASK_TOKEN`]. When
/// `first_open`, the first range was already emitted as a token and is skipped silently.
/// Returns how far past `cut` a range straddling `cut` reaches: its token is emitted now, and
/// that many bytes at the start of what remains belong to it.
pub(super) fn emit(
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
