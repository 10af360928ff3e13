//! The recorder: turns what a task did into its event and emits it, applies the failure
//! policy (`ignore_errors`, a lost connection, a host that must stop), remembers which hosts
//! are out of the run, and keeps the run's ONE tally of the diffs (files and secret values
//! changed), from which the check-mode footer is built.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::diff::FileDiff;
use crate::mask::Masker;
use crate::modules::{Applied, TaskError};
use crate::output::{Event, Failure, Output, Status, TaskEvent};
use crate::playbook::{LoadedPlay, LoadedTask};
use crate::secret::Secret;

/// Whether a failure of `task` lets its host go on.
pub(super) fn ignores_errors(task: &LoadedTask) -> bool {
    task.task.and().is_some_and(|a| a.ignore_errors)
}

/// What one task with one item did: the module's answer, the kinds of change and its diff.
pub(super) struct Attempted {
    pub(super) applied: Applied,
    pub(super) changes: Vec<String>,
    pub(super) diff: Option<Box<FileDiff>>,
}

/// Per host, the secret variables the diffs say changed or may change, how many files had a
/// content diff, and how many secret-bearing files could not be compared at all. Every diff of
/// the run goes in here, sensitive tasks' too (their diff is then hidden from the event).
#[derive(Debug, Default)]
struct DiffTally {
    files: usize,
    changed: BTreeSet<(String, String)>,
    may_change: BTreeSet<(String, String)>,
    not_compared: usize,
}

impl DiffTally {
    fn record(&mut self, host: &str, d: &FileDiff) {
        let key = |v: &String| (host.to_string(), v.clone());
        self.files += 1;
        self.changed.extend(d.secrets_changed.iter().map(key));
        self.may_change.extend(d.secrets_may_change.iter().map(key));
        self.not_compared += usize::from(d.secrets_unknown);
    }

    /// Secret values that may change: not counted as changing anywhere else.
    fn may(&self) -> usize {
        self.may_change.difference(&self.changed).count()
    }
}

/// Events, failure policy and the diff tally of one run (shared by every host).
pub(super) struct Recorder {
    output: Arc<Output>,
    masker: Arc<Masker>,
    /// Hosts that failed or could not be reached: they take no further part in the run.
    dead: Mutex<HashSet<String>>,
    failed: AtomicBool,
    unreachable: AtomicBool,
    tally: Mutex<DiffTally>,
}

impl Recorder {
    pub(super) fn new(output: Arc<Output>, masker: Arc<Masker>) -> Self {
        Recorder {
            output,
            masker,
            dead: Mutex::default(),
            failed: AtomicBool::new(false),
            unreachable: AtomicBool::new(false),
            tally: Mutex::default(),
        }
    }

    pub(super) fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    pub(super) fn unreachable(&self) -> bool {
        self.unreachable.load(Ordering::SeqCst)
    }

    /// Marks the run failed without a task to blame (a host worker died).
    pub(super) fn fail_run(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }

    pub(super) fn is_dead(&self, host: &str) -> bool {
        self.dead.lock().unwrap().contains(host)
    }

    /// Takes `host` out of the rest of the run.
    pub(super) fn kill(&self, host: &str) {
        self.dead.lock().unwrap().insert(host.to_string());
    }

    /// `hosts` without the ones out of the run.
    pub(super) fn alive(&self, hosts: Vec<String>) -> Vec<String> {
        let dead = self.dead.lock().unwrap();
        hosts.into_iter().filter(|h| !dead.contains(h)).collect()
    }

    pub(super) fn unreachable_host(&self, play: &LoadedPlay, host: &str, message: String) {
        self.unreachable.store(true, Ordering::SeqCst);
        self.kill(host);
        self.output.emit(&Event::Unreachable {
            play: play.play.name.clone(),
            host: host.to_string(),
            message,
        });
    }

    /// The footer of a check or `--diff` run.
    pub(super) fn diff_summary(&self, check: bool) -> Event {
        let t = self.tally.lock().unwrap();
        Event::DiffSummary {
            files: t.files,
            secrets: t.changed.len(),
            check,
            secrets_may_change: t.may(),
            secret_files_not_compared: t.not_compared,
        }
    }

