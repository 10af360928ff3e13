//! The one thing a target must offer for jetlike's file operations and commands: run a
//! shell script there, with input on its stdin, and stream its output back (`Transport`).
//! `file_ops` writes stat, put, ensure and the batches once on top of it; the local `sh`
//! and the SSH persistent shell are its two implementations. Also the output plumbing both
//! share: `OutputSink`, the chunk size, `pump` for a child's two output pipes, and the
//! writing of a script's input (`feed`, `write_payloads`): file contents streamed in `CHUNK`
//! pieces, each followed by its verdict byte (see `payload`).

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::ConnError;
use super::payload::{Payload, SourceCheck, SourceFile, ABORT, COMMIT};
use super::privilege::Privilege;

/// What one of jetlike's own scripts printed, collected, and its exit code.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    pub rc: i32,
    /// stdout and stderr: how they are interleaved is the transport's (see
    /// `Transport::exec_collect`).
    pub out: Vec<u8>,
    /// Why a copy source in the input was not sent as hashed (its write was aborted).
    pub source_error: Option<String>,
}

/// How a script ended: its exit code, and why a copy source in its input was not sent as
/// hashed, if one was not (see `write_payloads`).
#[derive(Debug, Clone, Default)]
pub struct Exit {
    pub rc: i32,
    pub source_error: Option<String>,
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
    /// on its stdin (each payload's content then its verdict byte, see `write_payloads`; a
    /// copy source that changed while it was sent is an error, after the script ended). The script text itself never appears in a local argv. Privilege is the
    /// transport's to apply: locally the bootstrap that reads the script is wrapped (so the
    /// script stays off `sudo`'s argv), over SSH the script itself. stdout and stderr go to
    /// `sink` as they arrive; returns how it ended.
    fn exec(
        &self,
        script: &str,
        input: &[&Payload],
        privilege: Option<&Privilege>,
        sink: &mut dyn OutputSink,
    ) -> impl Future<Output = Result<Exit, ConnError>> + Send;

    /// `exec` for jetlike's own scripts, whose small replies are parsed whole: collected.
    /// A transport may order the two streams differently here (local: stdout, then stderr,
    /// so that a warning of `sudo` cannot come before the reply's first line).
    fn exec_collect(
        &self,
        script: &str,
        input: &[&Payload],
        privilege: Option<&Privilege>,
    ) -> impl Future<Output = Result<RunOutput, ConnError>> + Send {
        async move {
            let mut out = Vec::new();
            let exit = self.exec(script, input, privilege, &mut out).await?;
            Ok(RunOutput {
                rc: exit.rc,
                out,
                source_error: exit.source_error,
            })
        }
    }
}

/// Writes a script and then its input to a child's stdin and closes it. A child may exit
/// without reading everything: that is its business, so write errors are not errors here.
/// Returns why a copy source could not be sent as it was hashed, if it could not.
pub async fn feed<W: AsyncWrite + Unpin>(
    stdin: Option<W>,
    script: &str,
    input: &[&Payload],
) -> Option<String> {
    let mut w = stdin?;
    let mut failed = None;
    if w.write_all(script.as_bytes()).await.is_ok() {
        if let Ok(f) = write_payloads(&mut w, input).await {
            failed = f;
        }
    }
    let _ = w.shutdown().await;
    failed
}

/// The number of bytes `write_payloads` writes for `input`.
pub fn input_len(input: &[&Payload]) -> u64 {
    input.iter().map(|p| p.framed_len()).sum()
}

/// Writes each payload's content, in `CHUNK` pieces for a copy source, then its verdict
/// byte: `COMMIT`, or `ABORT` when the source is not what was hashed (its missing bytes made
/// up with zeros, so the stream keeps its announced length, and every later payload aborted
/// likewise). `Ok(Some(why))`: a source changed; `Err`: the reader went away.
pub async fn write_payloads<W: AsyncWrite + Unpin>(
    w: &mut W,
    input: &[&Payload],
) -> std::io::Result<Option<String>> {
    let mut failed: Option<String> = None;
    for p in input {
        if failed.is_some() {
            pad(w, p.len()).await?;
            w.write_all(&[ABORT]).await?;
            continue;
        }
        let verdict = match p {
            Payload::Bytes(b) => {
                w.write_all(b).await?;
                COMMIT
            }
            Payload::File(src) => match send_file(w, src).await? {
                Ok(()) => COMMIT,
                Err(why) => {
                    failed = Some(why);
                    ABORT
                }
            },
        };
        w.write_all(&[verdict]).await?;
    }
    w.flush().await?;
    Ok(failed)
}

/// Streams `src` exactly as long as it was hashed (zeros make up for a shrunk file), then
/// says whether what was read is what was hashed.
async fn send_file<W: AsyncWrite + Unpin>(
    w: &mut W,
    src: &SourceFile,
) -> std::io::Result<Result<(), String>> {
    let mut check = SourceCheck::new(src);
    let file = match crate::input_file::open_copy_source(&src.path) {
        Ok((f, _)) => f,
        Err(e) => {
            pad(w, src.len).await?;
            return Ok(Err(check.changed(&e.to_string())));
        }
    };
    let mut file = tokio::fs::File::from_std(file);
    let mut buf = vec![0u8; CHUNK];
    while check.left() > 0 {
        let want = usize::try_from(check.left()).map_or(CHUNK, |l| l.min(CHUNK));
        let n = match file.read(&mut buf[..want]).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let left = check.left();
                pad(w, left).await?;
                return Ok(Err(check.changed(&format!("read error: {e}"))));
            }
        };
        check.accept(&buf[..n]);
        w.write_all(&buf[..n]).await?;
    }
    pad(w, check.left()).await?;
    Ok(check.finish())
}

/// Writes `n` zero bytes.
async fn pad<W: AsyncWrite + Unpin>(w: &mut W, mut n: u64) -> std::io::Result<()> {
    static ZEROS: [u8; CHUNK] = [0; CHUNK];
    while n > 0 {
        let k = usize::try_from(n).map_or(CHUNK, |l| l.min(CHUNK));
        w.write_all(&ZEROS[..k]).await?;
        n -= k as u64;
    }
    Ok(())
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
