//! The SSH connection: the system `ssh` (so `~/.ssh/config`, the agent, `ProxyJump` and
//! `known_hosts` apply) with one `ControlMaster` per host for the whole run; every command and
//! file transfer is a channel over it (openssh's native mux, no process per command). This
//! file owns the session, the persistent shell and the channel fallback (the `Transport`);
//! the file operations on top are `file_ops`', the command strings `scripts`'.
//! With `--persist` the master is started by hand to outlive the run and reattached to by
//! the next one (`persisted_session`; its directory and names are `crate::persist`'s).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::ConnError;
use super::file_status::{Ensured, FileAttrs, FileStatus, WantedFile};
use super::payload::Payload;
use super::privilege::{wrap, Privilege};
use super::transport::{feed, input_len, pump, write_payloads, Exit, OutputSink, Transport, CHUNK};
use super::{file_ops, scripts, Connection};

/// How long (seconds) a `ControlMaster` with no channel open stays up.
const MASTER_IDLE_SECS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(30).unwrap();

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
    /// The run's private socket directory, or with `persist` the persisted masters' one.
    pub control_dir: PathBuf,
    /// `--persist SECS`: the master outlives the run by that long (see `crate::persist`).
    pub persist: Option<u64>,
}

impl SshTarget {
    /// What names this target's persisted master.
    fn master_key(&self) -> crate::persist::MasterKey<'_> {
        crate::persist::MasterKey {
            host: &self.host,
            hostname: &self.hostname,
            port: self.port,
            user: self.user.as_deref(),
            key_file: self.key_file.as_deref(),
            config_file: self.config_file.as_deref(),
            accept_new_host_keys: self.accept_new_host_keys,
        }
    }
}

pub struct SshConnection {
    session: Arc<Session>,
    host: String,
    /// A persisted master (`--persist`): left running when the connection closes.
    persisted: bool,
    /// The persistent remote shell every operation goes through (when bash is there).
    agent: tokio::sync::Mutex<Option<Agent>>,
    /// Without bash, an idle channel that keeps the master from timing out between
    /// operations (see `MASTER_IDLE_SECS`).
    keepalive: std::sync::Mutex<Option<openssh::Child<Arc<Session>>>>,
}

/// One `bash -s` per host, fed requests over a single channel: no channel set-up, login
/// shell or exec per operation. The framing is `scripts::agent_request`: each request runs
/// in a subshell and its output ends with a random per-connection marker followed by the
/// exit code. Input bytes (file content, streamed in pieces while the reply is read) follow
/// the request on the same stream and are read exactly by `head -c`; bash reads its own
/// commands byte by byte from a pipe, so it never swallows them.
struct Agent {
    stdin: openssh::ChildStdin,
    stdout: openssh::ChildStdout,
    _child: openssh::Child<Arc<Session>>,
    marker: String,
    buf: Vec<u8>,
    /// Has answered at least once: a failure before that means "no bash", not "host gone".
    proven: bool,
}

impl Agent {
    async fn start(session: &Arc<Session>) -> Option<Agent> {
        let mut child = Session::arc_raw_command(session.clone(), scripts::AGENT_SHELL)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .await
            .ok()?;
        let stdin = child.stdin().take()?;
        let stdout = child.stdout().take()?;
        let marker = scripts::agent_marker();
        Some(Agent {
            stdin,
            stdout,
            _child: child,
            marker,
            buf: vec![],
            proven: false,
        })
    }

    /// Sends one request, its input streamed while its output goes to `sink` as it arrives
    /// (holding back only what could be the start of the end marker); returns how it ended.
    async fn call_streaming(
        &mut self,
        script: &str,
        input: &[&Payload],
        sink: &mut dyn OutputSink,
    ) -> std::io::Result<Exit> {
        // The request holds the script, which may hold a rendered secret: wiped when sent.
        let request = zeroize::Zeroizing::new(scripts::agent_request(
            script,
            input_len(input),
            &self.marker,
        ));
        let needle = scripts::agent_needle(&self.marker);
        let Agent {
            stdin, stdout, buf, ..
        } = self;
        let send = async {
            stdin.write_all(request.as_bytes()).await?;
            let failed = write_payloads(stdin, input).await?;
            stdin.flush().await?;
            Ok::<_, std::io::Error>(failed)
        };
        let (sent, rc) = tokio::join!(send, read_reply(stdout, buf, &needle, sink));
        let (source_error, rc) = (sent?, rc?);
        self.proven = true;
        Ok(Exit { rc, source_error })
    }
}

