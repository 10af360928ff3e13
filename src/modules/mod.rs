//! Task modules. The one table of modules is [`registry`] (the serde `Task` enum, one line per
//! module); each module's file holds its fields (with [`ModuleFields`]: templated fields,
//! summary, load-time checks) and its behaviour (with [`TaskModule`]: `plan` queries the
//! target and decides what would change, check mode stops there, `apply` makes the change).
//! Adding a module is one new file and one table line. Modules never spawn processes: they go
//! through the host's `Connection`.

pub mod file;
pub mod registry;
pub mod shell;

pub use registry::{CommonFields, FieldProblem, ModuleFields, Task, MODULES};

use serde_json::Value;
use zeroize::Zeroizing;

use crate::connection::{AnyConnection, FileAttrs, Privilege};
use crate::output::Status;
use crate::template::Engine;

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
    Put {
        dest: String,
        content: Zeroizing<Vec<u8>>,
        attrs: FileAttrs,
        created: bool,
        changes: Vec<String>,
        diff: Option<Box<crate::diff::FileDiff>>,
    },
}

impl Plan {
    pub fn check_status(&self) -> Status {
        match self {
            Plan::Unchanged => Status::Matched,
            Plan::Run { .. } => Status::WouldRun,
            Plan::Put { created: true, .. } => Status::WouldCreate,
            Plan::Put { .. } => Status::WouldModify,
        }
    }
}

/// The result of applying a plan.
#[derive(Debug, Default)]
pub struct Applied {
    pub status: Option<Status>,
    pub changed: bool,
    pub rc: Option<i32>,
    /// How many lines of output the command printed (shown as a count for sensitive tasks).
    pub out_lines: Option<usize>,
    pub cmd: Option<String>,
    /// Facts to store for the host (`save:`).
    pub save: Option<(String, Value)>,
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
            let changes = match &plan {
                Plan::Put { changes, .. } => changes.clone(),
                _ => vec![],
            };
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
