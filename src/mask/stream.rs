//! One output stream masked as it is written: only the tail that could still grow into a
//! match is held back, and every buffer that held secret bytes is wiped.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use zeroize::Zeroize;

use super::escapes;
use super::patterns::{emit, Before, PatternSet};
use super::{Masker, MASK_TOKEN};

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
    pub(super) masker: Arc<Masker>,
    /// The pattern set this stream last used; refreshed when the masker's generation moves.
    pub(super) set: Arc<PatternSet>,
    /// Bytes received but not yet emitted.
    pub(super) pending: Vec<u8>,
    /// Leading bytes of `pending` that belong to a range whose token was already emitted.
    pub(super) open: usize,
    /// The last byte before `pending`, as text (outside escape sequences) and raw; None at
    /// stream start.
    pub(super) before: Before,
}

impl MaskStream {
    pub(super) fn refresh(&mut self) {
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
        let (ranges, unsure) = set.scan(&self.pending, &view, self.before, self.open, false);
        // Every match not yet complete starts inside a held tail (of the text, and of the raw
        // bytes when they are searched too), and so does every short match still waiting for
        // its right boundary: nothing before `cut` can change.
        let keep = text.len() - set.hold(text);
        let mut cut = if keep < text.len() {
            view.orig(keep)
        } else {
            self.pending.len()
        };
        if view.has_escapes() {
            let raw_keep = self.pending.len() - set.hold(&self.pending);
            cut = cut.min(view.boundary_at_or_before(raw_keep));
        }
        if let Some(u) = unsure {
            cut = cut.min(view.boundary_at_or_before(u));
        }
        if let Some(inc) = view.incomplete() {
            cut = cut.min(inc);
        }
        let kept_text = view.text_len_before(cut);
        let before = Before {
            text: if kept_text > 0 {
                Some(text[kept_text - 1])
            } else {
                self.before.text
            },
            raw: if cut > 0 {
                Some(self.pending[cut - 1])
            } else {
                self.before.raw
            },
        };
        drop(view);
        let mut out = Vec::with_capacity(cut + MASK_TOKEN.len());
        self.open = emit(&self.pending, &ranges, self.open > 0, cut, &mut out);
        if cut > 0 {
            self.before = before;
            consume_wiping(&mut self.pending, cut);
        }
        out
    }

    /// Masks and returns everything still held: the stream has ended. The stream is then
    /// reset and may be used again as a new stream.
    pub fn finish(&mut self) -> Vec<u8> {
        self.refresh();
        let view = escapes::View::new(&self.pending);
        let (ranges, _) = self
            .set
            .scan(&self.pending, &view, self.before, self.open, true);
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
        self.before = Before::default();
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
pub(super) fn append_wiping(buf: &mut Vec<u8>, chunk: &[u8]) {
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
pub(super) fn consume_wiping(buf: &mut Vec<u8>, n: usize) {
    let keep = buf.len() - n;
    buf.copy_within(n.., 0);
    buf[keep..].zeroize();
    buf.truncate(keep);
}
