//! `!shell`: runs a command with `sh`, its output streamed (see `capture`); `failed_when` /
//! `changed_when` see `rc` and `out` (the kept, bounded output); `save` stores `{rc, out}` as a
//! host variable, up to the task's `save_limit`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::registry::{common_fields, FieldProblem, ModuleFields};
use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::capture::{human_size, Capture};
use crate::connection::Connection;
use crate::field_path::{push_optional, FieldStep, TemplatedField};
use crate::output::Status;
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellTask {
    pub name: Option<String>,
    pub cmd: String,
    pub save: Option<String>,
    /// How much output `save:` (and `failed_when`/`changed_when` reading `out`) may keep:
    /// bytes, or `64MiB`, `512KiB`, `1GiB`. Default `capture::DEFAULT_SAVE_LIMIT` (16 MiB);
    /// a larger output fails the task.
    pub save_limit: Option<Size>,
    pub failed_when: Option<String>,
    pub changed_when: Option<String>,
    #[serde(default, rename = "unsafe")]
    pub unsafe_: bool,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

/// A size written as a number of bytes or as text with a unit (`64MiB`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Size::Bytes(n) => Ok(*n),
            Size::Text(t) => crate::capture::parse_size(t),
        }
    }
}

impl ShellTask {
    /// The save limit in bytes (an invalid one was reported at load).
    pub fn save_limit(&self) -> u64 {
        self.save_limit
            .as_ref()
            .and_then(|s| s.bytes().ok())
            .unwrap_or(crate::capture::DEFAULT_SAVE_LIMIT)
    }
}

common_fields!(ShellTask);

impl ModuleFields for ShellTask {
    fn summary(&self) -> String {
        self.cmd.lines().next().unwrap_or("").to_string()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        out.push((vec![FieldStep::Key("cmd")], &self.cmd));
        push_optional(
            out,
            &[],
            &[
                ("save", &self.save),
                ("failed_when", &self.failed_when),
                ("changed_when", &self.changed_when),
            ],
        );
    }

    fn saved_names(&self) -> Vec<String> {
        self.save.iter().cloned().collect()
    }

    /// `save_limit:` must be a size; `save:` must name a usable, non-ENV_ variable.
    fn check_fields(&self, _written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        use FieldStep::Key as K;
        let mut problems = vec![];
        if let Some(Err(e)) = self.save_limit.as_ref().map(Size::bytes) {
            problems.push(FieldProblem {
                code: "invalid-playbook",
                field: vec![K("save_limit")],
                message: format!("save_limit: {e}"),
                help: "e.g. save_limit: 64MiB (the default is 16 MiB)".into(),
            });
        }
        let Some(name) = self.save.as_deref() else {
            return problems;
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            problems.push(FieldProblem {
                code: "invalid-playbook",
                field: vec![K("save")],
                message: format!(
                    "`save: {name:?}` is not a variable name: the fact could never be used"
                ),
                help: "name the fact with letters, digits and `_`, not starting with a digit (save: result)".into(),
            });
        } else if name.trim().starts_with(crate::env_name::ENV_PREFIX) {
            problems.push(FieldProblem {
                code: "env-reserved-name",
                field: vec![K("save")],
                message: format!(
                    "`save: {}` would create a fact named like an ENV_ variable",
                    name.trim()
                ),
                help: "ENV_ names are reserved for environment values loaded with --loadenv; save under another name".into(),
            });
        }
        problems
    }
}

pub struct Shell<'a>(pub &'a ShellTask);

impl TaskModule for Shell<'_> {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let cmd = ctx
            .engine
            .render_shell(&self.0.cmd, ctx.vars, self.0.unsafe_)
            .map_err(|e| TaskError::new(format!("cannot render cmd: {e}")))?;
        Ok(Plan::Run { cmd })
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<Applied, TaskError> {
        let Plan::Run { cmd } = plan else {
            return Ok(Applied::default());
        };
        let t = self.0;
        let limit = t.save_limit();
        let keep = t.save.is_some()
            || reads_out(t.failed_when.as_deref())
            || reads_out(t.changed_when.as_deref());
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
                .map_or_else(|| "shell".into(), |st| st.head.task.clone());
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
            saves: t
                .save
                .iter()
                .map(|name| (name.clone(), json!({"rc": rc, "out": text})))
                .collect(),
            out_lines: Some(captured.lines),
            cmd: Some(cmd),
            message: None,
        })
    }
}

/// Whether a condition reads the output (`out` as a word): only then is the output kept.
fn reads_out(cond: Option<&str>) -> bool {
    cond.is_some_and(|c| {
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
