//! Connections: how commands and files reach a host. Task modules talk only to this trait, so
//! local and SSH targets share every module, check mode and the masking of what comes back.

pub mod local;
pub mod scripts;
pub mod ssh;
pub mod users;

use std::future::Future;

pub use local::LocalConnection;
pub use ssh::SshConnection;

#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    pub rc: i32,
    /// stdout and stderr, merged in order (the shell runs with `2>&1`).
    pub out: Vec<u8>,
}

/// Where a command's output goes as it arrives: bounded chunks, in order, never the whole
/// output at once (see `Connection::run`).
pub trait OutputSink: Send {
    fn chunk(&mut self, bytes: &[u8]);
}

/// Collects everything: only for the small replies of jetlike's own scripts (stat, put).
impl OutputSink for Vec<u8> {
    fn chunk(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Size of the chunks read from a command's output.
pub const CHUNK: usize = 64 * 1024;

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
        /// Only fetched when asked for (check mode diffs); may hold old secret values.
        content: Option<Vec<u8>>,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnError {
    /// The host could not be reached at all (counted as `unreachable`).
    #[error("{0}")]
    Unreachable(String),
    /// The connection broke: the host can take no further part in the run.
    #[error("{0}")]
    Lost(String),
    /// An operation failed on the target (or its reply made no sense).
    #[error("{0}")]
    Failed(String),
}

/// How to run as another user: the rendered `sudo_template` with a placeholder for the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privilege {
    pub user: String,
    template: String,
}

/// Stands for the command inside a rendered `sudo_template`.
pub const COMMAND_PLACEHOLDER: &str = "\u{1}JETLIKE_COMMAND\u{1}";

impl Privilege {
    /// `template` is the rendered sudo template, holding `COMMAND_PLACEHOLDER` where the
    /// command goes; `None` means `sudo -n -u USER -- CMD`.
    pub fn new(user: impl Into<String>, template: Option<String>) -> Self {
        let user = user.into();
        let template = template.unwrap_or_else(|| {
            format!(
                "sudo -n -H -u {} -- {COMMAND_PLACEHOLDER}",
                scripts::quote(&user)
            )
        });
        Privilege { user, template }
    }

