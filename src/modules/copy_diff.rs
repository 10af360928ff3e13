//! The check-mode diff of a `!copy` or `!template` content change. Small files are diffed as
//! they are (`diff::file_diff_knowing`); when either side is over `diff::MAX_DIFF_BYTES` the
//! diff is a summary line, and neither side is read into memory: the target's content is
//! fetched only up to `FETCH_LIMIT` (see `Connection::stat`), a copy source only when it is
//! that small. A copy's summary gives both sizes and sha256 prefixes; a template's gives
//! neither (they would tell something about the secrets it holds).

use super::file::{Content, FileModule};
use crate::connection::{FileStatus, OldContent, Payload, FETCH_LIMIT};
use crate::diff::FileDiff;
use crate::taint::Hole;

/// The hex digits of a sha256 a summary shows.
const SHA_SHOWN: usize = 16;

impl FileModule<'_> {
    /// The diff of the content change to `content` from what `status` found.
    pub(super) fn content_diff(
        &self,
        dest: &str,
        content: &Payload,
        holes: Option<&[Hole]>,
        status: &FileStatus,
        diff_content: bool,
    ) -> FileDiff {
        let existed = matches!(status, FileStatus::File { .. });
        let (hole_list, all_secret) = (holes.unwrap_or_default(), holes.is_none());
        if !diff_content {
            return FileDiff::withheld(dest, existed, hole_list, all_secret);
        }
        let old = match status {
            FileStatus::File { content, .. } => content.as_ref(),
            _ => None,
        };
        let loaded;
        let new: Option<&[u8]> = match content {
            Payload::Bytes(b) if b.len() as u64 <= FETCH_LIMIT => Some(b),
            Payload::Bytes(_) => None,
            Payload::File(source) => {
                loaded = source.read_small(FETCH_LIMIT);
                loaded.as_deref().map(Vec::as_slice)
            }
        };
        let old_bytes = match old {
            Some(OldContent::Bytes(b)) => Some(Some(b.as_slice())),
            Some(OldContent::TooLarge { .. }) => None,
            None => Some(None),
        };
        if let (Some(old), Some(new)) = (old_bytes, new) {
            // The template's own source is reviewed text, not secret: its tokens may show.
            let known: Vec<&str> = match &self.content {
                Content::Template { template, .. } => vec![template.text.as_str()],
                Content::Copy(_) => vec![],
            };
            return crate::diff::file_diff_knowing(dest, old, new, hole_list, all_secret, &known);
        }
        let detail = match content {
            Payload::File(source) => Some(sizes(status, source.len, &source.sha256)),
            Payload::Bytes(_) => None,
        };
        FileDiff::oversized(dest, existed, hole_list, all_secret, detail.as_deref())
    }
}

/// `old -> new bytes, sha256 old… -> new…` (`new file, …` when there is no old file).
fn sizes(status: &FileStatus, len: u64, sha256: &str) -> String {
    let short = |s: &str| format!("{}…", &s[..s.len().min(SHA_SHOWN)]);
    match status {
        FileStatus::File {
            sha256: old_sha,
            content,
            ..
        } => {
            let old_len = match content {
                Some(OldContent::Bytes(b)) => b.len().to_string(),
                Some(OldContent::TooLarge { size }) => size.to_string(),
                None => "?".to_string(),
            };
            format!(
                "{old_len} -> {len} bytes, sha256 {} -> {}",
                short(old_sha),
                short(sha256)
            )
        }
        _ => format!("new file, {len} bytes, sha256 {}", short(sha256)),
    }
}
