//! Opt-in SSH connection reuse between runs (`--persist SECS`, `jetlike disconnect`): the
//! private directory the persisted `ControlMaster` sockets live in, the socket name of a
//! target, starting a master that outlives jetlike, reattaching to a live one, and closing
//! them. A run at one host is almost all SSH handshake; a persisted master skips it.
//!
//! The directory is `${TMPDIR:-/tmp}/jetlike-<uid>`, created 0700; jetlike refuses it when
//! it is not a directory owned by the user or is group/world accessible (another user could
//! then reach the sockets, which carry authenticated sessions). A socket is named by a hash
//! of everything that makes the master what it is (host alias, host name, port, user, key,
//! ssh config, host-key policy), so a run with other options never reuses a master made
//! with different ones; beside it, `<name>.host` says which inventory host it serves (for
//! `disconnect --inventory`) and `<name>.log` holds the master's own messages.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `--persist SECS`, with the directory its masters live in (checked at start-up).
#[derive(Debug, Clone)]
pub struct Persist {
    pub secs: u64,
    pub dir: PathBuf,
}

/// Unix socket paths are limited to ~104 bytes (108 on Linux, 104 on the BSDs).
const MAX_SOCKET_PATH: usize = 100;

/// What makes one persisted master: the inventory host and how ssh reaches it.
#[derive(Debug, Clone)]
pub struct MasterKey<'a> {
    pub host: &'a str,
    pub hostname: &'a str,
    pub port: Option<u16>,
    pub user: Option<&'a str>,
    pub key_file: Option<&'a Path>,
    pub config_file: Option<&'a Path>,
    pub accept_new_host_keys: bool,
}

impl MasterKey<'_> {
    /// The socket's file name: 24 hex digits of a hash of every field (short, for the path
    /// limit; a different option gives a different master).
    pub fn socket_name(&self) -> String {
        let mut h = Sha256::new();
        let opt = |p: Option<&Path>| p.map(|p| p.display().to_string()).unwrap_or_default();
        for part in [
            "jetlike-master-v1",
            self.host,
            self.hostname,
            &self.port.map(|p| p.to_string()).unwrap_or_default(),
            self.user.unwrap_or_default(),
            &opt(self.key_file),
            &opt(self.config_file),
            if self.accept_new_host_keys {
                "accept-new"
            } else {
                "strict"
            },
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..12])
    }
}

/// The persisted masters' directory, created (0700) if missing and checked: a directory, not
/// a symlink, owned by the user, with no group or world access.
pub fn directory() -> Result<PathBuf, String> {
    let base = std::env::var_os("TMPDIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let uid = nix::unistd::geteuid().as_raw();
    let dir = base.join(format!("jetlike-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(format!(
                "cannot create {} for persisted SSH connections: {e}",
                dir.display()
            ))
        }
    }
    check_private(&dir, uid)?;
    if dir.join("x".repeat(28)).as_os_str().len() > MAX_SOCKET_PATH {
        return Err(format!(
            "{} is too long a directory for SSH control sockets (at most {} bytes with the \
             socket name); set TMPDIR to a shorter directory",
            dir.display(),
            MAX_SOCKET_PATH - 29
        ));
    }
    Ok(dir)
}

