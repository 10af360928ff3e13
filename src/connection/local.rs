//! The local connection: commands read by `sh` from its stdin, in a session of their own,
//! with an allowlisted environment (the local `Transport`). Files are read and written
//! in-process, a documented special case: as another user they go through the shared
//! script implementation (`file_ops`) like SSH.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;

use rand::Rng;
use sha2::{Digest, Sha256};

use super::error::{put_error, ConnError, WriteStep};
use super::file_status::{Ensured, FileAttrs, FileStatus, OldContent, WantedFile, FETCH_LIMIT};
use super::payload::{Payload, SourceCheck};
use super::privilege::{wrap, Privilege};
use super::transport::{feed, pump, Exit, OutputSink, RunOutput, Transport, CHUNK};
use super::users::{gid_of, group_name, uid_of, user_name};
use super::{file_ops, scripts, Connection};

#[derive(Debug, Default, Clone)]
pub struct LocalConnection;

/// The size asked for the pipe of a command's output (Linux allows 1 MiB unprivileged by
/// default): a fast writer gets ahead, reads are full chunks.
const PIPE_SIZE: libc::c_int = 1 << 20;

/// Local commands still running: the leaders of their sessions (see `kill_all_sessions`).
static RUNNING: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Kills the child's whole session (its process group: the child is the group leader) if
/// the run is abandoned (the future dropped) before the child was reaped.
struct SessionGuard(Option<i32>);

impl SessionGuard {
    fn new(pid: Option<i32>) -> SessionGuard {
        if let Some(p) = pid {
            RUNNING
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(p);
        }
        SessionGuard(pid)
    }

    /// The child was reaped: nothing to kill any more.
    fn reaped(&mut self) {
        if let Some(p) = self.0.take() {
            RUNNING
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|&q| q != p);
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: plain syscall. `pid` is our unreaped child, the leader of the process
            // group it created with setsid, so the group id cannot have been reused.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            self.reaped();
        }
    }
}

/// Kills every local command still running, with its whole session: their own sessions do
/// not get the terminal's Ctrl-C, so stopping at once (a second signal) must end them.
pub fn kill_all_sessions() {
    for pid in RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .drain(..)
    {
        // SAFETY: plain syscall on the process group of a child not yet reaped.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Runs `script` locally under `sh` with the allowlisted environment, in a session of its
/// own (no controlling terminal: a task writing to `/dev/tty` cannot reach the terminal
/// around the masker), the script on stdin followed by `input`. stdout goes to `out`, stderr
/// to `err` (or to `out` as well when `err` is `None`), in chunks as they arrive; returns how
/// it ended.
pub async fn run_local(
    script: &str,
    input: &[&Payload],
    privilege: Option<&Privilege>,
    out: &mut dyn OutputSink,
    err: Option<&mut dyn OutputSink>,
) -> Result<Exit, ConnError> {
    scripts::refuse_nul(script)?;
    let mut child = spawn_sh(&wrap(&scripts::bootstrap(script.len()), privilege))?;
    let mut guard = SessionGuard::new(child.id().and_then(|p| i32::try_from(p).ok()));
    let writer = feed(child.stdin.take(), script, input);
    let (so, se) = (child.stdout.take(), child.stderr.take());
    if let Some(o) = &so {
        // A larger pipe lets a fast writer get ahead: fewer, larger reads. Best effort.
        // SAFETY: fcntl on a pipe fd owned by `so`, which outlives the call.
        unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(o),
                libc::F_SETPIPE_SZ,
                PIPE_SIZE,
            );
        }
    }
    let (source_error, ()) = tokio::join!(writer, pump(so, se, out, err));
    let status = child
        .wait()
        .await
        .map_err(|e| ConnError::Failed(format!("waiting for sh: {e}")))?;
    guard.reaped();
    Ok(Exit {
        rc: status.code().unwrap_or(128 + 9),
        source_error,
    })
}

