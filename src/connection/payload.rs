//! What a file operation writes (`Payload`): bytes in memory (a rendered template, which may
//! hold secrets: wiped when dropped) or a copy source (`SourceFile`), which is never held
//! whole: hashed before the run by streaming it, and streamed again, in `CHUNK` pieces, when
//! it is sent. Memory does not grow with the size of a copied file.
//!
//! A copy source may change between the two reads. The reader counts and hashes what it
//! sends (`SourceCheck`) and the writer on the target (see `scripts::write_one`) renames its
//! temp file into place only after a verdict byte that follows the content: `COMMIT` when
//! what was sent is exactly what was hashed, `ABORT` otherwise. A changed source fails
//! clearly; a mix of two versions is never written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::input_file::InputError;

/// Follows a payload's content on stdin: write the temp file into place.
pub const COMMIT: u8 = b'1';
/// Follows a payload's content on stdin: the content is not what was wanted, remove it.
pub const ABORT: u8 = b'0';

/// A copy source as hashed before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The bytes read while hashing (counted: `fstat` is not trusted alone).
    pub len: u64,
    pub sha256: String,
}

impl SourceFile {
    /// Hashes `path` as it is now, in pieces (see `input_file::stream_copy_source`).
    pub fn hash(path: &Path) -> Result<SourceFile, InputError> {
        let mut hasher = Sha256::new();
        let len = crate::input_file::stream_copy_source(path, &mut |b| hasher.update(b))?;
        Ok(SourceFile {
            path: path.to_path_buf(),
            len,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// The whole content, if it is at most `limit` bytes and still what was hashed (for a
    /// check-mode diff of a small file).
    pub fn read_small(&self, limit: u64) -> Option<Zeroizing<Vec<u8>>> {
        if self.len > limit {
            return None;
        }
        let mut out = Zeroizing::new(Vec::with_capacity(usize::try_from(self.len).ok()?));
        let mut check = SourceCheck::new(self);
        crate::input_file::stream_copy_source(&self.path, &mut |b| {
            if check.accept(b) {
                out.extend_from_slice(b);
            }
        })
        .ok()?;
        check.finish().ok()?;
        Some(out)
    }
}

/// What a file operation writes.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Rendered content; may hold secrets (wiped when dropped).
    Bytes(Zeroizing<Vec<u8>>),
    /// A copy source, read when it is sent.
    File(Arc<SourceFile>),
}

impl Payload {
    pub fn len(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes on stdin for it: the content and the verdict byte.
    pub fn framed_len(&self) -> u64 {
        self.len() + 1
    }
}

/// Counts and hashes a copy source as it is sent: it must end at the hashed length with the
/// hashed sha256.
pub struct SourceCheck<'a> {
    source: &'a SourceFile,
    left: u64,
    hasher: Sha256,
}

impl<'a> SourceCheck<'a> {
    pub fn new(source: &'a SourceFile) -> Self {
        SourceCheck {
            source,
            left: source.len,
            hasher: Sha256::new(),
        }
    }

    /// How many bytes are still wanted.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Takes the next piece read; false when it goes past the hashed length (a grown file's
    /// reader is bounded by `left`, so this means a bug, and fails closed).
    pub fn accept(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() as u64 > self.left {
            self.left = 0;
            self.hasher.update([0u8]);
            return false;
        }
        self.left -= bytes.len() as u64;
        self.hasher.update(bytes);
        true
    }

    /// Whether everything read was exactly what was hashed before the run.
    pub fn finish(self) -> Result<(), String> {
        if self.left > 0 {
            return Err(self.changed(&format!("{} bytes shorter", self.left)));
        }
        if hex::encode(self.hasher.finalize()) != self.source.sha256 {
            return Err(changed_message(&self.source.path, "its content differs"));
        }
        Ok(())
    }

    pub fn changed(&self, how: &str) -> String {
        changed_message(&self.source.path, how)
    }
}

/// The error of a copy whose source changed after it was checked.
pub fn changed_message(path: &Path, how: &str) -> String {
    format!(
        "copy source {} changed while it was being copied ({how}); nothing was written: run again once it is stable",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_in_pieces_and_notices_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let src = SourceFile::hash(&p).unwrap();
        assert_eq!(src.len, data.len() as u64);
        assert_eq!(src.sha256, hex::encode(Sha256::digest(&data)));
        assert_eq!(src.read_small(1 << 20).as_deref(), Some(&data));
        assert!(src.read_small(1000).is_none(), "over the limit: not read");

        let mut check = SourceCheck::new(&src);
        assert!(check.accept(&data[..1000]));
        assert!(check.finish().unwrap_err().contains("bytes shorter"));
        let mut check = SourceCheck::new(&src);
        let mut other = data.clone();
        other[5] ^= 1;
        assert!(check.accept(&other));
        assert!(check.finish().unwrap_err().contains("differs"));
        let mut check = SourceCheck::new(&src);
        assert!(!check.accept(&[data.clone(), vec![1]].concat()));
        assert!(check.finish().is_err());

        std::fs::write(&p, b"changed").unwrap();
        assert!(
            src.read_small(1 << 20).is_none(),
            "a changed file is not shown"
        );
    }
}
