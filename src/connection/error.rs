//! Why an operation on a connection failed (`ConnError`), and the steps of writing a file on
//! the target (`WriteStep`) whose exit codes the shell and perl writers in `scripts` are
//! generated from and `put_error` turns back into a message.

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

/// A step of writing one file that can fail on the target. Each has the exit code its
/// script (shell or perl) ends with, so the reply says which step failed without any text
/// being parsed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    /// The destination's directory does not exist.
    NoParent,
    /// The temp file beside the destination could not be created.
    NoTemp,
    /// The content could not be written to the temp file.
    Write,
    /// chmod / chown / chgrp of the temp file failed.
    Attrs,
    /// The temp file could not be renamed over the destination.
    Rename,
    /// The verdict after the content was not `payload::COMMIT` (a copy source changed while
    /// it was sent): the temp file is removed, nothing is written.
    Aborted,
}

impl WriteStep {
    pub const ALL: [WriteStep; 6] = [
        WriteStep::NoParent,
        WriteStep::NoTemp,
        WriteStep::Write,
        WriteStep::Attrs,
        WriteStep::Rename,
        WriteStep::Aborted,
    ];

    /// The exit code of the writer scripts when this step fails.
    pub const fn code(self) -> i32 {
        match self {
            WriteStep::NoParent => 70,
            WriteStep::NoTemp => 71,
            WriteStep::Write => 72,
            WriteStep::Attrs => 73,
            WriteStep::Rename => 74,
            WriteStep::Aborted => 75,
        }
    }

    pub fn from_code(rc: i32) -> Option<WriteStep> {
        WriteStep::ALL.into_iter().find(|s| s.code() == rc)
    }

    fn describe(self, path: &str) -> String {
        match self {
            WriteStep::NoParent => format!(
                "the parent directory of {path} does not exist; create it first (for example with a !shell task running mkdir -p)"
            ),
            WriteStep::NoTemp => format!("cannot create a temporary file beside {path}"),
            WriteStep::Write => format!("cannot write a temporary file beside {path}"),
            WriteStep::Attrs => format!("cannot set owner, group or mode for {path}"),
            WriteStep::Rename => format!("cannot move the new file into place at {path}"),
            WriteStep::Aborted => {
                format!("the content sent for {path} was not confirmed; nothing was written")
            }
        }
    }
}

/// The message for a write of `path` that ended with exit code `rc`, followed by what the
/// script printed (`out`), if anything.
pub fn put_error(path: &str, rc: i32, out: &[u8]) -> String {
    let what = WriteStep::from_code(rc).map_or_else(
        || format!("writing {path} failed (exit {rc})"),
        |step| step.describe(path),
    );
    with_detail(what, out)
}

/// The message when `path` exists but is not a regular file (a directory, a device...).
pub fn not_a_file_error(path: &str) -> String {
    format!("{path} exists and is not a regular file; remove it or choose another dest")
}

fn with_detail(what: String, out: &[u8]) -> String {
    let detail = String::from_utf8_lossy(out).trim().to_string();
    if detail.is_empty() {
        what
    } else {
        format!("{what}: {detail}")
    }
}
