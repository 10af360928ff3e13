//! Batching consecutive file tasks: all their items prepared first (conditions, privilege,
//! rendering), then converged with one `ensure_all` per run of units sharing a privilege, two
//! round trips over SSH however many files. Events keep task order, and a failure stops the
//! host exactly where running the tasks one by one would have.

use serde_json::Value;

use super::host_run::HostRun;
use super::recorder::{ignores_errors, Attempted};
use crate::connection::{Connection, Privilege, WantedFile};
use crate::modules::file::{converged, Wanted};
use crate::modules::{TaskCtx, TaskError};
use crate::output::TaskEvent;
use crate::playbook::{LoadedTask, Task};

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

impl HostRun<'_> {
    /// Consecutive file tasks, all their items, converged together; false once the host must
    /// stop. File tasks save no facts, so every unit can be prepared before any is sent.
    pub(super) async fn run_file_batch(&mut self, tasks: &[&LoadedTask]) -> bool {
        let mut units = self.prepare_units(tasks);
        let mut at = 0;
        while at < units.len() {
            let end = same_privilege_end(&units, at);
            match self.send_units(&mut units, at, end).await {
                Some(next) => at = next,
                None => return false,
            }
        }
        true
    }

    /// Every unit of `tasks`, up to the first that fails without `ignore_errors`.
    fn prepare_units<'t>(&self, tasks: &[&'t LoadedTask]) -> Vec<Unit<'t>> {
        let mut units: Vec<Unit<'t>> = Vec::new();
        for &task in tasks {
            self.show_current(task);
            let items = match self.items(task) {
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
                let step = match self.prepare_file(task, &vars) {
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
                    return units;
                }
            }
        }
        units
    }

    /// Sends `units[at..end]` in one `ensure_all` and records each; the index to go on from,
    /// or `None` once the host must stop.
    async fn send_units(&mut self, units: &mut [Unit<'_>], at: usize, end: usize) -> Option<usize> {
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
            self.conn
                .ensure_all(&files, privilege.flatten().as_ref())
                .await
        }
        .into_iter();
        drop(files);
        for (k, unit) in units.iter_mut().enumerate().take(end).skip(at) {
            let ev = unit.ev.clone();
            match std::mem::replace(&mut unit.step, Step::Skipped) {
                Step::Skipped => self.recorder().emit_task(ev),
                Step::Broken(e) => {
                    let go_on = match e {
                        Some(e) => self.recorder().error(ev, unit.task, e, None),
                        None => self.recorder().finish_failure(ev, unit.task),
                    };
                    if !go_on {
                        self.recorder().kill(self.host);
                        return None;
                    }
                }
                Step::Ready(..) => match results.next() {
                    Some(Ok(done)) => {
                        let (applied, changes) = converged(done);
                        let done = Attempted {
                            applied,
                            changes,
                            diff: None,
                        };
                        self.record_applied(ev, unit.task, &unit.vars, done);
                    }
                    Some(Err(e)) => {
                        if !self.recorder().error(ev, unit.task, e.into(), None) {
                            return None;
                        }
                        // Ignored: the units after it were not attempted; send them again.
                        return Some(k + 1);
                    }
                    None => unreachable!("ensure_all answers every file up to a failure"),
                },
            }
        }
        Some(end)
    }

    /// Condition, privilege and wanted file of one file-task unit; `Ok(None)`: skipped.
    fn prepare_file(
        &self,
        task: &LoadedTask,
        vars: &Value,
    ) -> Result<Option<(Wanted, Option<Privilege>)>, TaskError> {
        if !self.condition_holds(task, vars)? {
            return Ok(None);
        }
        let privilege = self.privilege(task, vars)?;
        let (Task::Copy(f) | Task::Template(f)) = &task.task else {
            unreachable!("only file tasks are batched");
        };
        let module = self.file_module(task, f, vars)?;
        let ctx = TaskCtx {
            conn: &self.conn,
            engine: &self.runner.engine,
            vars,
            privilege: privilege.as_ref(),
            want_diff: false,
            diff_content: false,
            stream: None,
        };
        Ok(Some((module.want(&ctx)?, privilege)))
    }
}

/// The end of the run of units from `at` that can share one `ensure_all`: ready units of the
/// same privilege, and skipped ones between them.
fn same_privilege_end(units: &[Unit<'_>], at: usize) -> usize {
    match &units[at].step {
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
    }
}
