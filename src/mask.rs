//! The masker: every byte jetlike writes passes through it.
//!
//! One Aho-Corasick automaton covers every encoded variant of every secret. All overlapping
//! matches are found and intersecting ranges are unioned, so one secret containing or
//! overlapping another leaves no residue. [`Masker::mask`] masks a whole buffer and is the
//! oracle; [`MaskStream`] masks output as it arrives and produces exactly the same bytes for
//! every chunking, while delaying only bytes that could still be the start of a secret.
//!
//! Short values cannot be masked without wrecking output: values under 4 bytes (after
//! trimming) are not masked and are reported by name; patterns of 4-7 bytes match only as
//! whole tokens; patterns of 8 bytes and more match anywhere. Everything works on bytes.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
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
    /// `None` when there is nothing to mask.
    ac: Option<AhoCorasick>,
    /// Per pattern id: true when the pattern is short and must sit between token boundaries.
    boundary: Vec<bool>,
    /// The same patterns as a trie with failure links; streams use it to know how many trailing
    /// bytes could still grow into a match.
    trie: PrefixTrie,
    unmasked: Vec<String>,
}

impl std::fmt::Debug for Masker {
    /// Counts and names only: never a pattern.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("patterns", &self.boundary.len())
            .field("unmasked", &self.unmasked)
            .finish()
    }
}

