//! Connections: how commands and files reach a host. Task modules talk only to this trait, so
//! local and SSH targets share every module, check mode and the masking of what comes back.
//!
//! Layers, bottom up: `error`, `payload` (what a write sends: bytes, or a copy source
//! streamed from disk) and `file_status` (types and the one "changed" decision),
//! `scripts` (every command string), `privilege`, `transport` (run a script on a target),
//! `file_ops` (the file operations written once over a transport), then the two
//! connections, `local` and `ssh`.

pub mod error;
pub mod file_ops;
pub mod file_status;
pub mod local;
pub mod payload;
pub mod privilege;
pub mod scripts;
pub mod ssh;
pub mod transport;
pub mod users;

use std::future::Future;

pub use error::ConnError;
pub use file_status::{Ensured, FileAttrs, FileStatus, OldContent, WantedFile, FETCH_LIMIT};
pub use local::LocalConnection;
pub use payload::{Payload, SourceFile};
pub use privilege::{wrap, Privilege, COMMAND_PLACEHOLDER};
pub use ssh::SshConnection;
pub use transport::{OutputSink, RunOutput, CHUNK};

pub trait Connection: Send + Sync {
    /// Makes `path` hold `content` with `attrs`, writing only if something differs, in as few
    /// round trips as the transport allows (a large payload is sent only when it differs).
    fn ensure(
        &self,
        path: &str,
        content: &Payload,
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

    /// One round trip: existence, hash, mode, owner and group (and content if asked, up to
    /// `FETCH_LIMIT`).
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
        content: &Payload,
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
        content: &Payload,
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
        content: &Payload,
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<(), ConnError> {
        match self {
            AnyConnection::Local(c) => c.put(path, content, attrs, privilege).await,
            AnyConnection::Ssh(c) => c.put(path, content, attrs, privilege).await,
        }
    }
}
