//! What a command's output becomes while it streams: live lines for `-vvv` (masked, whole,
//! prefixed by their host), the bounded value a `save:` keeps, and a bounded raw tail for the
//! failure display. Nothing here holds a whole output: memory is bounded by the save limit
//! (only when the output must be kept) plus a few tens of KiB.

use std::sync::Arc;

use zeroize::{Zeroize, Zeroizing};

use crate::connection::OutputSink;
use crate::mask::{MaskStream, Masker};
use crate::output::Output;

/// What a `save:` keeps by default (and what `failed_when`/`changed_when` see of `out`).
pub const DEFAULT_SAVE_LIMIT: u64 = 16 * 1024 * 1024;
/// The failure display shows at most this many of the last lines...
pub const TAIL_LINES: usize = 50;
/// ...and at most this many of the last bytes.
pub const TAIL_BYTES: usize = 32 * 1024;
/// A line longer than this is shown live in pieces of this size (so a newline-free output
/// cannot grow a buffer without bound).
pub const MAX_LINE_PIECE: usize = 64 * 1024;

/// Who a live line belongs to (defined with the events, so that output never imports capture).
pub use crate::output::LiveHead;

/// `-vvv`: output masked by a stream of its own (so a secret split across chunks or lines is
/// masked before the output is cut into lines), then written as whole lines.
struct Live {
    output: Arc<Output>,
    head: LiveHead,
    mask: MaskStream,
    /// Masked bytes of a line not complete yet (under `MAX_LINE_PIECE`).
    partial: Vec<u8>,
    /// `partial` continues a piece already written.
    continued: bool,
}

impl Live {
    fn push(&mut self, chunk: &[u8]) {
        let masked = self.mask.push(chunk);
        self.take(&masked, false);
    }

    fn finish(&mut self) {
        let masked = self.mask.finish();
        self.take(&masked, true);
    }

    fn take(&mut self, masked: &[u8], eof: bool) {
        // Whole lines go out straight from `masked` (the held part of a line first).
        if let Some(last) = memchr::memrchr(b'\n', masked) {
            let head = std::mem::take(&mut self.partial);
            self.emit(&head, &masked[..last], false);
            self.partial.extend_from_slice(&masked[last + 1..]);
        } else {
            self.partial.extend_from_slice(masked);
        }
        while self.partial.len() > MAX_LINE_PIECE {
            let rest = self.partial.split_off(MAX_LINE_PIECE);
            let piece = std::mem::replace(&mut self.partial, rest);
            self.emit(&[], &piece, true);
        }
        if eof && !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.emit(&[], &last, false);
        }
    }

    /// `head` + `text`: masked lines without their last newline; `partial`: its last line
    /// goes on.
    fn emit(&mut self, head: &[u8], text: &[u8], partial: bool) {
        self.output
            .output_lines(&self.head, head, text, self.continued, partial);
        self.continued = partial;
    }
}

/// The last bytes of the raw output, with enough context before them to mask them correctly
/// when they are shown (see `Tail::show`).
struct Tail {
    window: Zeroizing<Vec<u8>>,
    cap: usize,
    /// Bytes were dropped from the front.
    cut: bool,
}

impl Tail {
    fn new(lead: usize) -> Tail {
        Tail {
            window: Zeroizing::new(Vec::new()),
            cap: TAIL_BYTES + lead,
            cut: false,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        if chunk.len() >= self.cap {
            self.window.clear();
            self.window
                .extend_from_slice(&chunk[chunk.len() - self.cap..]);
            self.cut = true;
            return;
        }
        if self.window.len() + chunk.len() > 2 * self.cap {
            let drop = self.window.len() + chunk.len() - self.cap;
            let keep = self.window.len() - drop;
            self.window.copy_within(drop.., 0);
            self.window[keep..].zeroize();
            self.window.truncate(keep);
            self.cut = true;
        }
        self.window.extend_from_slice(chunk);
    }

    /// The last lines, masked, and how many lines of the output they leave out. When bytes
    /// were dropped, the first `2 × longest pattern` bytes of the window are context only:
    /// they go through the same masking stream first (so a secret that began before the
    /// shown part is recognised and masked whole) and are not shown.
    fn show(&self, masker: &Arc<Masker>, total_lines: usize) -> (String, usize) {
        let w = &self.window[..];
        let (skip, mid_line) = if self.cut {
            let from = (2 * masker.max_pattern_len() + 64).min(w.len());
            match memchr::memchr(b'\n', &w[from..]) {
                Some(i) => (from + i + 1, false),
                None => (from, true),
            }
        } else {
            (0, false)
        };
        let mut stream = masker.stream();
        drop(Zeroizing::new(stream.push(&w[..skip])));
        let mut shown = stream.push(&w[skip..]);
        shown.extend(stream.finish());
        let text = String::from_utf8_lossy(&shown);
        let mut lines: Vec<&str> = text.split('\n').collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        let from = lines.len().saturating_sub(TAIL_LINES);
        let mut out = String::new();
        for (i, l) in lines[from..].iter().enumerate() {
            if i == 0 && from == 0 && mid_line {
                out.push('…');
            }
            out.push_str(l);
            out.push('\n');
        }
        let shown_lines = lines.len() - from;
        (out, total_lines.saturating_sub(shown_lines))
    }
}

/// What a command's output is collected into while it streams.
pub struct Capture {
    live: Option<Live>,
    /// The bytes kept for `save:` and the conditions, up to the limit.
    keep: Option<Vec<u8>>,
    limit: u64,
    seen: u64,
    newlines: usize,
    last: Option<u8>,
    tail: Tail,
}

/// The result of a capture.
pub struct Captured {
    /// Lines of output (a last line without newline counts).
    pub lines: usize,
    /// The kept output, when asked for and within the limit.
    pub kept: Option<Vec<u8>>,
    /// The output was larger than the limit (nothing was kept).
    pub over_limit: bool,
    tail: Tail,
}

impl Captured {
    /// The last lines (masked) and how many lines they leave out.
    pub fn tail(&self, masker: &Arc<Masker>) -> (String, usize) {
        self.tail.show(masker, self.lines)
    }
}

impl Capture {
    /// `live`: show the output as it arrives (through that sink); `keep`: keep it, up to
    /// `limit` bytes.
    pub fn new(live: Option<(Arc<Output>, LiveHead)>, keep: bool, limit: u64) -> Capture {
        let masker = crate::output::current_masker();
        Capture {
            tail: Tail::new(2 * masker.max_pattern_len() + 64),
            live: live.map(|(output, head)| Live {
                output,
                head,
                mask: masker.stream(),
                partial: Vec::new(),
                continued: false,
            }),
            keep: keep.then(Vec::new),
            limit,
            seen: 0,
            newlines: 0,
            last: None,
        }
    }