/// Reads one reply of the persistent shell up to its end marker (`needle`) and exit code,
/// passing the output before it to `sink` as it arrives.
async fn read_reply(
    stdout: &mut openssh::ChildStdout,
    buf: &mut Vec<u8>,
    needle: &[u8],
    sink: &mut dyn OutputSink,
) -> std::io::Result<i32> {
    let finder = memchr::memmem::Finder::new(needle);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        match finder.find(buf) {
            Some(at) => {
                let rest = &buf[at + needle.len()..];
                if let Some(nl) = memchr::memchr(b'\n', rest) {
                    let rc = std::str::from_utf8(&rest[..nl])
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(255);
                    sink.chunk(&buf[..at]);
                    buf.clear();
                    return Ok(rc);
                }
            }
            None if buf.len() >= needle.len() => {
                // The marker cannot start before the last `needle.len() - 1` bytes.
                let done = buf.len() + 1 - needle.len();
                sink.chunk(&buf[..done]);
                buf.drain(..done);
            }
            None => {}
        }
        let n = stdout.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the remote shell went away",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn explain_connect_error(t: &SshTarget, e: &openssh::Error) -> String {
    let raw = e.to_string();
    let detail = std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_default();
    explain_ssh_failure(t, &format!("{raw} {detail}"))
}

/// A connection failure in words the user can act on, from what ssh said (`all`).
fn explain_ssh_failure(t: &SshTarget, all: &str) -> String {
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

/// Starts a master for `t` on `files.socket` that stays up `secs` after its last channel
/// closes, past jetlike's exit: the options `connect` gives the openssh crate, by hand,
/// because the crate's masters live in a directory of their own that dies with the session.
fn launch_persisted_master(
    t: &SshTarget,
    files: &crate::persist::MasterFiles,
    secs: u64,
) -> Result<(), String> {
    let mut cmd = std::process::Command::new("ssh");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .arg("-E")
        .arg(&files.log)
        .arg("-S")
        .arg(&files.socket)
        .args(["-M", "-f", "-N", "-o"])
        .arg(format!("ControlPersist={secs}s"))
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(if t.accept_new_host_keys {
            "StrictHostKeyChecking=accept-new"
        } else {
            "StrictHostKeyChecking=yes"
        })
        .arg("-o")
        .arg(format!(
            "ConnectTimeout={}",
            t.connect_timeout.as_secs().max(1)
        ))
        .args(["-o", "ServerAliveInterval=5"]);
    if let Some(p) = t.port {
        cmd.arg("-p").arg(p.to_string());
    }
    if let Some(u) = &t.user {
        cmd.arg("-l").arg(u);
    }
    if let Some(k) = &t.key_file {
        cmd.args(["-o", "IdentitiesOnly=yes", "-i"]).arg(k);
    }
    if let Some(c) = &t.config_file {
        cmd.arg("-F").arg(c);
    }
    let status = cmd
        .arg("--")
        .arg(&t.hostname)
        .status()
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let log = std::fs::read_to_string(&files.log).unwrap_or_default();
    let _ = std::fs::remove_file(&files.log);
    Err(explain_ssh_failure(t, &log))
}

/// A session on `t`'s persisted master: the live one an earlier run left, else a new one.
async fn persisted_session(t: &SshTarget, secs: u64) -> Result<Session, ConnError> {
    let files = crate::persist::MasterFiles::new(&t.control_dir, &t.master_key().socket_name());
    let target = t.clone();
    let f = files.clone();
    tokio::task::spawn_blocking(move || {
        crate::persist::ensure_master(&f, &target.host, || {
            launch_persisted_master(&target, &f, secs)
        })
    })
    .await
    .map_err(|e| ConnError::Unreachable(format!("cannot connect to {}: {e}", t.host)))?
    .map_err(ConnError::Unreachable)?;
    Ok(Session::resume_mux(
        files.socket.into_boxed_path(),
        Some(files.log.into_boxed_path()),
    ))
}

impl SshConnection {
    pub async fn connect(t: &SshTarget) -> Result<Self, ConnError> {
        let session = match t.persist {
            Some(secs) => persisted_session(t, secs).await?,
            None => Self::fresh_session(t).await?,
        };
        let session = Arc::new(session);
        let agent = Agent::start(&session).await;
        Ok(SshConnection {
            session,
            host: t.host.clone(),
            persisted: t.persist.is_some(),
            agent: tokio::sync::Mutex::new(agent),
            keepalive: std::sync::Mutex::new(None),
        })
    }

    /// A master of this run alone, in its private directory.
    async fn fresh_session(t: &SshTarget) -> Result<Session, ConnError> {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if t.accept_new_host_keys {
            KnownHosts::Add
        } else {
            KnownHosts::Strict
        })
        .connect_timeout(t.connect_timeout)
        .server_alive_interval(Duration::from_secs(5))
        // A master with no channel open exits after this, so one cannot outlive a jetlike
        // that was killed. During a run a channel is always open (the persistent shell, or
        // the keep-alive channel when the host has no bash).
        .control_persist(ControlPersist::IdleFor(MASTER_IDLE_SECS))
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
        b.connect_mux(&t.hostname)
            .await
            .map_err(|e| ConnError::Unreachable(explain_connect_error(t, &e)))
    }

    /// The persistent shell is gone before it ever answered: the host has no bash, and each
    /// operation gets a channel of its own from now on.
    async fn without_agent(&self) {
        let child = Session::arc_raw_command(self.session.clone(), scripts::KEEPALIVE)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .await
            .ok();
        *self.keepalive.lock().unwrap() = child;
    }

    /// Tears down the `ControlMaster`; a persisted one is left up for the next run (it
    /// exits by itself `--persist` seconds after its last channel closes).
    pub async fn close(self) {
        let SshConnection {
            session,
            agent,
            keepalive,
            persisted,
            ..
        } = self;
        drop(agent.into_inner());
        drop(keepalive.into_inner());
        if let Ok(session) = Arc::try_unwrap(session) {
            if persisted {
                drop(session.detach());
            } else {
                let _ = session.close().await;
            }
        }
    }

    /// Runs a script on the host: through the persistent shell if there is one, else on a
    /// channel of its own. Output goes to `sink` as it arrives.
    async fn exec_streaming(
        &self,
        script: &str,
        stdin: &[&Payload],
        sink: &mut dyn OutputSink,
    ) -> Result<Exit, ConnError> {
        scripts::refuse_nul(script)?;
        let mut agent = self.agent.lock().await;
        if let Some(a) = agent.as_mut() {
            return match a.call_streaming(script, stdin, sink).await {
                Ok(exit) => Ok(exit),
                Err(_) if !a.proven => {
                    // No bash on the host: one channel per operation instead.
                    *agent = None;
                    drop(agent);
                    self.without_agent().await;
                    self.exec_channel(script, stdin, sink).await
                }
                Err(e) => {
                    *agent = None;
                    Err(ConnError::Lost(format!(
                        "connection to {} lost: {e}",
                        self.host
                    )))
                }
            };
        }
        drop(agent);
        self.exec_channel(script, stdin, sink).await
    }

    /// A channel of its own (hosts without bash). The remote command line is constant: the
    /// script reaches `sh` on stdin (read exactly by `head -c`), followed by `stdin`. stdout
    /// and stderr go to `sink` as they arrive.
    async fn exec_channel(
        &self,
        script: &str,
        stdin: &[&Payload],
        sink: &mut dyn OutputSink,
    ) -> Result<Exit, ConnError> {
        let lost =
            |e: openssh::Error| ConnError::Lost(format!("connection to {} failed: {e}", self.host));
        let mut cmd = self
            .session
            .raw_command(scripts::channel_command(script.len()));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(lost)?;
        let feed = feed(child.stdin().take(), script, stdin);
        let reader = pump(child.stdout().take(), child.stderr().take(), sink, None);
        let (source_error, ()) = tokio::join!(feed, reader);
        let status = child.wait().await.map_err(lost)?;
        match status.code() {
            Some(rc) => Ok(Exit { rc, source_error }),
            None => Err(ConnError::Lost(format!(
                "connection to {} lost while a command ran",
                self.host
            ))),
        }
    }
}

