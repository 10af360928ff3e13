//! The one thing a target must offer for jetlike's file operations and commands: run a
//! shell script there, with input on its stdin, and stream its output back (`Transport`).
//! `file_ops` writes stat, put, ensure and the batches once on top of it; the local `sh`
//! and the SSH persistent shell are its two implementations. Also the output plumbing both
//! share: `OutputSink`, the chunk size, and `pump` for a child's two output pipes.

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::ConnError;
use super::privilege::Privilege;

/// What one of jetlike's own scripts printed, collected, and its exit code.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    pub rc: i32,
    /// stdout and stderr: how they are interleaved is the transport's (see
    /// `Transport::exec_collect`).
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

/// Runs shell scripts on a target.
pub trait Transport: Sync {
    /// Runs `script` with `sh` on the target, as `privilege`'s user if given, with `input`
    /// on its stdin. The script text itself never appears in a local argv. Privilege is the
    /// transport's to apply: locally the bootstrap that reads the script is wrapped (so the
    /// script stays off `sudo`'s argv), over SSH the script itself. stdout and stderr go to
    /// `sink` as they arrive; returns the exit code.
    fn exec(
        &self,
        script: &str,
        input: &[u8],
        privilege: Option<&Privilege>,
        sink: &mut dyn OutputSink,
    ) -> impl Future<Output = Result<i32, ConnError>> + Send;

    /// `exec` for jetlike's own scripts, whose small replies are parsed whole: collected.
    /// A transport may order the two streams differently here (local: stdout, then stderr,
    /// so that a warning of `sudo` cannot come before the reply's first line).
    fn exec_collect(
        &self,
        script: &str,
        input: &[u8],
        privilege: Option<&Privilege>,
    ) -> impl Future<Output = Result<RunOutput, ConnError>> + Send {
        async move {
            let mut out = Vec::new();
            let rc = self.exec(script, input, privilege, &mut out).await?;
            Ok(RunOutput { rc, out })
        }
    }
}

/// Writes a script and then its input to a child's stdin and closes it. The copy that joins
/// them may hold secret content (a rendered file): it is wiped when written. A child may exit
/// without reading everything: that is its business, so write errors are not errors here.
pub async fn feed<W: AsyncWrite + Unpin>(stdin: Option<W>, script: &str, input: &[u8]) {
    let mut all = zeroize::Zeroizing::new(Vec::with_capacity(script.len() + input.len()));
    all.extend_from_slice(script.as_bytes());
    all.extend_from_slice(input);
    if let Some(mut w) = stdin {
        let _ = w.write_all(&all).await;
        let _ = w.shutdown().await;
    }
}

/// Reads a child's stdout and stderr until both end, passing stdout to `out` and stderr to
/// `err` (or to `out` as well when `err` is `None`), in chunks as they arrive.
pub async fn pump<O, E>(
    mut stdout: Option<O>,
    mut stderr: Option<E>,
    out: &mut dyn OutputSink,
    mut err: Option<&mut dyn OutputSink>,
) where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let mut b1 = vec![0u8; CHUNK];
    let mut b2 = vec![0u8; 8 * 1024];
    loop {
        tokio::select! {
            r = read_some(&mut stdout, &mut b1), if stdout.is_some() => match r {
                Some(n) => out.chunk(&b1[..n]),
                None => stdout = None,
            },
            r = read_some(&mut stderr, &mut b2), if stderr.is_some() => match r {
                Some(n) => match err.as_deref_mut() {
                    Some(e) => e.chunk(&b2[..n]),
                    None => out.chunk(&b2[..n]),
                },
                None => stderr = None,
            },
            else => break,
        }
    }
}

/// Reads what is there; `None` at end of stream (or on a read error, which ends it too).
async fn read_some<R: AsyncRead + Unpin>(r: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match r.as_mut()?.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}
