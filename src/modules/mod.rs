//! Task modules. The one table of modules is [`registry`] (the serde `Task` enum, one line per
//! module); each module's file holds its fields (with [`ModuleFields`]: templated fields,
//! summary, load-time checks) and its behaviour (with [`TaskModule`]: `plan` queries the
//! target and decides what would change, check mode stops there, `apply` makes the change).
//! Adding a module is one new file and one table line. Modules never spawn processes: they go
//! through the host's `Connection`.

pub mod assert;
pub mod common;
mod copy_diff;
pub mod debug;
pub mod directory;
pub mod echo;
pub mod external;
pub mod facts;
pub mod fail;
pub mod file;
pub mod git;
pub mod group;
pub mod packages;
pub mod plain_file;
pub mod registry;
pub mod sd_service;
pub mod set;
pub mod shell;
pub mod stat;
pub mod user;

pub use registry::{CommonFields, FieldProblem, ModuleFields, Task, MODULES};

use crate::connection::{AnyConnection, FileAttrs, Payload, Privilege};
use crate::output::Status;
use crate::template::Engine;
use serde_json::Value;

/// What a module needs to plan and apply one task on one host.
pub struct TaskCtx<'a> {
    pub conn: &'a AnyConnection,
    pub engine: &'a Engine,
    /// Host variables (never `ENV_*`); the template module adds the ones its file uses.
    pub vars: &'a Value,
    pub privilege: Option<&'a Privilege>,
    /// Build a diff (check mode, `--diff`).
    pub want_diff: bool,
    /// The diff may show content (`false`: `diff: false` or `--no-diff-content`): only then is
    /// the target's current content fetched.
    pub diff_content: bool,
    /// Where command output goes while it runs (`None`: nowhere live, e.g. file batches).
    pub stream: Option<&'a TaskStream>,
}

/// The sink and identity of a task that runs commands.
pub struct TaskStream {
    pub output: std::sync::Arc<crate::output::Output>,
    pub head: crate::capture::LiveHead,
    /// Show output live (`-vvv`, and never for a sensitive task).
    pub live: bool,
}

/// The change a module would make, decided without touching the target.
pub enum Plan {
    Unchanged,
    Run {
        cmd: String,
    },
    /// Make the change by running `script` on the target (one round trip): the plan of
    /// modules that query the host, then act (a package, a user, a service). `changes` names
    /// what would change, for check mode and the event.
    Converge {
        created: bool,
        changes: Vec<String>,
        script: String,
    },
    /// A module that changes nothing on the target (`!echo`, `!set`, `!facts`, `!assert`): its
    /// outcome is known when planning, and is the same in check mode.
    Control(Box<Applied>),
    Put {
        dest: String,
        content: Payload,
        attrs: FileAttrs,
        created: bool,
        changes: Vec<String>,
        diff: Option<Box<crate::diff::FileDiff>>,
    },
}

impl Plan {
    /// What the plan would change, by kind (`content`, `mode`, `installed`…).
    pub fn changes(&self) -> Vec<String> {
        match self {
            Plan::Put { changes, .. } | Plan::Converge { changes, .. } => changes.clone(),
            _ => vec![],
        }
    }

    pub fn check_status(&self) -> Status {
        match self {
            Plan::Unchanged => Status::Matched,
            Plan::Run { .. } => Status::WouldRun,
            Plan::Control(applied) => applied.status.clone().unwrap_or(Status::Matched),
            Plan::Put { created: true, .. } | Plan::Converge { created: true, .. } => {
                Status::WouldCreate
            }
            Plan::Put { .. } | Plan::Converge { .. } => Status::WouldModify,
        }
    }
}

/// The result of applying a plan.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    pub status: Option<Status>,
    pub changed: bool,
    pub rc: Option<i32>,
    /// How many lines of output the command printed (shown as a count for sensitive tasks).
    pub out_lines: Option<usize>,
    pub cmd: Option<String>,
    /// Host variables to store (`save:`, `!set`, `!facts`).
    pub saves: Vec<(String, Value)>,
    /// A message for the person running (`!echo`, `!debug`): shown under the task, masked.
    pub message: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TaskError {
    pub message: String,
    pub cmd: Option<String>,
    pub rc: Option<i32>,
    /// The last lines of the output (masked): see `capture::TAIL_LINES`.
    pub out: Option<String>,
    /// How many earlier lines `out` leaves out.
    pub out_lines_omitted: Option<usize>,
    /// How many lines the output had in all.
    pub out_lines: Option<usize>,
    /// The host is unusable (the connection broke), not just this task.
    pub connection_lost: bool,
}