/// Starts `sh -c command_line` with piped stdio, the allowlisted environment, in a session
/// of its own.
fn spawn_sh(command_line: &str) -> Result<tokio::process::Child, ConnError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command_line)
        .env_clear()
        .envs(crate::environment::child_env().iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-
    // safe code may run: setsid(2) is, `last_os_error` reads errno without allocating, and
    // nothing takes a lock or touches memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| ConnError::Failed(format!("cannot start sh: {e}")))
}

/// The file's facts, its sha256 computed in `CHUNK` pieces, and (if asked) its content up to
/// `FETCH_LIMIT`: memory does not grow with its size.
fn stat_in_process(path: &str, with_content: bool) -> Result<FileStatus, ConnError> {
    let p = Path::new(path);
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent_exists = p
                .parent()
                .is_none_or(|d| d.as_os_str().is_empty() || d.is_dir());
            return Ok(FileStatus::Missing { parent_exists });
        }
        Err(e) => return Err(ConnError::Failed(format!("cannot stat {path}: {e}"))),
    };
    if !meta.is_file() {
        return Ok(FileStatus::NotAFile);
    }
    let cannot = |e: std::io::Error| ConnError::Failed(format!("cannot read {path}: {e}"));
    let mut file = std::fs::File::open(p).map_err(cannot)?;
    let mut hasher = Sha256::new();
    // Kept while it is small enough to show in a diff.
    let mut kept = with_content.then(Vec::new);
    let mut size = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match std::io::Read::read(&mut file, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(cannot(e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
        if size > FETCH_LIMIT {
            kept = None;
        } else if let Some(k) = &mut kept {
            k.extend_from_slice(&buf[..n]);
        }
    }
    Ok(FileStatus::File {
        sha256: hex::encode(hasher.finalize()),
        mode: meta.mode() & 0o7777,
        owner: user_name(meta.uid()),
        group: group_name(meta.gid()),
        content: with_content.then_some(match kept {
            Some(k) => OldContent::Bytes(k),
            None => OldContent::TooLarge { size },
        }),
    })
}

/// Writes `content` to `file`: a copy source in `CHUNK` pieces, checked against what was
/// hashed before the run (the temp file is removed, not renamed, if it changed).
fn write_content(file: &mut std::fs::File, tmp: &Path, content: &Payload) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot write {}: {e}", tmp.display());
    let src = match content {
        Payload::Bytes(b) => return file.write_all(b).map_err(cannot),
        Payload::File(src) => src,
    };
    let mut check = SourceCheck::new(src);
    let (source, _) = crate::input_file::open_copy_source(&src.path)
        .map_err(|e| check.changed(&e.to_string()))?;
    let mut source = std::io::Read::take(source, src.len);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match std::io::Read::read(&mut source, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(check.changed(&format!("read error: {e}"))),
        };
        check.accept(&buf[..n]);
        file.write_all(&buf[..n]).map_err(cannot)?;
    }
    check.finish()
}