    /// The event of `task` on `host` before it ran (`status` until it does).
    pub(super) fn event(
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
            msg: None,
            ignored: false,
        }
    }

    pub(super) fn emit_task(&self, ev: TaskEvent) {
        self.output.emit(&Event::Task(Box::new(ev)));
    }

    /// Fills in the event of a unit that ran (and tallies its diff); the caller stores its
    /// facts and notifications from the `Applied` handed back, then emits the event.
    pub(super) fn applied(
        &self,
        mut ev: TaskEvent,
        task: &LoadedTask,
        done: Attempted,
    ) -> (TaskEvent, Applied) {
        self.warn_unmasked();
        let Attempted {
            applied,
            changes,
            diff,
        } = done;
        ev.status = applied.status.clone().unwrap_or(Status::Matched);
        ev.changed = applied.changed;
        ev.changes = changes;
        if let Some(d) = &diff {
            self.tally.lock().unwrap().record(&ev.host, d);
        }
        // A sensitive task shows nothing of its content, not even masked.
        if diff.is_some() && task.task.sensitive() {
            ev.changes.push("diff hidden: sensitive task".to_string());
        } else {
            ev.diff = diff;
        }
        ev.rc = applied.rc;
        if self.output.verbosity >= 1 {
            ev.cmd.clone_from(&applied.cmd);
        }
        attach_out(&mut ev, task, applied.out_lines);
        if !task.task.sensitive() {
            ev.msg.clone_from(&applied.message);
        }
        (ev, applied)
    }

    /// Emits the event of a unit that failed; false when the host must stop. `ignore`: the
    /// task's `ignore_errors` as rendered for this host and item, when it is a template.
    pub(super) fn error(
        &self,
        mut ev: TaskEvent,
        task: &LoadedTask,
        e: TaskError,
        ignore: Option<bool>,
    ) -> bool {
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
            attach_out(&mut ev, task, e.out_lines);
        } else if let Some(f) = &mut ev.failure {
            f.out.clone_from(&e.out);
            f.out_lines_omitted = e.out_lines_omitted;
        }
        let host = ev.host.clone();
        if e.connection_lost {
            self.failed.store(true, Ordering::SeqCst);
            self.kill(&host);
            self.emit_task(ev);
            return false;
        }
        let go_on = match ignore {
            Some(ignore) => self.finish_failure_ignoring(ev, ignore),
            None => self.finish_failure(ev, task),
        };
        if !go_on {
            self.kill(&host);
            return false;
        }
        true
    }

    /// Emits a failure event already filled in; true when `ignore_errors` lets the host go on.
    pub(super) fn finish_failure(&self, ev: TaskEvent, task: &LoadedTask) -> bool {
        self.finish_failure_ignoring(ev, ignores_errors(task))
    }

    /// [`Self::finish_failure`] with `ignore_errors` given.
    pub(super) fn finish_failure_ignoring(&self, mut ev: TaskEvent, ignore: bool) -> bool {
        ev.ignored = ignore;
        if !ignore {
            self.failed.store(true, Ordering::SeqCst);
        }
        self.emit_task(ev);
        ignore
    }

    /// A sensitive task's `save:` is a secret obtained at run time: its output (whole, trimmed,
    /// and each line trimmed and not) joins the masker before the fact is stored, so before
    /// anything built from it can be printed.
    pub(super) fn register_saved(&self, name: &str, saved: &Value) {
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
        self.masker.add(values.iter());
        self.warn_unmasked();
    }

    /// Warns, by name, about values that joined the masker during the run but are too short
    /// to be masked.
    fn warn_unmasked(&self) {
        for name in self.masker.take_unwarned() {
            self.output.warn(&format!(
                "{name} is shorter than 4 bytes: it cannot be masked in output without destroying it"
            ));
        }
    }
}

/// Command output is shown live with -vvv (see `capture`); a sensitive task shows only
/// how many lines it printed.
fn attach_out(ev: &mut TaskEvent, task: &LoadedTask, lines: Option<usize>) {
    if task.task.sensitive() {
        ev.suppressed_lines = lines;
    }
}
