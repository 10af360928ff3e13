//! `!echo`: shows a message (rendered with the host's variables, never `ENV_` ones: a
//! reference is refused before the run, like every field of every module but the template
//! module's file) under the task. Changes nothing, so it is the same in check mode.

use serde::Deserialize;

use super::registry::{common_fields, ModuleFields};
use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::field_path::{FieldStep, TemplatedField};
use crate::output::Status;
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoTask {
    pub name: Option<String>,
    pub msg: String,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(EchoTask);

impl ModuleFields for EchoTask {
    fn summary(&self) -> String {
        self.msg.lines().next().unwrap_or("").to_string()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        out.push((vec![FieldStep::Key("msg")], &self.msg));
    }
}

impl TaskModule for EchoTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let msg = ctx
            .engine
            .render(&self.msg, ctx.vars)
            .map_err(|e| TaskError::new(format!("cannot render msg: {e}")))?;
        Ok(Plan::Control(Box::new(Applied {
            status: Some(Status::Complete),
            message: Some(msg),
            ..Applied::default()
        })))
    }

    async fn apply(&self, _ctx: &TaskCtx<'_>, plan: Plan) -> Result<Applied, TaskError> {
        Ok(match plan {
            Plan::Control(applied) => *applied,
            _ => Applied::default(),
        })
    }
}
