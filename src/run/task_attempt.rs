//! Attempting one task with one item on one host: its condition, the privilege it runs under,
//! delegation to another host, its module (a file task's source found and loaded), retries,
//! and the driver that plans (check mode, `--diff`) and applies.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::host_run::HostRun;
use super::recorder::Attempted;
use crate::connection::{AnyConnection, Privilege, COMMAND_PLACEHOLDER};
use crate::modules::file::{Content, FileModule};
use crate::modules::shell::Shell;
use crate::modules::{Applied, Plan, TaskCtx, TaskError, TaskModule, TaskStream};
use crate::output::{LiveHead, Status, TaskEvent};
use crate::playbook::{FileTask, LoadedTask, Task};
use crate::source::{resolve_source, SourceKind};

impl HostRun<'_> {
    /// Plans and (unless in check mode) applies one task with one item, retrying as the task
    /// asks. `Ok(None)`: skipped.
    pub(super) async fn attempt(
        &self,
        task: &LoadedTask,
        vars: &Value,
        ev: &TaskEvent,
    ) -> Result<Option<Attempted>, TaskError> {
        if !self.condition_holds(task, vars)? {
            return Ok(None);
        }
        let privilege = self.privilege(task, vars)?;
        let delegate = self.delegate(task, vars).await?;
        let conn: &AnyConnection = delegate.as_ref().unwrap_or(&self.conn);
        let runner = self.runner;
        let stream = TaskStream {
            output: runner.output.clone(),
            head: LiveHead {
                play: ev.play.clone(),
                host: ev.host.clone(),
                task: ev.task.clone(),
                number: ev.number,
            },
            live: runner.output.verbosity >= 3 && !task.task.sensitive(),
        };
        let ctx = TaskCtx {
            conn,
            engine: &runner.engine,
            vars,
            privilege: privilege.as_ref(),
            want_diff: runner.opts.check || runner.opts.diff,
            diff_content: runner.opts.diff_content
                && !matches!(&task.task, Task::Copy(f) | Task::Template(f) if !f.diff),
            stream: Some(&stream),
        };
        let (retries, delay) = task.task.and().map_or((0, 0), |a| (a.retry, a.delay));
        let mut attempt = 0;
        loop {
            match self.plan_apply(task, &ctx).await {
                Err(e) if attempt < retries && !e.connection_lost => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(delay)).await;
                }
                other => return other.map(Some),
            }
        }
    }

    /// The connection of the host the task is delegated to (`delegate_to`), if any.
    async fn delegate(
        &self,
        task: &LoadedTask,
        vars: &Value,
    ) -> Result<Option<Arc<AnyConnection>>, TaskError> {
        let Some(d) = task.task.with().and_then(|w| w.delegate_to.as_ref()) else {
            return Ok(None);
        };
        let target = self
            .runner
            .engine
            .render(d, vars)
            .map_err(|e| TaskError::new(format!("cannot render delegate_to: {e}")))?;
        let conn = self
            .runner
            .connection(&target, self.play)
            .await
            .map_err(|e| TaskError {
                connection_lost: false,
                ..TaskError::new(format!("cannot reach delegate {target}: {e}"))
            })?;
        Ok(Some(conn))
    }

    async fn plan_apply(
        &self,
        task: &LoadedTask,
        ctx: &TaskCtx<'_>,
    ) -> Result<Attempted, TaskError> {
        match &task.task {
            Task::Shell(s) => self.drive(&Shell(s), ctx).await,
            Task::Echo(t) => self.drive(t, ctx).await,
            Task::Debug(t) => self.drive(t, ctx).await,
            Task::Fail(t) => self.drive(t, ctx).await,
            Task::Assert(t) => self.drive(t, ctx).await,
            Task::Set(t) => self.drive(t, ctx).await,
            Task::Facts(t) => self.drive(t, ctx).await,
            Task::External(t) => self.drive(t, ctx).await,
            Task::Apt(t)
            | Task::Dnf(t)
            | Task::Yum(t)
            | Task::Zypper(t)
            | Task::Pacman(t)
            | Task::Homebrew(t) => {
                let module = crate::modules::packages::Package {
                    task: t,
                    tag: task.task.module(),
                };
                self.drive(&module, ctx).await
            }
            Task::Directory(t) => self.drive(t, ctx).await,
            Task::File(t) => self.drive(t, ctx).await,
            Task::Stat(t) => self.drive(t, ctx).await,
            Task::Git(t) => self.drive(t, ctx).await,
            Task::User(t) => self.drive(t, ctx).await,
            Task::Group(t) => self.drive(t, ctx).await,
            Task::SdService(t) => self.drive(t, ctx).await,
            Task::Copy(f) | Task::Template(f) => {
                let module = self.file_module(task, f, ctx.vars)?;
                self.drive(&module, ctx).await
            }
        }
    }

    pub(super) fn condition_holds(
        &self,
        task: &LoadedTask,
        vars: &Value,
    ) -> Result<bool, TaskError> {
        match task.task.with().and_then(|w| w.condition.as_ref()) {
            Some(cond) => self
                .runner
                .engine
                .condition(cond, vars)
                .map_err(|e| TaskError::new(format!("cannot evaluate condition {cond:?}: {e}"))),
            None => Ok(true),
        }
    }

    /// The privilege `task` runs under: its `sudo`, else the play's, else `--sudo`, wrapped
    /// by the play's `sudo_template` when it has one.
    pub(super) fn privilege(
        &self,
        task: &LoadedTask,
        vars: &Value,
    ) -> Result<Option<Privilege>, TaskError> {
        let (play, runner) = (self.play, self.runner);
        let user = match task
            .task
            .with()
            .and_then(|w| w.sudo.clone())
            .or_else(|| play.play.sudo.clone())
            .or_else(|| runner.opts.sudo.clone())
        {
            Some(u) => runner
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
                let rendered = runner
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

    /// The module of a copy or template task: its source found and loaded.
    pub(super) fn file_module<'s>(
        &'s self,
        task: &LoadedTask,
        f: &'s FileTask,
        vars: &Value,
    ) -> Result<FileModule<'s>, TaskError> {
        let runner: &'s super::runner::Runner = self.runner;
        let role = task.origin.role.as_deref();
        let is_template = matches!(task.task, Task::Template(_));
        let src = runner
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
        let path = resolve_source(kind, self.play, role, &src)
            .into_result(kind, &src)
            .map_err(|e| TaskError::new(e.to_string()))?;
        let (content, secret_bearing) = if is_template {
            let t = runner.prepared.templates.get(&path).cloned().ok_or_else(|| {
                TaskError::new(format!(
                    "template {} was not checked before the run (its path depends on a runtime value)",
                    path.display()
                ))
            })?;
            let secret = !t.env_refs.is_empty();
            (
                Content::Template {
                    template: t,
                    env: &runner.env,
                    masker: &runner.opts.masker,
                },
                secret,
            )
        } else {
            let source = match runner.prepared.files.get(&path) {
                Some(s) => s.clone(),
                None => Arc::new(
                    crate::connection::SourceFile::hash(&path)
                        .map_err(|e| TaskError::new(e.to_string()))?,
                ),
            };
            (Content::Copy(source), false)
        };
        Ok(FileModule {
            task: f,
            content,
            secret_bearing,
        })
    }

    /// Applies directly, or (check mode, `--diff`) plans first: check mode stops at the plan,
    /// `--diff` applies it and keeps its diff.
    async fn drive<M: TaskModule>(
        &self,
        module: &M,
        ctx: &TaskCtx<'_>,
    ) -> Result<Attempted, TaskError> {
        let opts = &self.runner.opts;
        if !opts.check && !opts.diff {
            let (applied, changes) = module.converge(ctx).await?;
            return Ok(Attempted {
                applied,
                changes,
                diff: None,
            });
        }
        let plan = module.plan(ctx).await?;
        if let Plan::Control(applied) = plan {
            // Nothing to change on the target: the same outcome in check mode.
            return Ok(Attempted {
                applied: *applied,
                changes: vec![],
                diff: None,
            });
        }
        let changes = plan.changes();
        let diff = match &plan {
            Plan::Put { diff, .. } => diff.clone(),
            _ => None,
        };
        if opts.check {
            let status = plan.check_status();
            let changed = status != Status::Matched;
            let cmd = match &plan {
                Plan::Run { cmd } | Plan::Converge { script: cmd, .. }
                    if self.runner.output.verbosity >= 1 =>
                {
                    Some(cmd.clone())
                }
                _ => None,
            };
            let applied = Applied {
                status: Some(status),
                changed,
                cmd,
                ..Default::default()
            };
            return Ok(Attempted {
                applied,
                changes,
                diff,
            });
        }
        let diff = if opts.diff { diff } else { None };
        let applied = module.apply(ctx, plan).await?;
        Ok(Attempted {
            applied,
            changes,
            diff,
        })
    }
}
