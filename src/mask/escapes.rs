//! Terminal escape sequences are transparent to matching: the text a secret is looked for in
//! is the output without them, and a masked range runs from the first to the last text byte
//! of the match, swallowing the sequences inside it (those before and after stay). The raw
//! bytes are searched too, for what the view cannot see: a value inside a sequence (a
//! terminal title, a hyperlink's target) is no text to a terminal but is to a log or a pipe.
//!
//! Recognised (ECMA-48, byte by byte, so the same bytes split the same way whatever the
//! chunking): CSI `ESC [` parameters/intermediates (0x20-0x3F) then a final byte
//! (0x40-0x7E); OSC, DCS, SOS, PM, APC (`ESC ] P X ^ _`) up to BEL or ST (`ESC \`); other
//! `ESC` sequences (intermediates 0x20-0x2F, then a final 0x30-0x7E). A byte that does not
//! fit ends the sequence before it; a sequence longer than [`escapes::MAX_LEN`] bytes ends
//! there. A sequence still open at the end of a stream's buffer is held back until it is
//! complete (or the stream ends).

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
    /// (start, end) of each complete sequence, in original positions.
    sequences: Vec<(usize, usize)>,
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
                sequences: Vec::new(),
            };
        };
        let mut text = Vec::with_capacity(buf.len());
        let mut runs = vec![(0, 0)];
        text.extend_from_slice(&buf[..first]);
        let mut i = first;
        let mut incomplete = None;
        let mut sequences = Vec::new();
        while i < buf.len() {
            if let Ok(end) = sequence_end(buf, i) {
                sequences.push((i, end));
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
            sequences,
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

    /// Whether any escape sequence (or the start of one) was set aside.
    pub(super) fn has_escapes(&self) -> bool {
        !self.runs.is_empty()
    }

    /// `at`, or the start of the escape sequence `at` falls inside: a place where the bytes
    /// can be cut so that what follows parses as it did.
    pub(super) fn boundary_at_or_before(&self, at: usize) -> usize {
        let i = self.sequences.partition_point(|&(start, _)| start <= at);
        match i.checked_sub(1).map(|i| self.sequences[i]) {
            Some((start, end)) if at < end => start,
            _ => self.incomplete.map_or(at, |inc| at.min(inc)),
        }
    }

    /// How many text bytes come before original position `at`.
    pub(super) fn text_len_before(&self, at: usize) -> usize {
        if self.runs.is_empty() {
            return at.min(self.text.len());
        }
        let r = self.runs.partition_point(|&(_, o)| o <= at).max(1) - 1;
        let (t, o) = self.runs[r];
        let run_end = self
            .runs
            .get(r + 1)
            .map_or(self.text.len(), |&(next, _)| next);
        (t + at.saturating_sub(o)).min(run_end)
    }

    pub(super) fn incomplete(&self) -> Option<usize> {
        self.incomplete
    }
}

/// A value as matching finds it in the view of an output: without its escape sequences
/// (`ESC` and what follows, parsed as in output; a sequence it ends inside is dropped). `None`
/// when the value has no `ESC`. Such a value is looked for in this form (printed with other
/// escapes around and inside it) and as it is (printed raw, where the raw search finds it).
pub(super) fn visible(pattern: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    memchr::memchr(ESC, pattern)?;
    // The text stops where a sequence still open at the end begins.
    Some(zeroize::Zeroizing::new(View::new(pattern).text().to_vec()))
}

impl Drop for View<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(t) = &mut self.text {
            zeroize::Zeroize::zeroize(t);
        }
    }
}
