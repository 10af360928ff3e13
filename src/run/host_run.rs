//! One host in one play: its connection, inventory variables and notified handlers, carried
//! by `HostRun` so that walking the task list, running a task, storing what it saved and
//! notifying handlers are methods instead of functions of seven arguments.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::recorder::{Attempted, Recorder};
use super::runner::Runner;
use crate::connection::AnyConnection;
use crate::modules::TaskError;
use crate::output::{Failure, Status, TaskEvent};
use crate::playbook::{LoadedPlay, LoadedTask, Task, Vars};
use crate::prepare::{delegates, items_of, DELEGATE_HOST};
use crate::task_logic::PostValues;
use crate::var_precedence::task_vars;

fn item_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One host walking one play's task list, then its notified handlers.
pub(super) struct HostRun<'r> {
    pub(super) runner: &'r Runner,
    pub(super) play: &'r LoadedPlay,
    pub(super) host: &'r str,
    pub(super) conn: Arc<AnyConnection>,
    inv: Vars,
    /// How many tasks the list being run has (the `[n/total]` of the events).
    total: usize,
    /// The handlers notified so far (by the task list; handlers notify nothing).
    notified: BTreeSet<String>,
}

impl<'r> HostRun<'r> {
    /// Runs `play` on `host`: connects (or reports it unreachable), runs the selected tasks
    /// and then the handlers they notified.
    pub(super) async fn start(runner: &'r Runner, play: &'r LoadedPlay, host: &'r str) {
        let conn = match runner.connection(host, play).await {
            Ok(c) => c,
            Err(message) => {
                runner.recorder.unreachable_host(play, host, message);
                return;
            }
        };
        let mut run = HostRun {
            runner,
            play,
            host,
            conn,
            inv: runner.inventory.host_variables(host),
            total: play.tasks.len(),
            notified: BTreeSet::new(),
        };
        let tasks: Vec<&LoadedTask> = play.tasks.iter().filter(|t| runner.selected(t)).collect();
        if !run.run_list(&tasks).await {
            return;
        }
        let notified = std::mem::take(&mut run.notified);
        let handlers: Vec<&LoadedTask> = play
            .handlers
            .iter()
            .filter(|h| {
                let sub = h.task.with().and_then(|w| w.subscribe.as_deref());
                notified.contains(sub.unwrap_or_default())
            })
            .collect();
        run.total = play.handlers.len();
        run.run_list(&handlers).await;
    }

