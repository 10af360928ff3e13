//! `!shell`: runs a command with `sh`, its output streamed (see `capture`); `failed_when` /
//! `changed_when` see `rc` and `out` (the kept, bounded output); `save` stores `{rc, out}` as a
//! host variable, up to the task's `save_limit`.

use serde_json::{json, Value};

use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::capture::{human_size, Capture};
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
        let t = self.0;
        let limit = t.save_limit();
        let keep = t.save.is_some() || reads_out(&t.failed_when) || reads_out(&t.changed_when);
        let live = ctx
            .stream
            .filter(|st| st.live)
            .map(|st| (st.output.clone(), st.head.clone()));
        let mut cap = Capture::new(live, keep, limit);
        let rc = ctx.conn.run(&cmd, ctx.privilege, &mut cap).await;
        let captured = cap.finish();
        let masker = crate::output::current_masker();
        let rc = rc?;
        let failure = |message: String| {
            let (tail, omitted) = captured.tail(&masker);
            TaskError {
                message,
                cmd: Some(cmd.clone()),
                rc: Some(rc),
                out: (captured.lines > 0).then_some(tail),
                out_lines_omitted: (omitted > 0).then_some(omitted),
                out_lines: Some(captured.lines),
                connection_lost: false,
            }
        };
        if captured.over_limit {
            let task = ctx
                .stream
                .map(|st| st.head.task.clone())
                .unwrap_or_else(|| "shell".into());
            return Err(failure(format!(
                "the output of task {task:?} is larger than its save limit of {}: nothing was \
                 saved (the output is never cut short); raise the limit with `save_limit:` \
                 on the task (e.g. save_limit: 64MiB) or make the command print less",
                human_size(limit)
            )));
        }
        let text = captured
            .kept
            .as_ref()
            .map(|k| String::from_utf8_lossy(k).trim_end().to_string())
            .unwrap_or_default();
        let mut seen: Value = ctx.vars.clone();
        if let Value::Object(m) = &mut seen {
            m.insert("rc".into(), json!(rc));
            m.insert("out".into(), json!(text));
        }
        let cond = |c: &Option<String>, default: bool| -> Result<bool, TaskError> {
            match c {
                Some(expr) => ctx.engine.condition(expr, &seen).map_err(|e| {
                    TaskError::new(format!("cannot evaluate condition {expr:?}: {e}"))
                }),
                None => Ok(default),
            }
        };
        let failed = cond(&t.failed_when, rc != 0)?;
        let changed = cond(&t.changed_when, true)?;
        if failed {
            return Err(failure(format!("command failed (rc {rc})")));
        }
        Ok(Applied {
            status: Some(Status::Complete),
            changed,
            rc: Some(rc),
            save: t
                .save
                .as_ref()
                .map(|name| (name.clone(), json!({"rc": rc, "out": text}))),
            out_lines: Some(captured.lines),
            cmd: Some(cmd),
        })
    }
}

/// Whether a condition reads the output (`out` as a word): only then is the output kept.
fn reads_out(cond: &Option<String>) -> bool {
    cond.as_deref().is_some_and(|c| {
        c.match_indices("out").any(|(i, _)| {
            let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
            let before = c.as_bytes()[..i]
                .last()
                .is_some_and(|&b| word(b) || b == b'.');
            let after = c.as_bytes().get(i + 3).is_some_and(|&b| word(b));
            !before && !after
        })
    })
}
