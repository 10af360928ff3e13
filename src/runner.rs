//! The runner: plays in order; within a play, hosts concurrently (at most `--threads` in flight,
//! in batches of `batch_size`), each host walking the task list on its own, then its notified
//! handlers. A host that fails stops; the others go on.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::capture::LiveHead;
use crate::connection::ssh::SshTarget;
use crate::connection::{
    AnyConnection, Connection, LocalConnection, Privilege, SshConnection, WantedFile,
    COMMAND_PLACEHOLDER,
};
use crate::inventory::Inventory;
use crate::modules::file::{converged, Content, FileModule, Wanted};
use crate::modules::shell::Shell;
use crate::modules::{Applied, Plan, TaskCtx, TaskError, TaskModule, TaskStream};
use crate::output::{Event, Failure, Output, Status, TaskEvent};
use crate::playbook::{FileTask, LoadedPlay, LoadedTask, Task, Vars};
use crate::prepare::{items_of, Prepared};
use crate::secret::Secret;
use crate::source::{resolve_source, SourceKind};
use crate::template::Engine;
use crate::var_precedence::task_vars;

/// A host's connection, opened once and shared by its tasks (or the reason it failed).
type ConnCell = Arc<tokio::sync::OnceCell<Result<Arc<AnyConnection>, String>>>;

#[derive(Debug, Clone)]
pub struct SshOptions {
    pub user: Option<String>,
    pub port: Option<u16>,
    pub config_file: Option<PathBuf>,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
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

#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub failed: bool,
    pub unreachable: bool,
    pub interrupted: bool,
}

pub struct Runner {
    pub engine: Arc<Engine>,
    pub output: Arc<Output>,
    pub opts: RunOptions,
    pub inventory: Arc<Inventory>,
    pub prepared: Arc<Prepared>,
    pub env: Arc<BTreeMap<String, Secret>>,
    conns: tokio::sync::Mutex<HashMap<String, ConnCell>>,
    facts: Mutex<HashMap<String, Vars>>,
    /// Hosts that failed or could not be reached: they take no further part in the run.
    dead: Mutex<HashSet<String>>,
    failed: AtomicBool,
    unreachable: AtomicBool,
    /// For the check-mode footer: files with a content diff, and (host, variable) rotations.
    files_changed: std::sync::atomic::AtomicUsize,
    secrets_changed: Mutex<BTreeSet<(String, String)>>,
    pub cancelled: Arc<AtomicBool>,
    control_dir: Option<tempfile::TempDir>,
}

const ITEMS_NOT_A_LIST: &str = "`items` must be a list, or the name of a variable holding a list";

/// One task with one item, in a batch of file tasks.
struct Unit<'t> {
    task: &'t LoadedTask,
    ev: TaskEvent,
    vars: Value,
    step: Step,
}

enum Step {
    /// Its condition is false.
    Skipped,
    /// Ready to send, with the privilege it runs under.
    Ready(Box<Wanted>, Option<Privilege>),
    /// Could not be prepared (`None`: the failure is already in the event).
    Broken(Option<TaskError>),
}

fn ignores_errors(task: &LoadedTask) -> bool {
    task.task.and().is_some_and(|a| a.ignore_errors)
}

