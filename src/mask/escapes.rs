//! Terminal escape sequences are transparent to matching: the text a secret is looked for in
//! is the output without them, and a masked range runs from the first to the last text byte
//! of the match, swallowing the sequences inside it (those before and after stay).
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