impl Masker {
    /// Builds the automaton over every variant of every secret. Secrets are read once; the
    /// intermediate copies made here are wiped.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Masker {
        let mut pats: Vec<Bytes> = Vec::new();
        let mut unmasked = Vec::new();
        for secret in secrets {
            let value = secret.expose();
            if value.is_empty() {
                continue;
            }
            if value.trim_ascii().len() < MIN_MASKED {
                unmasked.push(secret.name().to_string());
                continue;
            }
            variants(value, &mut pats);
        }
        unmasked.sort();
        unmasked.dedup();
        pats.retain(|p| p.len() >= MIN_MASKED);
        pats.sort_unstable_by(|a, b| a[..].cmp(&b[..]));
        pats.dedup_by(|a, b| a[..] == b[..]);
        if pats.is_empty() {
            return Masker {
                unmasked,
                ..Masker::empty()
            };
        }
        // Building fails only when the automaton would need more than u32 states: far beyond
        // any real secret set. Refusing to run beats running unmasked.
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(pats.iter().map(|p| p.as_slice()))
            .expect("secret patterns too large for the masking automaton");
        Masker {
            ac: Some(ac),
            boundary: pats.iter().map(|p| p.len() < MIN_ANYWHERE).collect(),
            trie: PrefixTrie::new(&pats),
            unmasked,
        }
    }

    /// A masker that masks nothing (before the secret set is known, or when there is none).
    pub fn empty() -> Masker {
        Masker {
            ac: None,
            boundary: Vec::new(),
            trie: PrefixTrie::new(&[]),
            unmasked: Vec::new(),
        }
    }

    /// True when no pattern is registered: output passes through unchanged.
    pub fn is_empty(&self) -> bool {
        self.ac.is_none()
    }

    /// Masks a whole buffer at once. This is the reference that streaming must reproduce.
    pub fn mask(&self, input: &[u8]) -> Vec<u8> {
        if self.is_empty() {
            return input.to_vec();
        }
        let (ranges, _) = self.scan(input, None, 0, true);
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
        self.unmasked.clone()
    }

    /// The length of the longest pattern (0 when there is none). A caller that shows a
    /// window cut out of a longer output feeds this many bytes before the window (times two,
    /// for safety) through the same stream as context, so a secret that began before the
    /// window is still recognised.
    pub fn max_pattern_len(&self) -> usize {
        self.ac.as_ref().map_or(0, |ac| ac.max_pattern_len())
    }

    /// A streaming masker for one output stream (stdout, stderr, a remote command's output).
    pub fn stream(self: &Arc<Self>) -> MaskStream {
        MaskStream {
            masker: Arc::clone(self),
            pending: Vec::new(),
            open: 0,
            prev: None,
            state: ROOT,
        }
    }

    /// Finds the valid matches in `buf` and unions intersecting ones into sorted, disjoint
    /// ranges. `prev` is the byte just before `buf` (None at the start of the stream), `open`
    /// the length of a prefix of `buf` that belongs to a range already emitted as a token, and
    /// `eof` whether the stream ends with `buf`. Also returns the start of the earliest short
    /// match that ends at the end of `buf`, whose validity waits for the next byte.
    fn scan(
        &self,
        buf: &[u8],
        prev: Option<u8>,
        open: usize,
        eof: bool,
    ) -> (Vec<(usize, usize)>, Option<usize>) {
        let Some(ac) = &self.ac else {
            return (Vec::new(), None);
        };
        let mut found = Vec::new();
        let mut unsure: Option<usize> = None;
        for m in ac.find_overlapping_iter(buf) {
            let (s, e) = (m.start(), m.end());
            if self.boundary[m.pattern().as_usize()] {
                let before = if s == 0 { prev } else { Some(buf[s - 1]) };
                if before.is_some_and(is_word) {
                    continue;
                }
                if e == buf.len() {
                    if !eof {
                        unsure = Some(unsure.map_or(s, |u| u.min(s)));
                        continue;
                    }
                } else if is_word(buf[e]) {
                    continue;
                }
            }
            found.push((s, e));
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
/// `finish` result gives exactly `Masker::mask` of the whole output, for any chunking.
///
/// Only the longest tail that is a proper prefix of some pattern is held back (plus a short
/// pattern that ends exactly at the end, until the next byte shows whether it ends a token);
/// everything else is emitted at once, so prompts show without delay and no timer is needed.
/// A masked range that is still growing is emitted as its token right away and the rest of it
/// is swallowed as it arrives, so the buffer never exceeds the longest pattern plus one chunk.
pub struct MaskStream {
    masker: Arc<Masker>,
    /// Bytes received but not yet emitted.
    pending: Vec<u8>,
    /// Leading bytes of `pending` that belong to a range whose token was already emitted.
    open: usize,
    /// The last byte before `pending` (for the token-boundary check), None at stream start.
    prev: Option<u8>,
    /// Prefix-trie state after every byte received so far.
    state: u32,
}

impl MaskStream {
    /// Takes the next chunk of output; returns the masked bytes that can be emitted now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let masker = &*self.masker;
        if masker.is_empty() {
            return chunk.to_vec();
        }
        append_wiping(&mut self.pending, chunk);
        for &b in chunk {
            self.state = masker.trie.step(self.state, b);
        }
        let hold = masker.trie.hold(self.state);
        let (ranges, unsure) = masker.scan(&self.pending, self.prev, self.open, false);
        // Every match not yet complete starts inside the held tail, and so does every short
        // match still waiting for its right boundary: nothing before `cut` can change.
        let mut cut = self.pending.len() - hold;
        if let Some(u) = unsure {
            cut = cut.min(u);
        }
        let mut out = Vec::with_capacity(cut + MASK_TOKEN.len());
        self.open = emit(&self.pending, &ranges, self.open > 0, cut, &mut out);
        if cut > 0 {
            self.prev = Some(self.pending[cut - 1]);
            consume_wiping(&mut self.pending, cut);
        }
        out
    }

    /// Masks and returns everything still held: the stream has ended. The stream is then
    /// reset and may be used again as a new stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let masker = &*self.masker;
        let (ranges, _) = masker.scan(&self.pending, self.prev, self.open, true);
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
        self.state = ROOT;
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

const ROOT: u32 = 0;
const NONE: u32 = u32::MAX;

/// Every pattern as a trie with Aho-Corasick failure links, kept next to the automaton
/// because `aho-corasick` does not expose state depths. A stream keeps its state in this trie,
/// advancing it only over new bytes, so finding the tail to hold back costs O(1) per byte,
/// never a rescan of history.
struct PrefixTrie {
    /// Transitions from the root, by byte (the hot path for ordinary output).
    root: Box<[u32; 256]>,
    nodes: Vec<TrieNode>,
}

struct TrieNode {
    label: u8,
    first_child: u32,
    next_sibling: u32,
    fail: u32,
    /// Length of the longest suffix of this node's string (itself included) that is a proper
    /// prefix of some pattern, i.e. the longest trie node on the failure chain with children.
    hold: u32,
}

impl PrefixTrie {
    fn new(pats: &[Bytes]) -> PrefixTrie {
        let mut trie = PrefixTrie {
            root: Box::new([NONE; 256]),
            nodes: vec![TrieNode {
                label: 0,
                first_child: NONE,
                next_sibling: NONE,
                fail: ROOT,
                hold: 0,
            }],
        };
        let mut depth = vec![0u32];
        for p in pats {
            let mut node = ROOT;
            for &b in p.iter() {
                node = match trie.child(node, b) {
                    Some(c) => c,
                    None => {
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
                            first_child: NONE,
                            next_sibling: sibling,
                            fail: ROOT,
                            hold: 0,
                        });
                        depth.push(depth[node as usize] + 1);
                        id
                    }
                };
            }
        }
        // Breadth-first, so a node's failure target (shallower) is complete before the node.
        let mut queue = std::collections::VecDeque::new();
        for &c in trie.root.iter() {
            if c != NONE {
                queue.push_back(c);
            }
        }
        while let Some(u) = queue.pop_front() {
            let fail = trie.nodes[u as usize].fail;
            let has_children = trie.nodes[u as usize].first_child != NONE;
            trie.nodes[u as usize].hold = if has_children {
                depth[u as usize]
            } else {
                trie.nodes[fail as usize].hold
            };
            let mut c = trie.nodes[u as usize].first_child;
            while c != NONE {
                let label = trie.nodes[c as usize].label;
                trie.nodes[c as usize].fail = trie.step(fail, label);
                queue.push_back(c);
                c = trie.nodes[c as usize].next_sibling;
            }
        }
        trie
    }

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

    /// The state after reading `b` in `state`: the longest suffix that is a trie node.
    fn step(&self, mut state: u32, b: u8) -> u32 {
        loop {
            if let Some(c) = self.child(state, b) {
                return c;
            }
            if state == ROOT {
                return ROOT;
            }
            state = self.nodes[state as usize].fail;
        }
    }

    /// How many trailing bytes to hold back in `state`.
    fn hold(&self, state: u32) -> usize {
        self.nodes[state as usize].hold as usize
    }
}

impl Drop for PrefixTrie {
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

/// JSON string escaping as serde_json does it (`\"` `\\` `\n` `\r` `\t` `\b` `\f`, other
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
    match unicode {
        None => v.iter().for_each(|&b| ascii(&mut out, b)),
        Some(_) => {
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
        assert!(!out.iter().any(|b| b.is_ascii_alphanumeric()), "{out:?}");
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
        for &b in text.iter() {
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
}