fn item_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn str_var(vars: &Vars, key: &str) -> Option<String> {
    match vars.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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
        let control_dir = match &opts.ssh {
            Some(_) => Some(tempfile::Builder::new().prefix("jetlike-ssh.").tempdir()?),
            None => None,
        };
        Ok(Runner {
            engine,
            output,
            opts,
            inventory,
            prepared,
            env,
            conns: Default::default(),
            facts: Default::default(),
            dead: Default::default(),
            failed: AtomicBool::new(false),
            unreachable: AtomicBool::new(false),
            files_changed: Default::default(),
            secrets_changed: Default::default(),
            cancelled: Arc::new(AtomicBool::new(false)),
            control_dir,
        })
    }

    /// The SSH target of `host` for `play`. Precedence, highest first: inventory
    /// `jet_ssh_*` variables, play `ssh_user`/`ssh_port`, `--user`/`--port` (whose defaults
    /// come from JET_SSH_USER/JET_SSH_PORT), then `~/.ssh/config` and ssh's own defaults.
    fn ssh_target(
        &self,
        host: &str,
        play: &LoadedPlay,
        ssh: &SshOptions,
    ) -> Result<SshTarget, String> {
        let v = self.inventory.host_variables(host);
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
            control_dir: self
                .control_dir
                .as_ref()
                .map(|d| d.path().to_path_buf())
                .unwrap_or_else(std::env::temp_dir),
        })
    }

    /// One connection per host for the whole run, opened on first use.
    async fn connection(
        &self,
        host: &str,
        play: &LoadedPlay,
    ) -> Result<Arc<AnyConnection>, String> {
        let Some(ssh) = &self.opts.ssh else {
            return Ok(Arc::new(AnyConnection::Local(LocalConnection)));
        };
        let target = self.ssh_target(host, play, ssh)?;
        if target.hostname == "localhost" && target.port.is_none() && target.user.is_none() {
            return Ok(Arc::new(AnyConnection::Local(LocalConnection)));
        }
        let key = format!(
            "{host}\0{}\0{:?}\0{:?}\0{:?}",
            target.hostname, target.port, target.user, target.key_file
        );
        let cell = self.conns.lock().await.entry(key).or_default().clone();
        cell.get_or_init(|| async {
            SshConnection::connect(&target)
                .await
                .map(|c| Arc::new(AnyConnection::Ssh(Box::new(c))))
                .map_err(|e| e.to_string())
        })
        .await
        .clone()
    }

    /// Closes every ControlMaster.
    pub async fn shutdown(&self) {
        let cells: Vec<_> = self.conns.lock().await.drain().map(|(_, c)| c).collect();
        for cell in cells {
            if let Some(Ok(conn)) = Arc::try_unwrap(cell).ok().and_then(|c| c.into_inner()) {
                if let Ok(AnyConnection::Ssh(s)) = Arc::try_unwrap(conn) {
                    s.close().await;
                }
            }
        }
    }

    pub fn outcome(&self) -> Outcome {
        Outcome {
            failed: self.failed.load(Ordering::SeqCst),
            unreachable: self.unreachable.load(Ordering::SeqCst),
            interrupted: self.cancelled.load(Ordering::SeqCst),
        }
    }

    pub async fn run(self: &Arc<Self>, plays: Vec<(Arc<LoadedPlay>, Vec<String>)>) -> Outcome {
        if self.opts.ssh.is_some() {
            // One unit per host and play: a host is "done" once per play it takes part in.
            self.output
                .start_progress(plays.iter().map(|(_, h)| h.len()).sum());
        }
        for (play, hosts) in plays {
            if self.cancelled.load(Ordering::SeqCst) {
                break;
            }
            let hosts: Vec<String> = {
                let dead = self.dead.lock().unwrap();
                hosts.into_iter().filter(|h| !dead.contains(h)).collect()
            };
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
                    let (me, play, host, sem) =
                        (self.clone(), play.clone(), host.clone(), sem.clone());
                    set.spawn(async move {
                        let _permit = sem.acquire_owned().await;
                        if me.cancelled.load(Ordering::SeqCst) {
                            return;
                        }
                        me.output.update_progress(|p| p.in_flight += 1);
                        me.run_host(&play, &host).await;
                        let failed = me.dead.lock().unwrap().contains(&host);
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
                        self.failed.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
        self.output.stop_progress();
        if self.opts.check || self.opts.diff {
            self.output.emit(&Event::DiffSummary {
                files: self.files_changed.load(Ordering::SeqCst),
                secrets: self.secrets_changed.lock().unwrap().len(),
                check: self.opts.check,
            });
        }
        self.output.emit(&Event::Recap {
            hosts: self.output.recap(),
        });
        self.outcome()
    }

    fn selected(&self, task: &LoadedTask) -> bool {
        self.opts.tags.is_empty()
            || task
                .tags()
                .iter()
                .any(|t| self.opts.tags.iter().any(|w| w == t))
    }

    async fn run_host(&self, play: &LoadedPlay, host: &str) {
        let conn = match self.connection(host, play).await {
            Ok(c) => c,
            Err(message) => {
                self.unreachable.store(true, Ordering::SeqCst);
                self.dead.lock().unwrap().insert(host.to_string());
                self.output.emit(&Event::Unreachable {
                    play: play.play.name.clone(),
                    host: host.to_string(),
                    message,
                });
                return;
            }
        };
        let inv = self.inventory.host_variables(host);
        let mut notified = BTreeSet::new();
        let tasks: Vec<&LoadedTask> = play.tasks.iter().filter(|t| self.selected(t)).collect();
        if !self
            .run_list(
                play,
                &tasks,
                host,
                &conn,
                &inv,
                play.tasks.len(),
                &mut notified,
            )
            .await
        {
            return;
        }
        let handlers: Vec<&LoadedTask> = play
            .handlers
            .iter()
            .filter(|h| {
                let sub = h.task.with().and_then(|w| w.subscribe.as_deref());
                notified.contains(sub.unwrap_or_default())
            })
            .collect();
        self.run_list(
            play,
            &handlers,
            host,
            &conn,
            &inv,
            play.handlers.len(),
            &mut BTreeSet::new(),
        )
        .await;
    }

    /// Runs `tasks` in order on one host; false once the host must stop. Consecutive file
    /// tasks go to the target together (see `run_file_batch`).
    #[allow(clippy::too_many_arguments)]
    async fn run_list(
        &self,
        play: &LoadedPlay,
        tasks: &[&LoadedTask],
        host: &str,
        conn: &Arc<AnyConnection>,
        inv: &Vars,
        total: usize,
        notified: &mut BTreeSet<String>,
    ) -> bool {
        let mut at = 0;
        while at < tasks.len() {
            if self.cancelled.load(Ordering::SeqCst) {
                return false;
            }
            let run = tasks[at..].iter().take_while(|t| self.batchable(t)).count();
            let go_on = if run >= 2 {
                self.run_file_batch(play, &tasks[at..at + run], host, conn, inv, total, notified)
                    .await
            } else {
                self.show_current(host, tasks[at]);
                self.run_task(play, tasks[at], host, conn, inv, total, notified)
                    .await
            };
            if !go_on {
                return false;
            }
            at += run.max(1);
        }
        true
    }

    fn show_current(&self, host: &str, task: &LoadedTask) {
        self.output
            .update_progress(|p| p.current = format!("{host}: {}", task.task.display_name()));
    }

    /// A file task that may share a round trip with its neighbours: applying without diffs,
    /// no retries (a retry must repeat that task alone) and no delegation (another host).
    fn batchable(&self, task: &LoadedTask) -> bool {
        !self.opts.check
            && !self.opts.diff
            && matches!(task.task, Task::Copy(_) | Task::Template(_))
            && task.task.with().is_none_or(|w| w.delegate_to.is_none())
            && task.task.and().is_none_or(|a| a.retry == 0)
    }

    /// Consecutive file tasks, all their items, converged with one `ensure_all` per run of
    /// units sharing a privilege: two round trips over SSH however many files. File tasks save
    /// no facts, so every unit can be prepared (conditions, rendering) before any is sent;
    /// events keep task order, and a failure stops the host exactly where running the tasks
    /// one by one would have.
    #[allow(clippy::too_many_arguments)]
    async fn run_file_batch(
        &self,
        play: &LoadedPlay,
        tasks: &[&LoadedTask],
        host: &str,
        conn: &Arc<AnyConnection>,
        inv: &Vars,
        total: usize,
        notified: &mut BTreeSet<String>,
    ) -> bool {
        let facts = self.facts_of(host);
        let mut units: Vec<Unit<'_>> = Vec::new();
        'prepare: for &task in tasks {
            self.show_current(host, task);
            let items = match self.items(play, task, host, inv, &facts, total) {
                Ok(items) => items,
                Err(ev) => {
                    units.push(Unit {
                        task,
                        ev: *ev,
                        vars: Value::Null,
                        step: Step::Broken(None),
                    });
                    if ignores_errors(task) {
                        continue;
                    }
                    break;
                }
            };
            for (vars, ev) in items {
                let step = match self.prepare_file(play, task, conn, &vars) {
                    Ok(None) => Step::Skipped,
                    Ok(Some((want, privilege))) => Step::Ready(Box::new(want), privilege),
                    Err(e) => Step::Broken(Some(e)),
                };
                let stop = matches!(step, Step::Broken(_)) && !ignores_errors(task);
                units.push(Unit {
                    task,
                    ev,
                    vars,
                    step,
                });
                if stop {
                    break 'prepare;
                }
            }
        }
        let mut at = 0;
        while at < units.len() {
            let end = match &units[at].step {
                Step::Ready(_, privilege) => {
                    at + units[at..]
                        .iter()
                        .take_while(|u| match &u.step {
                            Step::Ready(_, p) => p == privilege,
                            Step::Skipped => true,
                            Step::Broken(_) => false,
                        })
                        .count()
                }
                _ => at + 1,
            };
            let privilege = units[at..end].iter().find_map(|u| match &u.step {
                Step::Ready(_, p) => Some(p.clone()),
                _ => None,
            });
            let files: Vec<WantedFile<'_>> = units[at..end]
                .iter()
                .filter_map(|u| match &u.step {
                    Step::Ready(want, _) => Some(want.as_file()),
                    _ => None,
                })
                .collect();
            let mut results = if files.is_empty() {
                Vec::new()
            } else {
                conn.ensure_all(&files, privilege.flatten().as_ref()).await
            }
            .into_iter();
            drop(files);
            let mut next = end;
            for (k, unit) in units.iter_mut().enumerate().take(end).skip(at) {
                let ev = unit.ev.clone();
                match std::mem::replace(&mut unit.step, Step::Skipped) {
                    Step::Skipped => self.output.emit(&Event::Task(Box::new(ev))),
                    Step::Broken(e) => {
                        let go_on = match e {
                            Some(e) => self.record_error(ev, unit.task, e, host),
                            None => self.finish_failure(ev, unit.task),
                        };
                        if !go_on {
                            self.dead.lock().unwrap().insert(host.to_string());
                            return false;
                        }
                    }
                    Step::Ready(..) => match results.next() {
                        Some(Ok(done)) => {
                            let (applied, changes) = converged(done);
                            self.record_applied(
                                ev, unit.task, &unit.vars, applied, changes, None, host, notified,
                            );
                        }
                        Some(Err(e)) => {
                            if !self.record_error(ev, unit.task, e.into(), host) {
                                return false;
                            }
                            // Ignored: the units after it were not attempted; send them again.
                            next = k + 1;
                            break;
                        }
                        None => unreachable!("ensure_all answers every file up to a failure"),
                    },
                }
            }
            at = next;
        }
        true
    }

    /// The variables and (skipped, until it runs) event of each item of `task` on `host`; the
    /// failure event when `items` names no list.
    fn items(
        &self,
        play: &LoadedPlay,
        task: &LoadedTask,
        host: &str,
        inv: &Vars,
        facts: &Vars,
        total: usize,
    ) -> Result<Vec<(Value, TaskEvent)>, Box<TaskEvent>> {
        let base = task_vars(
            play,
            task.origin.role.as_deref(),
            inv,
            facts,
            &self.opts.extra_vars,
        );
        let Some(items) = items_of(&task.task, &base) else {
            let mut ev = self.event(play, task, host, total, Status::Failed);
            ev.failure = Some(Failure {
                message: ITEMS_NOT_A_LIST.into(),
                ..Default::default()
            });
            return Err(Box::new(ev));
        };
        Ok(items
            .into_iter()
            .map(|item| {
                let mut vars = base.clone();
                if let Some(i) = &item {
                    vars.insert("item".into(), i.clone());
                }
                let mut ev = self.event(play, task, host, total, Status::Skipped);
                ev.item = item.as_ref().map(item_label);
                (Value::Object(vars), ev)
            })
            .collect())
    }

    /// Condition, privilege and wanted file of one file-task unit; `Ok(None)`: skipped.
    #[allow(clippy::type_complexity)]
    fn prepare_file(
        &self,
        play: &LoadedPlay,
        task: &LoadedTask,
        conn: &Arc<AnyConnection>,
        vars: &Value,
    ) -> Result<Option<(Wanted, Option<Privilege>)>, TaskError> {
        if !self.condition_holds(task, vars)? {
            return Ok(None);
        }
        let privilege = self.privilege(play, task, vars)?;
        let (Task::Copy(f) | Task::Template(f)) = &task.task else {
            unreachable!("only file tasks are batched");
        };
        let module = self.file_module(play, task, f, vars)?;
        let ctx = TaskCtx {
            conn,
            engine: &self.engine,
            vars,
            privilege: privilege.as_ref(),
            want_diff: false,
            diff_content: false,
            stream: None,
        };
        Ok(Some((module.want(&ctx)?, privilege)))
    }

    fn facts_of(&self, host: &str) -> Vars {
        self.facts
            .lock()
            .unwrap()
            .get(host)
            .cloned()
            .unwrap_or_default()
    }

    fn event(
        &self,
        play: &LoadedPlay,
        task: &LoadedTask,
        host: &str,
        total: usize,
        status: Status,
    ) -> TaskEvent {
        TaskEvent {
            play: play.play.name.clone(),
            host: host.to_string(),
            task: task.task.display_name(),
            module: task.task.module(),
            number: task.number,
            total,
            status,
            changed: false,
            changes: vec![],
            item: None,
            rc: None,
            suppressed_lines: None,
            cmd: None,
            diff: None,
            failure: None,
            ignored: false,
        }
    }

    fn privilege(
        &self,
        play: &LoadedPlay,
        task: &LoadedTask,
        vars: &Value,
    ) -> Result<Option<Privilege>, TaskError> {
        let user = match task
            .task
            .with()
            .and_then(|w| w.sudo.clone())
            .or_else(|| play.play.sudo.clone())
            .or_else(|| self.opts.sudo.clone())
        {
            Some(u) => self
                .engine
                .render(&u, vars)
                .map_err(|e| TaskError::new(format!("cannot render sudo: {e}")))?,
            None => return Ok(None),
        };
        let template = match &play.play.sudo_template {
            Some(t) => {
                let mut v = vars.clone();
                if let Value::Object(m) = &mut v {
                    m.insert("jet_sudo_user".into(), Value::String(user.clone()));
                    m.insert(
                        "jet_command".into(),
                        Value::String(COMMAND_PLACEHOLDER.into()),
                    );
                }
                let rendered = self
                    .engine
                    .render(t, &v)
                    .map_err(|e| TaskError::new(format!("cannot render sudo_template: {e}")))?;
                if !rendered.contains(COMMAND_PLACEHOLDER) {
                    return Err(TaskError::new("sudo_template must contain {{jet_command}}"));
                }
                Some(rendered)
            }
            None => None,
        };
        Ok(Some(Privilege::new(user, template)))
    }

    /// Runs one task (all its items) on one host; false if the host must stop.
    #[allow(clippy::too_many_arguments)]
    async fn run_task(
        &self,
        play: &LoadedPlay,
        task: &LoadedTask,
        host: &str,
        conn: &Arc<AnyConnection>,
        inv: &Vars,
        total: usize,
        notified: &mut BTreeSet<String>,
    ) -> bool {
        let facts = self.facts_of(host);
        let items = match self.items(play, task, host, inv, &facts, total) {
            Ok(items) => items,
            Err(ev) => return self.finish_failure(*ev, task),
        };
        for (vars, ev) in items {
            match self.run_one(play, task, conn, &vars, &ev).await {
                Ok(None) => {
                    self.output.emit(&Event::Task(Box::new(ev)));
                }
                Ok(Some((applied, (changes, diff)))) => {
                    self.record_applied(ev, task, &vars, applied, changes, diff, host, notified);
                }
                Err(e) => {
                    if !self.record_error(ev, task, e, host) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Emits the event of a unit that ran, and records what it saved and notified.
    #[allow(clippy::too_many_arguments)]
    fn record_applied(
        &self,
        mut ev: TaskEvent,
        task: &LoadedTask,
        vars: &Value,
        applied: Applied,
        changes: Vec<String>,
        diff: Option<Box<crate::diff::FileDiff>>,
        host: &str,
        notified: &mut BTreeSet<String>,
    ) {
        self.warn_unmasked();
        ev.status = applied.status.clone().unwrap_or(Status::Matched);
        ev.changed = applied.changed;
        ev.changes = changes;
        if let Some(d) = &diff {
            self.files_changed.fetch_add(1, Ordering::SeqCst);
            self.secrets_changed.lock().unwrap().extend(
                d.secrets_changed
                    .iter()
                    .map(|v| (host.to_string(), v.clone())),
            );
        }
        // A sensitive task shows nothing of its content, not even masked.
        if diff.is_some() && task.task.sensitive() {
            ev.changes.push("diff hidden: sensitive task".to_string());
        } else {
            ev.diff = diff;
        }
        ev.rc = applied.rc;
        if self.output.verbosity >= 1 {
            ev.cmd = applied.cmd.clone();
        }
        self.attach_out(&mut ev, task, applied.out_lines);
        if let Some((name, v)) = applied.save {
            if task.task.sensitive() {
                self.register_saved(&name, &v);
            }
            self.facts
                .lock()
                .unwrap()
                .entry(host.to_string())
                .or_default()
                .insert(name, v);
        }
        if applied.changed {
            if let Some(n) = task.task.and().and_then(|a| a.notify.as_ref()) {
                notified.insert(self.engine.render(n, vars).unwrap_or_else(|_| n.clone()));
            }
        }
        self.output.emit(&Event::Task(Box::new(ev)));
    }

    /// A sensitive task's `save:` is a secret obtained at run time: its output (whole, trimmed,
    /// and each line trimmed and not) joins the masker before the fact is stored, so before
    /// anything built from it can be printed.
    fn register_saved(&self, name: &str, saved: &Value) {
        let mut values: Vec<Secret> = Vec::new();
        let mut push = |what: String, v: &str| {
            if !v.trim().is_empty() {
                values.push(Secret::new(what, v));
            }
        };
        if let Some(text) = saved.get("out").and_then(Value::as_str) {
            push(format!("`{name}` (saved by a sensitive task)"), text);
            for (i, line) in text.lines().enumerate() {
                let what = format!("line {} of `{name}` (saved by a sensitive task)", i + 1);
                push(what.clone(), line);
                push(what, line.trim());
            }
        }
        self.opts.masker.add(values.iter());
        self.warn_unmasked();
    }

    /// Warns, by name, about values that joined the masker during the run but are too short
    /// to be masked.
    fn warn_unmasked(&self) {
        for name in self.opts.masker.take_unwarned() {
            self.output.warn(&format!(
                "{name} is shorter than 4 bytes: it cannot be masked in output without destroying it"
            ));
        }
    }

    /// Emits the event of a unit that failed; false when the host must stop.
    fn record_error(&self, mut ev: TaskEvent, task: &LoadedTask, e: TaskError, host: &str) -> bool {
        self.warn_unmasked();
        ev.status = Status::Failed;
        ev.rc = e.rc;
        ev.failure = Some(Failure {
            cmd: e.cmd.clone(),
            rc: e.rc,
            out: None,
            out_lines_omitted: None,
            message: e.message.clone(),
        });
        if task.task.sensitive() {
            self.attach_out(&mut ev, task, e.out_lines);
        } else if let Some(f) = &mut ev.failure {
            f.out = e.out.clone();
            f.out_lines_omitted = e.out_lines_omitted;
        }
        if e.connection_lost {
            self.failed.store(true, Ordering::SeqCst);
            self.dead.lock().unwrap().insert(host.to_string());
            self.output.emit(&Event::Task(Box::new(ev)));
            return false;
        }
        if !self.finish_failure(ev, task) {
            self.dead.lock().unwrap().insert(host.to_string());
            return false;
        }
        true
    }

    fn finish_failure(&self, mut ev: TaskEvent, task: &LoadedTask) -> bool {
        let ignore = ignores_errors(task);
        ev.ignored = ignore;
        if !ignore {
            self.failed.store(true, Ordering::SeqCst);
        }
        self.output.emit(&Event::Task(Box::new(ev)));
        ignore
    }

    /// Command output is shown live with -vvv (see `capture`); a sensitive task shows only
    /// how many lines it printed.
    fn attach_out(&self, ev: &mut TaskEvent, task: &LoadedTask, lines: Option<usize>) {
        if task.task.sensitive() {
            ev.suppressed_lines = lines;
        }
    }

    /// Plans and (unless in check mode) applies one task with one item. `Ok(None)`: skipped.
    async fn run_one(
        &self,
        play: &LoadedPlay,
        task: &LoadedTask,
        conn: &Arc<AnyConnection>,
        vars: &Value,
        ev: &TaskEvent,
    ) -> Result<Option<(Applied, (Vec<String>, Option<Box<crate::diff::FileDiff>>))>, TaskError>
    {
        if !self.condition_holds(task, vars)? {
            return Ok(None);
        }
        let privilege = self.privilege(play, task, vars)?;
        let delegate;
        let conn: &AnyConnection = match task.task.with().and_then(|w| w.delegate_to.as_ref()) {
            Some(d) => {
                let target = self
                    .engine
                    .render(d, vars)
                    .map_err(|e| TaskError::new(format!("cannot render delegate_to: {e}")))?;
                delegate = self
                    .connection(&target, play)
                    .await
                    .map_err(|e| TaskError {
                        connection_lost: false,
                        ..TaskError::new(format!("cannot reach delegate {target}: {e}"))
                    })?;
                &delegate
            }
            None => conn,
        };
        let stream = TaskStream {
            output: self.output.clone(),
            head: LiveHead {
                play: ev.play.clone(),
                host: ev.host.clone(),
                task: ev.task.clone(),
                number: ev.number,
            },
            live: self.output.verbosity >= 3 && !task.task.sensitive(),
        };
        let ctx = TaskCtx {
            conn,
            engine: &self.engine,
            vars,
            privilege: privilege.as_ref(),
            want_diff: self.opts.check || self.opts.diff,
            diff_content: self.opts.diff_content
                && !matches!(&task.task, Task::Copy(f) | Task::Template(f) if !f.diff),
            stream: Some(&stream),
        };
        let (retries, delay) = task.task.and().map_or((0, 0), |a| (a.retry, a.delay));
        let mut attempt = 0;
        loop {
            let result = self.plan_apply(play, task, &ctx).await;
            match result {
                Err(e) if attempt < retries && !e.connection_lost => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(delay)).await;
                }
                other => return other.map(Some),
            }
        }
    }

    async fn plan_apply(
        &self,
        play: &LoadedPlay,
        task: &LoadedTask,
        ctx: &TaskCtx<'_>,
    ) -> Result<(Applied, (Vec<String>, Option<Box<crate::diff::FileDiff>>)), TaskError> {
        match &task.task {
            Task::Shell(s) => self.drive(&Shell(s), ctx).await,
            Task::Copy(f) | Task::Template(f) => {
                let module = self.file_module(play, task, f, ctx.vars)?;
                self.drive(&module, ctx).await
            }
        }
    }

    fn condition_holds(&self, task: &LoadedTask, vars: &Value) -> Result<bool, TaskError> {
        match task.task.with().and_then(|w| w.condition.as_ref()) {
            Some(cond) => self
                .engine
                .condition(cond, vars)
                .map_err(|e| TaskError::new(format!("cannot evaluate condition {cond:?}: {e}"))),
            None => Ok(true),
        }
    }

    /// The module of a copy or template task: its source found and loaded.
    fn file_module<'s>(
        &'s self,
        play: &LoadedPlay,
        task: &LoadedTask,
        f: &'s FileTask,
        vars: &Value,
    ) -> Result<FileModule<'s>, TaskError> {
        let role = task.origin.role.as_deref();
        let is_template = matches!(task.task, Task::Template(_));
        let src = self
            .engine
            .render(&f.src, vars)
            .map_err(|e| TaskError::new(format!("cannot render src: {e}")))?;
        let kind = if is_template {
            SourceKind::Templates
        } else {
            SourceKind::Files
        };
        // The same resolver as the pre-run checks: a src known only now (from a `save:`) gets
        // the same kernel-tree refusal.
        let path = resolve_source(kind, play, role, &src)
            .into_result(kind, &src)
            .map_err(|e| TaskError::new(e.to_string()))?;
        let (content, secret_bearing) = if is_template {
            let t = self.prepared.templates.get(&path).cloned().ok_or_else(|| {
                TaskError::new(format!(
                    "template {} was not checked before the run (its path depends on a runtime value)",
                    path.display()
                ))
            })?;
            let secret = !t.env_refs.is_empty();
            (
                Content::Template {
                    template: t,
                    env: &self.env,
                    masker: &self.opts.masker,
                },
                secret,
            )
        } else {
            let bytes = match self.prepared.files.get(&path) {
                Some(b) => b.clone(),
                None => Arc::new(
                    crate::input_file::read_copy_source(&path)
                        .map_err(|e| TaskError::new(e.to_string()))?,
                ),
            };
            (Content::Copy(bytes), false)
        };
        Ok(FileModule {
            task: f,
            content,
            secret_bearing,
        })
    }

    async fn drive<M: TaskModule>(
        &self,
        module: &M,
        ctx: &TaskCtx<'_>,
    ) -> Result<(Applied, (Vec<String>, Option<Box<crate::diff::FileDiff>>)), TaskError> {
        if !self.opts.check && !self.opts.diff {
            let (applied, changes) = module.converge(ctx).await?;
            return Ok((applied, (changes, None)));
        }
        let plan = module.plan(ctx).await?;
        let (changes, diff) = match &plan {
            Plan::Put { changes, diff, .. } => (changes.clone(), diff.clone()),
            _ => (vec![], None),
        };
        if self.opts.check {
            let status = plan.check_status();
            let changed = status != Status::Matched;
            let cmd = match &plan {
                Plan::Run { cmd } if self.output.verbosity >= 1 => Some(cmd.clone()),
                _ => None,
            };
            return Ok((
                Applied {
                    status: Some(status),
                    changed,
                    cmd,
                    ..Default::default()
                },
                (changes, diff),
            ));
        }
        let diff = if self.opts.diff { diff } else { None };
        let applied = module.apply(ctx, plan).await?;
        Ok((applied, (changes, diff)))
    }
}
