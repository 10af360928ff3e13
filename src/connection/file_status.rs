//! What a file on the target is (`FileStatus`), what a task wants it to be (a content hash
//! and `FileAttrs`), and the one decision between them: `FileStatus::decide`, built on
//! `wanted_facts`, which `scripts::ensure` also generates its write-or-not test from.

use super::error::{not_a_file_error, put_error, ConnError, WriteStep};
use super::payload::Payload;

/// The largest old content fetched for a check-mode diff: what a diff shows at most (a larger
/// file is summarised, so it is never read into memory).
pub const FETCH_LIMIT: u64 = crate::diff::MAX_DIFF_BYTES as u64;

/// A file's current content, fetched for a check-mode diff; may hold old secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldContent {
    Bytes(Vec<u8>),
    /// Over `FETCH_LIMIT`: not fetched.
    TooLarge {
        size: u64,
    },
}

/// Wanted ownership and permissions of a file; `None` keeps what is there (or the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileAttrs {
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    Missing {
        parent_exists: bool,
    },
    NotAFile,
    File {
        sha256: String,
        mode: u32,
        owner: String,
        group: String,
        /// Only fetched when asked for (check mode diffs), and only up to `FETCH_LIMIT`.
        content: Option<OldContent>,
    },
}

/// What `ensure` found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ensured {
    pub created: bool,
    /// Empty and not created: the target already matched.
    pub changes: Vec<String>,
}

impl Ensured {
    pub fn matched(&self) -> bool {
        !self.created && self.changes.is_empty()
    }
}

/// One file a task wants on the target: the unit of `Connection::ensure_all`.
#[derive(Clone, Copy)]
pub struct WantedFile<'a> {
    pub path: &'a str,
    pub content: &'a Payload,
    pub sha256: &'a str,
    pub attrs: &'a FileAttrs,
}

/// An attribute of an existing file that `ensure` converges, in the order changes are
/// reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Content,
    Mode,
    Owner,
    Group,
}

impl Change {
    /// The name reported in `Ensured::changes`.
    pub const fn name(self) -> &'static str {
        match self {
            Change::Content => "content",
            Change::Mode => "mode",
            Change::Owner => "owner",
            Change::Group => "group",
        }
    }
}

/// The facts an existing file must show to match, each as the text the host reports it in
/// (the `F mode owner group sha256` line of `scripts::stat`: octal mode without leading
/// zeros, user and group names, hex sha256). The content always counts; mode, owner and
/// group only when asked for. This is the one definition of "changed": `FileStatus::decide`
/// compares a status with it in Rust, and `scripts::ensure` turns it into its shell test.
pub fn wanted_facts(want_sha256: &str, attrs: &FileAttrs) -> Vec<(Change, String)> {
    let mut facts = vec![(Change::Content, want_sha256.to_string())];
    if let Some(m) = attrs.mode {
        facts.push((Change::Mode, format!("{m:o}")));
    }
    if let Some(o) = &attrs.owner {
        facts.push((Change::Owner, o.clone()));
    }
    if let Some(g) = &attrs.group {
        facts.push((Change::Group, g.clone()));
    }
    facts
}

impl FileStatus {
    /// What making `path` hold content hashing to `want_sha256` with `attrs` would do, or why
    /// the target cannot take a file there. Every "changed" answer comes from here, whether
    /// the facts were read in-process, by `scripts::stat`, by `scripts::inspect` or by the
    /// one-round-trip `scripts::ensure` (whose shell test is built from the same
    /// `wanted_facts`).
    pub fn decide(
        &self,
        path: &str,
        want_sha256: &str,
        attrs: &FileAttrs,
    ) -> Result<Ensured, ConnError> {
        match self {
            FileStatus::Missing {
                parent_exists: false,
            } => Err(ConnError::Failed(put_error(
                path,
                WriteStep::NoParent.code(),
                b"",
            ))),
            FileStatus::NotAFile => Err(ConnError::Failed(not_a_file_error(path))),
            FileStatus::Missing { .. } => Ok(Ensured {
                created: true,
                changes: vec![],
            }),
            FileStatus::File { .. } => Ok(Ensured {
                created: false,
                changes: wanted_facts(want_sha256, attrs)
                    .into_iter()
                    .filter(|(change, want)| self.fact(*change).as_deref() != Some(want))
                    .map(|(change, _)| change.name().to_string())
                    .collect(),
            }),
        }
    }

    /// The text the host reports for `change`'s attribute of a regular file.
    fn fact(&self, change: Change) -> Option<String> {
        let FileStatus::File {
            sha256,
            mode,
            owner,
            group,
            ..
        } = self
        else {
            return None;
        };
        Some(match change {
            Change::Content => sha256.clone(),
            Change::Mode => format!("{mode:o}"),
            Change::Owner => owner.clone(),
            Change::Group => group.clone(),
        })
    }
}
