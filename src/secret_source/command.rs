//! Running a provider process: no shell, the allowlisted environment, no stdin, no terminal,
//! a timeout that kills its whole process group, and bounded output.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use zeroize::Zeroizing;

use super::resolve::{plain, ReadError};
use super::SourceError;

/// The most a provider may print (a secret, not a file).
const MAX_OUTPUT: u64 = 1 << 20;

/// Runs `argv` without a shell: allowlisted environment plus `extra`, stdin from /dev/null, a
/// session of its own (no controlling terminal), killed with its process group after
/// `timeout_secs`. Returns stdout; on failure, the error with stdout and stderr for masking.
pub(super) fn run_command(
    name: &str,
    describe: &str,
    argv: &[String],
    extra: &IndexMap<String, String>,
    timeout_secs: u64,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let failure = |reason: String| SourceError::Provider {
        name: name.into(),
        via: describe.into(),
        reason,
    };
    let mut child =
        spawn(argv, extra).map_err(|e| plain(failure(format!("cannot start {}: {e}", argv[0]))))?;
    // Linux pids are at most 2^22 (pid_max): the conversion cannot wrap.
    #[allow(clippy::cast_possible_wrap)]
    let pid = child.id() as libc::pid_t;
    let out_rx = drain(Box::new(child.stdout.take().expect("piped")));
    let err_rx = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(plain(failure(format!("cannot wait for it: {e}")))),
        }
    };
    let Some(status) = status else {
        // SAFETY: signals the process group the child leads (its own session).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = child.wait();
        // What it printed so far: stdout is kept (only) to mask stderr with.
        let stdout = out_rx
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        let stderr = err_rx
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        let timeout = SourceError::Timeout {
            name: name.into(),
            via: describe.into(),
            secs: timeout_secs,
        };
        return Err(Box::new((timeout, stdout, stderr)));
    };
    // A daemon it started (gpg-agent) may hold the pipes open: wait a little, then go on.
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(500));
    let stdout = out_rx.recv_timeout(left);
    let stderr = err_rx
        .recv_timeout(Duration::from_millis(500))
        .unwrap_or_default();
    let Ok(stdout) = stdout else {
        // Never a partial (or empty) value in place of the real one.
        let reason =
            "it exited, but its output stayed open (a background process it started holds it)";
        return Err(Box::new((
            failure(reason.into()),
            Zeroizing::new(vec![]),
            stderr,
        )));
    };
    checked_output(status, stdout, stderr, failure)
}

/// The finished process's value, or why it is not one: output over [`MAX_OUTPUT`], or a
/// failure status.
fn checked_output(
    status: ExitStatus,
    stdout: Zeroizing<Vec<u8>>,
    stderr: Zeroizing<Vec<u8>>,
    failure: impl Fn(String) -> SourceError,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    if stdout.len() as u64 > MAX_OUTPUT {
        let reason = format!("its output is larger than {MAX_OUTPUT} bytes");
        // Not a secret value: too large to be one, and to mask stderr with.
        return Err(Box::new((failure(reason), Zeroizing::new(vec![]), stderr)));
    }
    if !status.success() {
        let how = match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".into(),
        };
        return Err(Box::new((failure(how), stdout, stderr)));
    }
    Ok(stdout)
}

/// Starts `argv` with the allowlisted environment plus `extra`, no stdin, piped output, in a
/// session of its own.
fn spawn(argv: &[String], extra: &IndexMap<String, String>) -> std::io::Result<Child> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .envs(crate::environment::child_env().iter().map(|(k, v)| (k, v)))
        .envs(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Reads a pipe to its end (at most [`MAX_OUTPUT`] + 1 bytes, to tell that it was more) on a
/// thread of its own, into a buffer that is wiped when dropped.
fn drain(pipe: Box<dyn Read + Send>) -> Receiver<Zeroizing<Vec<u8>>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Room up front: a growing buffer would leave unwiped copies behind.
        let mut buf = Zeroizing::new(Vec::with_capacity(64 * 1024));
        let _ = pipe.take(MAX_OUTPUT + 1).read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}
