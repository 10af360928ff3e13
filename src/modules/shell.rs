//! `!shell`: runs a command under `sh -c`; `failed_when` / `changed_when` see `rc` and `out`;
//! `save` stores `{rc, out}` as a host variable.

use serde_json::{json, Value};

use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::connection::Connection;
use crate::output::Status;
use crate::playbook::ShellTask;

pub struct Shell<'a>(pub &'a ShellTask);

impl TaskModule for Shell<'_> {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let cmd = ctx
            .engine
            .render_shell(&self.0.cmd, ctx.vars, self.0.unsafe_)
            .map_err(|e| TaskError::new(format!("cannot render cmd: {e}")))?;
        Ok(Plan::Run { cmd })
    }

    async fn converge(&self, ctx: &TaskCtx<'_>) -> Result<(Applied, Vec<String>), TaskError> {
        let plan = self.plan(ctx).await?;
        Ok((self.apply(ctx, plan).await?, vec![]))
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<Applied, TaskError> {
        let Plan::Run { cmd } = plan else {
            return Ok(Applied::default());
        };
        let mut buf = Vec::new();
        let rc = ctx.conn.run(&cmd, ctx.privilege, &mut buf).await?;
        let out = crate::connection::RunOutput { rc, out: buf };
        let text = String::from_utf8_lossy(&out.out).into_owned();
        let mut seen: Value = ctx.vars.clone();
        if let Value::Object(m) = &mut seen {
            m.insert("rc".into(), json!(out.rc));
            m.insert("out".into(), json!(text.trim_end()));
        }
        let cond = |c: &Option<String>, default: bool| -> Result<bool, TaskError> {
            match c {
                Some(expr) => ctx.engine.condition(expr, &seen).map_err(|e| {
                    TaskError::new(format!("cannot evaluate condition {expr:?}: {e}"))
                }),
                None => Ok(default),
            }
        };
        let failed = cond(&self.0.failed_when, out.rc != 0)?;
        let changed = cond(&self.0.changed_when, true)?;
        if failed {
            return Err(TaskError {
                message: format!("command failed (rc {})", out.rc),
                cmd: Some(cmd),
                rc: Some(out.rc),
                out: Some(text),
                connection_lost: false,
            });
        }
        Ok(Applied {
            status: Some(Status::Complete),
            changed,
            rc: Some(out.rc),
            save: self
                .0
                .save
                .as_ref()
                .map(|name| (name.clone(), json!({"rc": out.rc, "out": text.trim_end()}))),
            out: Some(text),
            cmd: Some(cmd),
        })
    }
}