    pub fn finish(mut self) -> Captured {
        if let Some(l) = &mut self.live {
            l.finish();
        }
        let over_limit = self.seen > self.limit && self.keep.is_some();
        Captured {
            lines: self.newlines + usize::from(self.last.is_some_and(|b| b != b'\n')),
            kept: if over_limit { None } else { self.keep.take() },
            over_limit,
            tail: std::mem::replace(&mut self.tail, Tail::new(0)),
        }
    }
}

impl OutputSink for Capture {
    fn chunk(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.seen += bytes.len() as u64;
        self.newlines += memchr::memchr_iter(b'\n', bytes).count();
        self.last = bytes.last().copied();
        if let Some(k) = &mut self.keep {
            if self.seen <= self.limit {
                k.extend_from_slice(bytes);
            } else if !k.is_empty() {
                // Over the limit: the task will fail; keep nothing.
                *k = Vec::new();
            }
        }
        self.tail.push(bytes);
        if let Some(l) = &mut self.live {
            l.push(bytes);
        }
    }
}

/// `16 MiB`, `512 KiB`, `100 bytes`: a limit as people read it.
pub fn human_size(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, size) in UNITS {
        if n >= size && n % size == 0 {
            return format!("{} {name}", n / size);
        }
    }
    format!("{n} bytes")
}

/// Parses `16MiB`, `16 MiB`, `16M`, `512k`, `1GiB` or a plain number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("{s:?} is not a size: write a number of bytes or e.g. 64MiB, 512KiB, 1GiB")
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{s:?} is not a size: units are KiB, MiB, GiB (binary), e.g. 64MiB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("16 MiB"), Ok(16 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert_eq!(human_size(16 << 20), "16 MiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }

    #[test]
    fn tail_masks_a_secret_cut_by_the_window() {
        let secret = Secret::new("S", "cut-me-secret-value-0123456789".as_bytes().to_vec());
        let masker = Arc::new(Masker::new([&secret]));
        let lead = 2 * masker.max_pattern_len() + 64;
        // The secret sits wherever the window may cut it: at every offset near the cut.
        for shift in 0..40 {
            let mut t = Tail::new(lead);
            let mut total = 0;
            let mut data = Vec::new();
            for i in 0..20_000 {
                data.extend_from_slice(format!("line {i} ").as_bytes());
                if i % 7 == 0 {
                    data.extend(std::iter::repeat_n(b'x', shift));
                    data.extend_from_slice(b"cut-me-secret-value-0123456789");
                }
                data.push(b'\n');
                total += 1;
            }
            for c in data.chunks(1000 + shift) {
                t.push(c);
            }
            assert!(t.cut);
            let (shown, omitted) = t.show(&masker, total);
            assert!(shown.contains("line 19998 \n") && shown.contains("line 19999 "));
            assert_eq!(shown.lines().count(), TAIL_LINES);
            assert_eq!(omitted, total - TAIL_LINES);
            // No fragment of the secret of 8 bytes or more.
            let v = "cut-me-secret-value-0123456789";
            for i in 0..v.len() - 8 {
                assert!(!shown.contains(&v[i..i + 8]), "{shown}");
            }
        }
    }

    #[test]
    fn one_long_line_is_shown_cut_and_masked() {
        let secret = Secret::new("S", "long-line-secret-ABCDEFGH".as_bytes().to_vec());
        let masker = Arc::new(Masker::new([&secret]));
        let mut t = Tail::new(2 * masker.max_pattern_len() + 64);
        let line = "long-line-secret-ABCDEFGH-".repeat(10_000);
        for c in line.as_bytes().chunks(4096) {
            t.push(c);
        }
        let (shown, omitted) = t.show(&masker, 1);
        assert!(shown.starts_with('…'));
        assert!(!shown.contains("ABCDEFGH"), "{shown}");
        assert_eq!(omitted, 0);
    }
}
