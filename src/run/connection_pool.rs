//! The connection pool: one connection per host, opened on first use, the SSH target of a
//! host worked out from its precedence rules. Open masters are bounded by `--threads`, not
//! by the fleet: past the cap the least recently used idle ones are closed, a host no later
//! play selects is closed after its last play, and the rest at the end. With `--persist`
//! "closed" means let go: the master stays up for the next run (`crate::persist`), so the
//! cap bounds the connections in use, and the ssh processes are bounded by the fleet.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::runner::SshOptions;
use crate::connection::ssh::SshTarget;
use crate::connection::{AnyConnection, LocalConnection, SshConnection};
use crate::inventory::Inventory;
use crate::playbook::{LoadedPlay, Vars};

/// A host's connection, opened once and shared by its tasks (or the reason it failed).
type ConnCell = Arc<tokio::sync::OnceCell<Result<Arc<AnyConnection>, String>>>;

fn str_var(vars: &Vars, key: &str) -> Option<String> {
    match vars.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The connections of a run (`ssh: None`: local mode, every host is this machine).
pub(super) struct ConnectionPool {
    ssh: Option<SshOptions>,
    /// Per connection key: the cell and when it was last handed out (a use counter).
    conns: tokio::sync::Mutex<HashMap<String, (ConnCell, u64)>>,
    uses: std::sync::atomic::AtomicU64,
    /// Open connections kept beyond those in use (idle ones past it are closed, oldest first).
    cap: usize,
    /// Where the `ControlMaster` sockets live (SSH mode), removed with the pool.
    control_dir: Option<tempfile::TempDir>,
}

impl ConnectionPool {
    pub(super) fn new(ssh: Option<SshOptions>, cap: usize) -> std::io::Result<Self> {
        // Persisted masters live in their own directory, which outlives the pool.
        let control_dir = match &ssh {
            Some(SshOptions { persist: None, .. }) => {
                Some(tempfile::Builder::new().prefix("jetlike-ssh.").tempdir()?)
            }
            _ => None,
        };
        Ok(ConnectionPool {
            ssh,
            conns: tokio::sync::Mutex::default(),
            uses: std::sync::atomic::AtomicU64::new(0),
            cap: cap.max(1),
            control_dir,
        })
    }

    /// The SSH target of `host` for `play`. Precedence, highest first: inventory
    /// `jet_ssh_*` variables, play `ssh_user`/`ssh_port`, `--user`/`--port` (whose defaults
    /// come from `JET_SSH_USER`/`JET_SSH_PORT`), then `~/.ssh/config` and ssh's own defaults.
    fn ssh_target(
        &self,
        inventory: &Inventory,
        host: &str,
        play: &LoadedPlay,
        ssh: &SshOptions,
    ) -> Result<SshTarget, String> {
        let v = inventory.host_variables(host);
        let port = match str_var(&v, "jet_ssh_port") {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("jet_ssh_port of {host} is not a port number: {p:?}"))?,
            ),
            None => play.play.ssh_port.or(ssh.port),
        };
        Ok(SshTarget {
            host: host.to_string(),
            hostname: str_var(&v, "jet_ssh_hostname").unwrap_or_else(|| host.to_string()),
            port,
            user: str_var(&v, "jet_ssh_user")
                .or_else(|| play.play.ssh_user.clone())
                .or_else(|| ssh.user.clone()),
            key_file: str_var(&v, "jet_ssh_private_key_file").map(PathBuf::from),
            config_file: ssh.config_file.clone(),
            accept_new_host_keys: ssh.accept_new_host_keys,
            connect_timeout: ssh.connect_timeout,
            control_dir: match (&ssh.persist, &self.control_dir) {
                (Some(p), _) => p.dir.clone(),
                (None, Some(d)) => d.path().to_path_buf(),
                (None, None) => std::env::temp_dir(),
            },
            persist: ssh.persist.as_ref().map(|p| p.secs),
        })
    }

    /// One connection per host for the whole run, opened on first use.
    pub(super) async fn connection(
        &self,
        inventory: &Inventory,
        host: &str,
        play: &LoadedPlay,
    ) -> Result<Arc<AnyConnection>, String> {
        let Some(ssh) = &self.ssh else {
            return Ok(Arc::new(AnyConnection::Local(LocalConnection)));
        };
        let target = self.ssh_target(inventory, host, play, ssh)?;
        if target.hostname == "localhost" && target.port.is_none() && target.user.is_none() {
            return Ok(Arc::new(AnyConnection::Local(LocalConnection)));
        }
        let key = format!(
            "{host}\0{}\0{:?}\0{:?}\0{:?}",
            target.hostname, target.port, target.user, target.key_file
        );
        let now = self.uses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cell = {
            let mut conns = self.conns.lock().await;
            let entry = conns.entry(key).or_default();
            entry.1 = now;
            entry.0.clone()
        };
        if !cell.initialized() {
            // Make room first, so a new master is not started beside a full pool.
            self.evict_idle(self.cap.saturating_sub(1)).await;
        }
        let conn = cell
            .get_or_init(|| async {
                SshConnection::connect(&target)
                    .await
                    .map(|c| Arc::new(AnyConnection::Ssh(Box::new(c))))
                    .map_err(|e| e.to_string())
            })
            .await
            .clone();
        self.evict_idle(self.cap).await;
        conn
    }

    /// Closes idle connections, least recently used first, until at most `keep` are open.
    /// A connection in use (its `Arc` held by a host worker) is never closed.
    async fn evict_idle(&self, keep: usize) {
        let closing: Vec<ConnCell> = {
            let mut conns = self.conns.lock().await;
            let open = conns.values().filter(|(c, _)| c.initialized()).count();
            if open <= keep {
                return;
            }
            let mut idle: Vec<(u64, String)> = conns
                .iter()
                .filter(|(_, (c, _))| is_idle(c))
                .map(|(k, (_, used))| (*used, k.clone()))
                .collect();
            idle.sort_unstable();
            idle.into_iter()
                .take(open - keep)
                .filter_map(|(_, k)| conns.remove(&k).map(|(c, _)| c))
                .collect()
        };
        close_all(closing).await;
    }

    /// Closes `host`'s connections: no later play selects it.
    pub(super) async fn release(&self, host: &str) {
        let prefix = format!("{host}\0");
        let closing: Vec<ConnCell> = {
            let mut conns = self.conns.lock().await;
            let keys: Vec<String> = conns
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect();
            keys.iter()
                .filter_map(|k| conns.remove(k).map(|(c, _)| c))
                .collect()
        };
        close_all(closing).await;
    }

    /// Closes every `ControlMaster`.
    pub(super) async fn shutdown(&self) {
        let cells: Vec<_> = self
            .conns
            .lock()
            .await
            .drain()
            .map(|(_, (c, _))| c)
            .collect();
        close_all(cells).await;
    }
}

/// Open, and held by nobody but the pool.
fn is_idle(cell: &ConnCell) -> bool {
    Arc::strong_count(cell) == 1
        && matches!(cell.get(), Some(Ok(conn)) if Arc::strong_count(conn) == 1)
}

/// Closes the masters of `cells`; one still in use elsewhere is left to close when dropped.
async fn close_all(cells: Vec<ConnCell>) {
    for cell in cells {
        if let Some(Ok(conn)) = Arc::try_unwrap(cell)
            .ok()
            .and_then(tokio::sync::OnceCell::into_inner)
        {
            if let Ok(AnyConnection::Ssh(s)) = Arc::try_unwrap(conn) {
                s.close().await;
            }
        }
    }
}