    pub(super) fn recorder(&self) -> &'r Recorder {
        &self.runner.recorder
    }

    /// Runs `tasks` in order; false once the host must stop. Consecutive file tasks go to the
    /// target together (see `file_batch`).
    async fn run_list(&mut self, tasks: &[&LoadedTask]) -> bool {
        let mut at = 0;
        while at < tasks.len() {
            if self.runner.is_cancelled() {
                return false;
            }
            let run = tasks[at..].iter().take_while(|t| self.batchable(t)).count();
            let go_on = if run >= 2 {
                self.run_file_batch(&tasks[at..at + run]).await
            } else {
                self.show_current(tasks[at]);
                self.run_task(tasks[at]).await
            };
            if !go_on {
                return false;
            }
            at += run.max(1);
        }
        true
    }

    pub(super) fn show_current(&self, task: &LoadedTask) {
        self.runner.output.update_progress(|p| {
            p.current = format!("{}: {}", self.host, task.task.display_name());
        });
    }

    /// A file task that may share a round trip with its neighbours: applying without diffs,
    /// no retries (a retry must repeat that task alone) and no delegation (another host).
    fn batchable(&self, task: &LoadedTask) -> bool {
        let opts = &self.runner.opts;
        !opts.check
            && !opts.diff
            && matches!(task.task, Task::Copy(_) | Task::Template(_))
            && task.task.with().is_none_or(|w| w.delegate_to.is_none())
            && task
                .task
                .and()
                .is_none_or(|a| a.retry == 0 && a.templates.is_empty())
    }

    /// Runs one task (all its items); false if the host must stop.
    async fn run_task(&mut self, task: &LoadedTask) -> bool {
        let items = match self.items(task) {
            Ok(items) => items,
            Err(ev) => return self.recorder().finish_failure(*ev, task),
        };
        for (vars, ev) in items {
            let post = match task.task.and() {
                Some(a) if !a.templates.is_empty() => {
                    match a.evaluate(&self.runner.engine, &vars) {
                        Ok(v) => Some((v, a.retry)),
                        Err(message) => {
                            let mut ev = ev;
                            ev.status = Status::Failed;
                            ev.failure = Some(Failure {
                                message,
                                ..Default::default()
                            });
                            if !self.recorder().finish_failure(ev, task) {
                                return false;
                            }
                            continue;
                        }
                    }
                }
                _ => None,
            };
            match self.attempt_with(task, &vars, &ev, post).await {
                Ok(None) => self.recorder().emit_task(ev),
                Ok(Some(done)) => self.record_applied(ev, task, &vars, done),
                Err(e) => {
                    let ignore = post.map(|(v, _)| v.ignore_errors);
                    if !self.recorder().error(ev, task, e, ignore) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// [`Self::attempt`], retried as the templated `retry`/`delay` of `post` ask (the written
    /// `retry` `literal`, if any, is already applied by `attempt` itself).
    async fn attempt_with(
        &self,
        task: &LoadedTask,
        vars: &Value,
        ev: &TaskEvent,
        post: Option<(PostValues, u32)>,
    ) -> Result<Option<Attempted>, TaskError> {
        let (retries, delay) = post.map_or((0, 0), |(v, literal)| {
            (v.retry.saturating_sub(literal), v.delay)
        });
        let mut attempt = 0;
        loop {
            match self.attempt(task, vars, ev).await {
                Err(e) if attempt < retries && !e.connection_lost => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                }
                other => return other,
            }
        }
    }

    /// Emits the event of a unit that ran, and records what it saved and notified.
    pub(super) fn record_applied(
        &mut self,
        ev: TaskEvent,
        task: &LoadedTask,
        vars: &Value,
        done: Attempted,
    ) {
        let (ev, applied) = self.recorder().applied(ev, task, done);
        for (name, v) in applied.saves {
            if task.task.sensitive() {
                self.recorder().register_saved(&name, &v);
            }
            self.runner.save_fact(self.host, name, v);
        }
        if applied.changed {
            if let Some(n) = task.task.and().and_then(|a| a.notify.as_ref()) {
                let engine = &self.runner.engine;
                self.notified
                    .insert(engine.render(n, vars).unwrap_or_else(|_| n.clone()));
            }
        }
        self.recorder().emit_task(ev);
    }

    /// The variables and (skipped, until it runs) event of each item of `task`; the failure
    /// event when `items` names no list.
    pub(super) fn items(
        &self,
        task: &LoadedTask,
    ) -> Result<Vec<(Value, TaskEvent)>, Box<TaskEvent>> {
        let facts = self.runner.facts_of(self.host);
        let mut base = task_vars(
            self.play,
            task.origin.role.as_deref(),
            &self.inv,
            &facts,
            &self.runner.opts.extra_vars,
        );
        if delegates(&task.task) {
            base.insert(DELEGATE_HOST.into(), Value::String(self.host.to_string()));
        }
        let items = match items_of(&task.task, &base, &self.runner.engine) {
            Ok(items) => items,
            Err(message) => {
                let mut ev =
                    Recorder::event(self.play, task, self.host, self.total, Status::Failed);
                ev.failure = Some(Failure {
                    message,
                    ..Default::default()
                });
                return Err(Box::new(ev));
            }
        };
        Ok(items
            .into_iter()
            .map(|item| {
                let mut vars = base.clone();
                if let Some(i) = &item {
                    vars.insert("item".into(), i.clone());
                }
                let mut ev =
                    Recorder::event(self.play, task, self.host, self.total, Status::Skipped);
                ev.item = item.as_ref().map(item_label);
                (Value::Object(vars), ev)
            })
            .collect())
    }
}