    /// Wraps the whole script (not just its first word: Jet's bug) as `sh -c '...'`.
    pub fn wrap(&self, script: &str) -> String {
        let inner = format!("sh -c {}", scripts::quote(script));
        self.template.replace(COMMAND_PLACEHOLDER, &inner)
    }
}

pub fn wrap(script: &str, privilege: Option<&Privilege>) -> String {
    match privilege {
        Some(p) => p.wrap(script),
        None => script.to_string(),
    }
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

impl FileStatus {
    /// What making `path` hold content hashing to `want_sha256` with `attrs` would do, or why
    /// the target cannot take a file there. The one place where "changed" is decided.
    pub fn decide(
        &self,
        path: &str,
        want_sha256: &str,
        attrs: &FileAttrs,
    ) -> Result<Ensured, ConnError> {
        match self {
            FileStatus::Missing {
                parent_exists: false,
            } => Err(ConnError::Failed(scripts::put_error(
                path,
                scripts::NO_PARENT,
                b"",
            ))),
            FileStatus::NotAFile => Err(ConnError::Failed(scripts::put_error(
                path,
                scripts::NOT_A_FILE,
                b"",
            ))),
            FileStatus::Missing { .. } => Ok(Ensured {
                created: true,
                changes: vec![],
            }),
            FileStatus::File {
                sha256,
                mode,
                owner,
                group,
                ..
            } => {
                let mut changes = vec![];
                if sha256 != want_sha256 {
                    changes.push("content".to_string());
                }
                if attrs.mode.is_some_and(|m| m != *mode) {
                    changes.push("mode".to_string());
                }
                if attrs.owner.as_ref().is_some_and(|o| o != owner) {
                    changes.push("owner".to_string());
                }
                if attrs.group.as_ref().is_some_and(|g| g != group) {
                    changes.push("group".to_string());
                }
                Ok(Ensured {
                    created: false,
                    changes,
                })
            }
        }
    }
}

/// One file a task wants on the target: the unit of `Connection::ensure_all`.
#[derive(Clone, Copy)]
pub struct WantedFile<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub sha256: &'a str,
    pub attrs: &'a FileAttrs,
}

pub trait Connection: Send + Sync {
    /// Makes `path` hold `content` with `attrs`, writing only if something differs, in as few
    /// round trips as the transport allows.
    fn ensure(
        &self,
        path: &str,
        content: &[u8],
        want_sha256: &str,
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> impl Future<Output = Result<Ensured, ConnError>> + Send;

    /// Converges several files in order, in as few round trips as the transport allows (over
    /// SSH: two for any number of files), stopping at the first failure. Returns one result
    /// per file attempted: all of them, or up to and including the one that failed.
    fn ensure_all(
        &self,
        files: &[WantedFile<'_>],
        privilege: Option<&Privilege>,
    ) -> impl Future<Output = Vec<Result<Ensured, ConnError>>> + Send;

    /// Runs `cmd` with `sh` (the command text reaches the shell on its stdin, never in an
    /// argv; the command's own stdin is empty). Its stdout and stderr, merged, go to `sink` in
    /// bounded chunks as they arrive; returns the exit code.
    fn run(
        &self,
        cmd: &str,
        privilege: Option<&Privilege>,
        sink: &mut dyn OutputSink,
    ) -> impl Future<Output = Result<i32, ConnError>> + Send;

    /// One round trip: existence, hash, mode, owner and group (and content if asked).
    fn stat(
        &self,
        path: &str,
        with_content: bool,
        privilege: Option<&Privilege>,
    ) -> impl Future<Output = Result<FileStatus, ConnError>> + Send;

    /// Writes `content` atomically: a 0600 temp file in the destination directory, then
    /// attributes, then rename; the temp file is removed on any failure.
    fn put(
        &self,
        path: &str,
        content: &[u8],
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> impl Future<Output = Result<(), ConnError>> + Send;
}

/// The connection a host uses: local for `localhost` (and local modes), SSH otherwise.
pub enum AnyConnection {
    Local(LocalConnection),
    Ssh(Box<SshConnection>),
}

impl Connection for AnyConnection {
    async fn ensure(
        &self,
        path: &str,
        content: &[u8],
        want_sha256: &str,
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<Ensured, ConnError> {
        match self {
            AnyConnection::Local(c) => c.ensure(path, content, want_sha256, attrs, privilege).await,
            AnyConnection::Ssh(c) => c.ensure(path, content, want_sha256, attrs, privilege).await,
        }
    }

    async fn ensure_all(
        &self,
        files: &[WantedFile<'_>],
        privilege: Option<&Privilege>,
    ) -> Vec<Result<Ensured, ConnError>> {
        match self {
            AnyConnection::Local(c) => c.ensure_all(files, privilege).await,
            AnyConnection::Ssh(c) => c.ensure_all(files, privilege).await,
        }
    }

    async fn run(
        &self,
        cmd: &str,
        privilege: Option<&Privilege>,
        sink: &mut dyn OutputSink,
    ) -> Result<i32, ConnError> {
        match self {
            AnyConnection::Local(c) => c.run(cmd, privilege, sink).await,
            AnyConnection::Ssh(c) => c.run(cmd, privilege, sink).await,
        }
    }
    async fn stat(
        &self,
        path: &str,
        with_content: bool,
        privilege: Option<&Privilege>,
    ) -> Result<FileStatus, ConnError> {
        match self {
            AnyConnection::Local(c) => c.stat(path, with_content, privilege).await,
            AnyConnection::Ssh(c) => c.stat(path, with_content, privilege).await,
        }
    }
    async fn put(
        &self,
        path: &str,
        content: &[u8],
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<(), ConnError> {
        match self {
            AnyConnection::Local(c) => c.put(path, content, attrs, privilege).await,
            AnyConnection::Ssh(c) => c.put(path, content, attrs, privilege).await,
        }
    }
}