fn put_in_process(path: &str, content: &Payload, attrs: &FileAttrs) -> Result<(), String> {
    let p = Path::new(path);
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(put_error(path, WriteStep::NoParent.code(), b""));
    }
    let existing = std::fs::metadata(p).ok();
    let mut rng = rand::thread_rng();
    let (tmp, mut file) = loop {
        let name: String = (0..12)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
            .collect();
        let tmp = dir.join(format!(".jetlike.{name}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(format!(
                    "cannot create a temporary file in {}: {e}",
                    dir.display()
                ))
            }
        }
    };
    let _in_flight = crate::temp_files::InFlight::register(&tmp);
    let result = (|| -> Result<(), String> {
        write_content(&mut file, &tmp, content)?;
        let (mut uid, mut gid) = (None, None);
        let mut mode = 0o644;
        if let Some(m) = &existing {
            uid = Some(m.uid());
            gid = Some(m.gid());
            mode = m.mode() & 0o7777;
        }
        if let Some(o) = &attrs.owner {
            uid = Some(uid_of(o)?);
        }
        if let Some(g) = &attrs.group {
            gid = Some(gid_of(g)?);
        }
        if let Some(m) = attrs.mode {
            mode = m;
        }
        let explicit = attrs.owner.is_some() || attrs.group.is_some();
        if uid.is_some() || gid.is_some() {
            if let Err(e) = std::os::unix::fs::fchown(&file, uid, gid) {
                if explicit {
                    return Err(format!("cannot set owner/group of {path}: {e}"));
                }
            }
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot set mode of {path}: {e}"))?;
        drop(file);
        std::fs::rename(&tmp, p)
            .map_err(|e| format!("cannot move the new file into place at {path}: {e}"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The local `sh`: the bootstrap is what a privilege wraps, so the script stays off
/// `sudo`'s argv.
impl Transport for LocalConnection {
    async fn exec(
        &self,
        script: &str,
        input: &[&Payload],
        privilege: Option<&Privilege>,
        sink: &mut dyn OutputSink,
    ) -> Result<Exit, ConnError> {
        run_local(script, input, privilege, sink, None).await
    }

    /// stdout, then stderr: a warning `sudo` prints cannot come before the reply's first line.
    async fn exec_collect(
        &self,
        script: &str,
        input: &[&Payload],
        privilege: Option<&Privilege>,
    ) -> Result<RunOutput, ConnError> {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let exit = run_local(script, input, privilege, &mut out, Some(&mut err)).await?;
        out.extend_from_slice(&err);
        Ok(RunOutput {
            rc: exit.rc,
            out,
            source_error: exit.source_error,
        })
    }
}

/// In-process without a privilege (no round trips to save: one file after the other);
/// as another user, the shared script implementation.
impl Connection for LocalConnection {
    async fn ensure(
        &self,
        path: &str,
        content: &Payload,
        want_sha256: &str,
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<Ensured, ConnError> {
        if privilege.is_some() {
            return file_ops::ensure(self, path, content, want_sha256, attrs, privilege).await;
        }
        let ensured = self
            .stat(path, false, None)
            .await?
            .decide(path, want_sha256, attrs)?;
        if !ensured.matched() {
            self.put(path, content, attrs, None).await?;
        }
        Ok(ensured)
    }

    async fn ensure_all(
        &self,
        files: &[WantedFile<'_>],
        privilege: Option<&Privilege>,
    ) -> Vec<Result<Ensured, ConnError>> {
        if privilege.is_some() {
            return file_ops::ensure_all(self, files, privilege).await;
        }
        let mut results = Vec::with_capacity(files.len());
        for f in files {
            let r = self
                .ensure(f.path, f.content, f.sha256, f.attrs, None)
                .await;
            let failed = r.is_err();
            results.push(r);
            if failed {
                break;
            }
        }
        results
    }

    async fn run(
        &self,
        cmd: &str,
        privilege: Option<&Privilege>,
        sink: &mut dyn OutputSink,
    ) -> Result<i32, ConnError> {
        file_ops::run(self, cmd, privilege, sink).await
    }

    async fn stat(
        &self,
        path: &str,
        with_content: bool,
        privilege: Option<&Privilege>,
    ) -> Result<FileStatus, ConnError> {
        if privilege.is_some() {
            return file_ops::stat(self, path, with_content, privilege).await;
        }
        let path = path.to_string();
        tokio::task::spawn_blocking(move || stat_in_process(&path, with_content))
            .await
            .map_err(|e| ConnError::Failed(e.to_string()))?
    }

    async fn put(
        &self,
        path: &str,
        content: &Payload,
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<(), ConnError> {
        if privilege.is_some() {
            return file_ops::put(self, path, content, attrs, privilege).await;
        }
        // Rendered content may hold secrets: the copy handed to the blocking thread is wiped
        // (`Payload::Bytes` is `Zeroizing`); a copy source is only its path.
        let (path, content, attrs) = (path.to_string(), content.clone(), attrs.clone());
        tokio::task::spawn_blocking(move || put_in_process(&path, &content, &attrs))
            .await
            .map_err(|e| ConnError::Failed(e.to_string()))?
            .map_err(ConnError::Failed)
    }
}