impl TaskError {
    pub fn new(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
            cmd: None,
            rc: None,
            out: None,
            out_lines_omitted: None,
            out_lines: None,
            connection_lost: false,
        }
    }
}

impl From<crate::connection::ConnError> for TaskError {
    fn from(e: crate::connection::ConnError) -> Self {
        use crate::connection::ConnError;
        let lost = matches!(e, ConnError::Unreachable(_) | ConnError::Lost(_));
        TaskError {
            connection_lost: lost,
            ..TaskError::new(e.to_string())
        }
    }
}

/// How a module runs: `plan` reads what it needs from the host and decides, without changing
/// anything (check mode stops there, with the plan's `check_status`); `apply` carries out
/// exactly that plan. A new module implements these two; `converge` comes for free.
pub trait TaskModule: Sync {
    /// Decides what would change. Must not modify the target.
    fn plan(
        &self,
        ctx: &TaskCtx<'_>,
    ) -> impl std::future::Future<Output = Result<Plan, TaskError>> + Send;
    /// Plans and applies in one step (used when no diff is wanted). Returns what was applied
    /// and which attributes changed. By default the plan, then its apply; a module may
    /// override it to do both in fewer round trips (the file modules let the target compare
    /// and write at once).
    fn converge(
        &self,
        ctx: &TaskCtx<'_>,
    ) -> impl std::future::Future<Output = Result<(Applied, Vec<String>), TaskError>> + Send {
        async move {
            let plan = self.plan(ctx).await?;
            let changes = plan.changes();
            Ok((self.apply(ctx, plan).await?, changes))
        }
    }
    /// Makes the planned change.
    fn apply(
        &self,
        ctx: &TaskCtx<'_>,
        plan: Plan,
    ) -> impl std::future::Future<Output = Result<Applied, TaskError>> + Send;
}

/// Runs a module's command on the target with its output captured (bounded, masked; live at
/// `-vvv` unless the task is sensitive) and returns its exit code and the kept output.
/// A non-zero exit is the caller's to judge.
pub async fn run_captured(
    ctx: &TaskCtx<'_>,
    cmd: &str,
) -> Result<(i32, crate::capture::Captured), TaskError> {
    use crate::connection::Connection;
    let live = ctx
        .stream
        .filter(|st| st.live)
        .map(|st| (st.output.clone(), st.head.clone()));
    let mut cap = crate::capture::Capture::new(live, true, crate::capture::DEFAULT_SAVE_LIMIT);
    let rc = ctx.conn.run(cmd, ctx.privilege, &mut cap).await?;
    Ok((rc, cap.finish()))
}

/// Runs a read-only query (what a module plans from) and returns its output as text; a
/// non-zero exit fails the task with the output's last lines.
pub async fn query(ctx: &TaskCtx<'_>, what: &str, cmd: &str) -> Result<String, TaskError> {
    let (rc, captured) = run_captured(ctx, cmd).await?;
    if rc != 0 {
        return Err(script_failure(what, cmd, rc, &captured));
    }
    Ok(captured
        .kept
        .as_deref()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default())
}

/// Carries out a [`Plan::Converge`]: runs its script, fails on a non-zero exit.
pub async fn apply_script(
    ctx: &TaskCtx<'_>,
    what: &str,
    script: &str,
    created: bool,
) -> Result<Applied, TaskError> {
    let (rc, captured) = run_captured(ctx, script).await?;
    if rc != 0 {
        return Err(script_failure(what, script, rc, &captured));
    }
    Ok(Applied {
        status: Some(if created {
            Status::Created
        } else {
            Status::Modified
        }),
        changed: true,
        rc: Some(rc),
        out_lines: Some(captured.lines),
        ..Applied::default()
    })
}

/// The failure of a module's command: what it was doing, the command, rc, the output's tail.
pub fn script_failure(
    what: &str,
    cmd: &str,
    rc: i32,
    captured: &crate::capture::Captured,
) -> TaskError {
    let masker = crate::output::current_masker();
    let (tail, omitted) = captured.tail(&masker);
    TaskError {
        message: format!("{what} failed (rc {rc})"),
        cmd: Some(cmd.to_string()),
        rc: Some(rc),
        out: (captured.lines > 0).then_some(tail),
        out_lines_omitted: (omitted > 0).then_some(omitted),
        out_lines: Some(captured.lines),
        connection_lost: false,
    }
}
