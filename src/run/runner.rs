//! The runner: plays in order; within a play, hosts concurrently (at most `--threads` in
//! flight, in batches of `batch_size`), each host walking the task list on its own (see
//! `host_run`), then its notified handlers. A host that fails stops; the others go on.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::connection_pool::ConnectionPool;
use super::host_run::HostRun;
use super::recorder::Recorder;
use crate::connection::AnyConnection;
use crate::inventory::Inventory;
use crate::output::{Event, Output};
use crate::playbook::{LoadedPlay, LoadedTask, Vars};
use crate::prepare::Prepared;
use crate::secret::Secret;
use crate::template::Engine;

/// How to reach hosts over SSH (the command-line side of the precedence in
/// `connection_pool`).
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub user: Option<String>,
    pub port: Option<u16>,
    pub config_file: Option<PathBuf>,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    /// `--persist SECS`: masters outlive the run (see `crate::persist`).
    pub persist: Option<crate::persist::Persist>,
}

/// What the command line asks of the run.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // three independent switches of the command line
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    /// `false` with `--no-diff-content`.
    pub diff_content: bool,
    pub threads: usize,
    pub batch_size: Option<usize>,
    pub tags: Vec<String>,
    pub sudo: Option<String>,
    /// `None`: local mode.
    pub ssh: Option<SshOptions>,
    pub extra_vars: Vars,
    /// The masker of every output stream: secrets found during the run join it.
    pub masker: Arc<crate::mask::Masker>,
}

/// How the run ended, for the exit code.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub failed: bool,
    pub unreachable: bool,
    pub interrupted: bool,
}

/// Runs plays on hosts. Shared (`Arc<Runner>`) by every host worker.
pub struct Runner {
    pub engine: Arc<Engine>,
    pub output: Arc<Output>,
    pub opts: RunOptions,
    pub inventory: Arc<Inventory>,
    pub prepared: Arc<Prepared>,
    pub env: Arc<BTreeMap<String, Secret>>,
    pub cancelled: Arc<AtomicBool>,
    pool: ConnectionPool,
    /// What each host's tasks saved (`save:`), kept across plays.
    facts: Mutex<HashMap<String, Vars>>,
    pub(super) recorder: Recorder,
}

impl Runner {
    pub fn new(
        engine: Arc<Engine>,
        output: Arc<Output>,
        opts: RunOptions,
        inventory: Arc<Inventory>,
        prepared: Arc<Prepared>,
        env: Arc<BTreeMap<String, Secret>>,
    ) -> std::io::Result<Self> {
        let pool = ConnectionPool::new(opts.ssh.clone(), opts.threads)?;
        let recorder = Recorder::new(output.clone(), opts.masker.clone());
        Ok(Runner {
            engine,
            output,
            opts,
            inventory,
            prepared,
            env,
            cancelled: Arc::new(AtomicBool::new(false)),
            pool,
            facts: Mutex::default(),
            recorder,
        })
    }

    /// The connection of `host` (opened on first use).
    pub(super) async fn connection(
        &self,
        host: &str,
        play: &LoadedPlay,
    ) -> Result<Arc<AnyConnection>, String> {
        self.pool.connection(&self.inventory, host, play).await
    }

    /// Closes every `ControlMaster`.
    pub async fn shutdown(&self) {
        self.pool.shutdown().await;
    }

    pub fn outcome(&self) -> Outcome {
        Outcome {
            failed: self.recorder.failed(),
            unreachable: self.recorder.unreachable(),
            interrupted: self.is_cancelled(),
        }
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// What `host`'s tasks saved so far.
    pub(super) fn facts_of(&self, host: &str) -> Vars {
        self.facts
            .lock()
            .unwrap()
            .get(host)
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn save_fact(&self, host: &str, name: String, value: serde_json::Value) {
        self.facts
            .lock()
            .unwrap()
            .entry(host.to_string())
            .or_default()
            .insert(name, value);
    }

    /// Whether `--tags` selects `task`.
    pub(super) fn selected(&self, task: &LoadedTask) -> bool {
        self.opts.tags.is_empty()
            || task
                .tags()
                .iter()
                .any(|t| self.opts.tags.iter().any(|w| w == t))
    }

    pub async fn run(self: &Arc<Self>, plays: Vec<(Arc<LoadedPlay>, Vec<String>)>) -> Outcome {
        if self.opts.ssh.is_some() {
            // One unit per host and play: a host is "done" once per play it takes part in.
            self.output
                .start_progress(plays.iter().map(|(_, h)| h.len()).sum());
        }
        // Per play, the hosts of the plays after it: a host none of them selects is closed
        // as soon as its last play ends.
        let mut later: Vec<std::collections::HashSet<String>> =
            vec![std::collections::HashSet::default(); plays.len()];
        for i in (0..plays.len().saturating_sub(1)).rev() {
            let mut next = later[i + 1].clone();
            next.extend(plays[i + 1].1.iter().cloned());
            later[i] = next;
        }
        for ((play, hosts), later) in plays.into_iter().zip(later) {
            if self.is_cancelled() {
                break;
            }
            self.run_play(&play, hosts, Arc::new(later)).await;
        }
        self.output.stop_progress();
        if self.opts.check || self.opts.diff {
            self.output
                .emit(&self.recorder.diff_summary(self.opts.check));
        }
        self.output.emit(&Event::Recap {
            hosts: self.output.recap(),
        });
        self.outcome()
    }

    /// One play on the hosts still in the run, in batches, at most `--threads` at a time.
    /// A host not in `later` (no later play selects it) has its connection closed as soon as
    /// it is done.
    async fn run_play(
        self: &Arc<Self>,
        play: &Arc<LoadedPlay>,
        hosts: Vec<String>,
        later: Arc<std::collections::HashSet<String>>,
    ) {
        let hosts = self.recorder.alive(hosts);
        self.output.emit(&Event::Play {
            play: play.play.name.clone(),
            hosts: hosts.len(),
            check: self.opts.check,
        });
        let batch = play
            .play
            .batch_size
            .or(self.opts.batch_size)
            .unwrap_or(usize::MAX)
            .max(1);
        let sem = Arc::new(tokio::sync::Semaphore::new(self.opts.threads.max(1)));
        for chunk in hosts.chunks(batch) {
            let mut set = tokio::task::JoinSet::new();
            for host in chunk {
                let (me, play, host, sem) = (self.clone(), play.clone(), host.clone(), sem.clone());
                let later = later.clone();
                set.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    if me.is_cancelled() {
                        return;
                    }
                    me.output.update_progress(|p| p.in_flight += 1);
                    HostRun::start(&me, &play, &host).await;
                    if !later.contains(&host) {
                        me.pool.release(&host).await;
                    }
                    let failed = me.recorder.is_dead(&host);
                    me.output.update_progress(|p| {
                        p.in_flight -= 1;
                        p.done += 1;
                        p.failed += usize::from(failed);
                    });
                });
            }
            while let Some(r) = set.join_next().await {
                if let Err(e) = r {
                    self.output
                        .warn(&format!("a host worker stopped unexpectedly: {e}"));
                    self.recorder.fail_run();
                }
            }
        }
    }
}