/// Refuses `dir` unless it is a real directory of `uid` with mode `0700` or stricter.
fn check_private(dir: &Path, uid: u32) -> Result<(), String> {
    let refuse = |why: String| {
        Err(format!(
            "refusing to keep SSH connections in {}: {why}",
            dir.display()
        ))
    };
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot inspect {}: {e}", dir.display()))?;
    if !meta.file_type().is_dir() {
        return refuse("it is not a directory (a symlink or file is in the way)".into());
    }
    if meta.uid() != uid {
        return refuse(format!(
            "it is owned by uid {}, not by you (uid {uid}); remove it",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return refuse(format!(
            "it is accessible to other users (mode {mode:o}); `chmod 700 {}` or remove it",
            dir.display()
        ));
    }
    Ok(())
}

/// The files of one persisted master in `dir`.
#[derive(Debug, Clone)]
pub struct MasterFiles {
    pub socket: PathBuf,
    pub log: PathBuf,
    pub host: PathBuf,
    /// Held (`flock`) while a master is checked or started, so two runs never start two.
    pub lock: PathBuf,
}

impl MasterFiles {
    pub fn new(dir: &Path, name: &str) -> MasterFiles {
        MasterFiles {
            socket: dir.join(name),
            log: dir.join(format!("{name}.log")),
            host: dir.join(format!("{name}.host")),
            lock: dir.join(format!("{name}.lock")),
        }
    }

    /// Records which inventory host the master serves (written atomically).
    pub fn write_host(&self, host: &str) -> std::io::Result<()> {
        let dir = self.host.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, host.as_bytes())?;
        tmp.persist(&self.host).map(|_| ()).map_err(|e| e.error)
    }

    fn remove(&self) {
        for p in [&self.socket, &self.log, &self.host, &self.lock] {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Whether the master behind `socket` answers (`ssh -O check`).
pub fn is_alive(socket: &Path) -> bool {
    control(socket, "check")
}

/// Sends `ssh -O <op>` to the master behind `socket`.
fn control(socket: &Path, op: &str) -> bool {
    std::process::Command::new("ssh")
        .arg("-S")
        .arg(socket)
        .args(["-o", "BatchMode=yes", "-O", op, "jetlike-persisted"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure a live master answers on `files.socket`: the one an earlier run left (`true`:
/// reused), else one `launch` starts (`false`). Blocking: holds the master's lock file, so
/// two concurrent runs never both start one (ssh would leave the second without a socket).
pub fn ensure_master(
    files: &MasterFiles,
    host: &str,
    launch: impl FnOnce() -> Result<(), String>,
) -> Result<bool, String> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&files.lock)
        .map_err(|e| format!("cannot open {}: {e}", files.lock.display()))?;
    let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("cannot lock {}: {e}", files.lock.display()))?;
    if files.socket.exists() {
        if is_alive(&files.socket) {
            return Ok(true);
        }
        // Left behind by a master that was killed.
        let _ = std::fs::remove_file(&files.socket);
    }
    let _ = std::fs::remove_file(&files.log);
    launch()?;
    // Only `disconnect --inventory` reads it: a master without it is still closed by a
    // plain `disconnect`.
    let _ = files.write_host(host);
    drop(lock);
    Ok(false)
}

/// Closes the persisted masters in `dir` (`ssh -O exit`, then their files), all of them or
/// those serving one of `hosts`; returns how many were closed.
pub fn disconnect(dir: &Path, hosts: Option<&std::collections::BTreeSet<String>>) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut closed = 0;
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_socket()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let files = MasterFiles::new(dir, &name);
        if let Some(hosts) = hosts {
            let host = std::fs::read_to_string(&files.host).unwrap_or_default();
            if !hosts.contains(&host) {
                continue;
            }
        }
        if control(&files.socket, "exit") {
            closed += 1;
        }
        files.remove();
    }
    remove_orphan_locks(dir);
    closed
}

/// Lock files of masters that never started (their host was unreachable).
fn remove_orphan_locks(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|x| x == "lock") && !p.with_extension("").exists() {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: Option<&str>, accept_new: bool) -> MasterKey<'_> {
        MasterKey {
            host: "web1",
            hostname: "10.0.0.1",
            port: Some(22),
            user,
            key_file: None,
            config_file: None,
            accept_new_host_keys: accept_new,
        }
    }

    #[test]
    fn every_option_changes_the_socket_name() {
        let base = key(Some("root"), false).socket_name();
        assert_eq!(base.len(), 24);
        assert_eq!(base, key(Some("root"), false).socket_name());
        assert_ne!(base, key(Some("deploy"), false).socket_name());
        assert_ne!(base, key(Some("root"), true).socket_name());
        assert_ne!(base, key(None, false).socket_name());
        let cfg = Path::new("/etc/other");
        let other = MasterKey {
            config_file: Some(cfg),
            ..key(Some("root"), false)
        };
        assert_ne!(base, other.socket_name());
    }

    #[test]
    fn a_shared_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(check_private(d.path(), uid).is_ok());
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_private(d.path(), uid).unwrap_err();
        assert!(e.contains("accessible to other users (mode 777)"), "{e}");
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let e = check_private(d.path(), uid + 1).unwrap_err();
        assert!(e.contains("not by you"), "{e}");
    }
}
