//! The local connection: commands under `sh -c` with an allowlisted environment; files read and
//! written in-process (through the shell scripts only when running as another user).

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;

use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::users::{gid_of, group_name, uid_of, user_name};
use super::{
    scripts, wrap, ConnError, Connection, Ensured, FileAttrs, FileStatus, Privilege, RunOutput,
    WantedFile,
};

#[derive(Debug, Default, Clone)]
pub struct LocalConnection;

/// Runs `sh -c script` locally with the allowlisted environment, feeding `stdin`.
pub async fn run_local(script: &str, stdin: &[u8]) -> Result<RunOutput, ConnError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .env_clear()
        .envs(crate::environment::child_env().iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| ConnError::Failed(format!("cannot start sh: {e}")))?;
    if !stdin.is_empty() {
        if let Some(mut si) = child.stdin.take() {
            let data = stdin.to_vec();
            tokio::spawn(async move {
                let _ = si.write_all(&data).await;
            });
        }
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| ConnError::Failed(format!("waiting for sh: {e}")))?;
    let mut merged = out.stdout;
    merged.extend_from_slice(&out.stderr);
    Ok(RunOutput {
        rc: out.status.code().unwrap_or(128 + 9),
        out: merged,
    })
}

fn stat_in_process(path: &str, with_content: bool) -> Result<FileStatus, ConnError> {
    let p = Path::new(path);
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent_exists = p
                .parent()
                .map(|d| d.as_os_str().is_empty() || d.is_dir())
                .unwrap_or(true);
            return Ok(FileStatus::Missing { parent_exists });
        }
        Err(e) => return Err(ConnError::Failed(format!("cannot stat {path}: {e}"))),
    };
    if !meta.is_file() {
        return Ok(FileStatus::NotAFile);
    }
    let content =
        std::fs::read(p).map_err(|e| ConnError::Failed(format!("cannot read {path}: {e}")))?;
    Ok(FileStatus::File {
        sha256: hex::encode(Sha256::digest(&content)),
        mode: meta.mode() & 0o7777,
        owner: user_name(meta.uid()),
        group: group_name(meta.gid()),
        content: with_content.then_some(content),
    })
}

fn put_in_process(path: &str, content: &[u8], attrs: &FileAttrs) -> Result<(), String> {
    let p = Path::new(path);
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(scripts::put_error(path, scripts::NO_PARENT, b""));
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
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
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
        file.write_all(content)
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
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

impl Connection for LocalConnection {
    /// Locally a stat costs no round trip: compare, then write only if needed.
    async fn ensure(
        &self,
        path: &str,
        content: &[u8],
        want_sha256: &str,
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<Ensured, ConnError> {
        let ensured = self
            .stat(path, false, privilege)
            .await?
            .decide(path, want_sha256, attrs)?;
        if !ensured.matched() {
            self.put(path, content, attrs, privilege).await?;
        }
        Ok(ensured)
    }

    /// No round trips to save locally: one file after the other.
    async fn ensure_all(
        &self,
        files: &[WantedFile<'_>],
        privilege: Option<&Privilege>,
    ) -> Vec<Result<Ensured, ConnError>> {
        let mut results = Vec::with_capacity(files.len());
        for f in files {
            let r = self
                .ensure(f.path, f.content, f.sha256, f.attrs, privilege)
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
        stdin: &[u8],
        privilege: Option<&Privilege>,
    ) -> Result<RunOutput, ConnError> {
        run_local(&wrap(&format!("exec 2>&1\n{cmd}"), privilege), stdin).await
    }

    async fn stat(
        &self,
        path: &str,
        with_content: bool,
        privilege: Option<&Privilege>,
    ) -> Result<FileStatus, ConnError> {
        match privilege {
            None => {
                let path = path.to_string();
                tokio::task::spawn_blocking(move || stat_in_process(&path, with_content))
                    .await
                    .map_err(|e| ConnError::Failed(e.to_string()))?
            }
            Some(p) => {
                let out = run_local(&p.wrap(&scripts::stat(path, with_content)), b"").await?;
                if out.rc != 0 {
                    return Err(ConnError::Failed(format!(
                        "stat of {path} failed (exit {}): {}",
                        out.rc,
                        String::from_utf8_lossy(&out.out).trim()
                    )));
                }
                scripts::parse_stat(&out.out, with_content)
            }
        }
    }

    async fn put(
        &self,
        path: &str,
        content: &[u8],
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<(), ConnError> {
        match privilege {
            None => {
                // The content may hold secrets: the copy handed to the blocking thread is wiped.
                let (path, content, attrs) = (
                    path.to_string(),
                    zeroize::Zeroizing::new(content.to_vec()),
                    attrs.clone(),
                );
                tokio::task::spawn_blocking(move || put_in_process(&path, &content, &attrs))
                    .await
                    .map_err(|e| ConnError::Failed(e.to_string()))?
                    .map_err(ConnError::Failed)
            }
            Some(p) => {
                let out = run_local(&p.wrap(&scripts::put(path, attrs)), content).await?;
                if out.rc != 0 {
                    return Err(ConnError::Failed(scripts::put_error(
                        path, out.rc, &out.out,
                    )));
                }
                Ok(())
            }
        }
    }
}
