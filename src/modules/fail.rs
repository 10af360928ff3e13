//! `!fail`: fails the task with its `msg` (rendered; Jet's default is "fail invoked"), so the
//! host runs no further tasks. Changes nothing: the same in check mode.

use serde::Deserialize;

use super::registry::{common_fields, ModuleFields};
use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::field_path::{push_optional, TemplatedField};
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailTask {
    pub name: Option<String>,
    pub msg: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(FailTask);

/// Jet's message when `msg` is not given.
const DEFAULT_MSG: &str = "fail invoked";

impl ModuleFields for FailTask {
    fn summary(&self) -> String {
        self.msg
            .as_deref()
            .unwrap_or(DEFAULT_MSG)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        push_optional(out, &[], &[("msg", &self.msg)]);
    }
}

impl TaskModule for FailTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let msg = match &self.msg {
            Some(m) => ctx
                .engine
                .render(m, ctx.vars)
                .map_err(|e| TaskError::new(format!("cannot render msg: {e}")))?,
            None => DEFAULT_MSG.to_string(),
        };
        Err(TaskError::new(msg))
    }

    async fn apply(&self, _ctx: &TaskCtx<'_>, plan: Plan) -> Result<Applied, TaskError> {
        Ok(match plan {
            Plan::Control(applied) => *applied,
            _ => Applied::default(),
        })
    }
}