/// Scripts run through the persistent shell when there is one, else on a channel of their
/// own; with a privilege the whole script is wrapped (it travels on the channel's stdin).
impl Transport for SshConnection {
    async fn exec(
        &self,
        script: &str,
        input: &[&Payload],
        privilege: Option<&Privilege>,
        sink: &mut dyn OutputSink,
    ) -> Result<Exit, ConnError> {
        self.exec_streaming(&wrap(script, privilege), input, sink)
            .await
    }
}

/// Everything goes through the shared script implementation.
impl Connection for SshConnection {
    async fn ensure(
        &self,
        path: &str,
        content: &Payload,
        want_sha256: &str,
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<Ensured, ConnError> {
        file_ops::ensure(self, path, content, want_sha256, attrs, privilege).await
    }

    /// Two round trips for any number of files: one inspects them all (one `stat` and one
    /// `sha256sum` process), one writes those that differ, their contents back to back on stdin.
    async fn ensure_all(
        &self,
        files: &[WantedFile<'_>],
        privilege: Option<&Privilege>,
    ) -> Vec<Result<Ensured, ConnError>> {
        file_ops::ensure_all(self, files, privilege).await
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
        file_ops::stat(self, path, with_content, privilege).await
    }

    async fn put(
        &self,
        path: &str,
        content: &Payload,
        attrs: &FileAttrs,
        privilege: Option<&Privilege>,
    ) -> Result<(), ConnError> {
        file_ops::put(self, path, content, attrs, privilege).await
    }
}
