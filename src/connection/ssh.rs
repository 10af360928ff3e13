//! The SSH connection: the system `ssh` (so `~/.ssh/config`, the agent, ProxyJump and
//! known_hosts apply) with one ControlMaster per host for the whole run; every command and file
//! transfer is a channel over it (openssh's native mux, no process per command).

use std::path::PathBuf;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;

use super::{
    scripts, wrap, ConnError, Connection, Ensured, FileAttrs, FileStatus, Privilege, RunOutput,
};

/// Everything needed to reach one host, resolved from inventory, play and command line.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub hostname: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub key_file: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    pub control_dir: PathBuf,
}

pub struct SshConnection {
    session: Session,
    host: String,
}

fn explain_connect_error(t: &SshTarget, e: &openssh::Error) -> String {
    let raw = e.to_string();
    let detail = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let all = format!("{raw} {detail}");
    let port = t.port.unwrap_or(22);
    if all.contains("Host key verification failed")
        || all.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        format!(
            "host key of {} ({}:{port}) is unknown or has changed; verify it and add it to known_hosts \
             (e.g. `ssh-keyscan -p {port} {}` after checking the fingerprint), or pass --accept-new-host-keys \
             to trust a first-seen key",
            t.host, t.hostname, t.hostname
        )
    } else if all.contains("Permission denied") {
        format!(
            "authentication to {} ({}:{port}) failed: {}; check the user (jet_ssh_user / --user) and key \
             (jet_ssh_private_key_file, ssh-agent)",
            t.host,
            t.hostname,
            all.trim()
        )
    } else {
        format!(
            "cannot connect to {} ({}:{port}): {}",
            t.host,
            t.hostname,
            all.trim()
        )
    }
}

impl SshConnection {
    pub async fn connect(t: &SshTarget) -> Result<Self, ConnError> {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if t.accept_new_host_keys {
            KnownHosts::Add
        } else {
            KnownHosts::Strict
        })
        .connect_timeout(t.connect_timeout)
        .server_alive_interval(Duration::from_secs(5))
        .control_directory(&t.control_dir);
        if let Some(p) = t.port {
            b.port(p);
        }
        if let Some(u) = &t.user {
            b.user(u.clone());
        }
        if let Some(k) = &t.key_file {
            b.keyfile(k);
        }
        if let Some(c) = &t.config_file {
            b.config_file(c);
        }
        let session = b
            .connect_mux(&t.hostname)
            .await
            .map_err(|e| ConnError::Unreachable(explain_connect_error(t, &e)))?;
        Ok(SshConnection {
            session,
            host: t.host.clone(),
        })
    }

    /// Tears down the ControlMaster.
    pub async fn close(self) {
        let _ = self.session.close().await;
    }

    async fn exec(&self, script: &str, stdin: &[u8]) -> Result<RunOutput, ConnError> {
        let lost = |e: openssh::Error| {
            ConnError::Failed(format!("connection to {} failed: {e}", self.host))
        };
        let mut cmd = self
            .session
            .raw_command(format!("sh -c {}", scripts::quote(script)));
        cmd.stdin(if stdin.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(lost)?;
        let writer = child.stdin().take();
        let feed = async move {
            if let Some(mut w) = writer {
                let _ = w.write_all(stdin).await;
                let _ = w.shutdown().await;
            }
        };
        let (_, out) = tokio::join!(feed, child.wait_with_output());
        let out = out.map_err(lost)?;
        let mut merged = out.stdout;
        merged.extend_from_slice(&out.stderr);
        match out.status.code() {
            Some(rc) => Ok(RunOutput { rc, out: merged }),
            None => Err(ConnError::Failed(format!(
                "connection to {} lost while a command ran",
                self.host
            ))),
        }
    }
}

impl Connection for SshConnection {
    async fn ensure(
        &self,
        path: &str,
        content: &[u8],
        want_sha256: &str,
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<Ensured, ConnError> {
        let script = scripts::ensure(path, attrs, want_sha256);
        let out = self.exec(&wrap(&script, privilege), content).await?;
        if out.rc != 0 {
            return Err(ConnError::Failed(scripts::put_error(
                path, out.rc, &out.out,
            )));
        }
        let (created, changes) = scripts::parse_ensure(&out.out)
            .ok_or_else(|| ConnError::Failed(format!("unexpected reply while writing {path}")))?;
        Ok(Ensured { created, changes })
    }

    async fn run(
        &self,
        cmd: &str,
        stdin: &[u8],
        privilege: Option<&Privilege>,
    ) -> Result<RunOutput, ConnError> {
        self.exec(&wrap(&format!("exec 2>&1\n{cmd}"), privilege), stdin)
            .await
    }

    async fn stat(
        &self,
        path: &str,
        with_content: bool,
        privilege: Option<&Privilege>,
    ) -> Result<FileStatus, ConnError> {
        let out = self
            .exec(&wrap(&scripts::stat(path, with_content), privilege), b"")
            .await?;
        if out.rc != 0 {
            return Err(ConnError::Failed(format!(
                "stat of {path} failed (exit {}): {}",
                out.rc,
                String::from_utf8_lossy(&out.out).trim()
            )));
        }
        scripts::parse_stat(&out.out, with_content)
    }

    async fn put(
        &self,
        path: &str,
        content: &[u8],
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<(), ConnError> {
        let out = self
            .exec(&wrap(&scripts::put(path, attrs), privilege), content)
            .await?;
        if out.rc != 0 {
            return Err(ConnError::Failed(scripts::put_error(
                path, out.rc, &out.out,
            )));
        }
        Ok(())
    }
}
