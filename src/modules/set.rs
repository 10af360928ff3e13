//! `!set`: stores each of `vars:` as a host variable for the tasks after it. String values are
//! rendered with the host's variables (nested ones too: Jet renders only top-level strings,
//! which leaves a `{{...}}` deeper down as literal text); other values are stored as written.
//! Every key is known to lint and the pre-run checks (`saved_names`). An `ENV_` name is
//! refused at load: ENV_ names are reserved for the environment. Changes nothing on the
//! target: the same in check mode.

use serde::Deserialize;
use serde_json::Value;

use super::registry::{common_fields, task_label, FieldProblem, ModuleFields};
use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::env_name::ENV_PREFIX;
use crate::field_path::{collect_strings, FieldStep, TemplatedField};
use crate::output::Status;
use crate::task_logic::{PostLogic, PreLogic};
use crate::vars::Vars;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTask {
    pub name: Option<String>,
    pub vars: Option<Vars>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(SetTask);

impl ModuleFields for SetTask {
    fn summary(&self) -> String {
        self.saved_names().join(", ")
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        for (k, v) in self.vars.iter().flatten() {
            collect_strings(
                v,
                vec![FieldStep::Key("vars"), FieldStep::Name(k.clone())],
                out,
            );
        }
    }

    fn saved_names(&self) -> Vec<String> {
        self.vars.iter().flatten().map(|(k, _)| k.clone()).collect()
    }

    /// Names must not be `ENV_` ones (reserved for the environment) nor empty.
    fn check_fields(&self, _written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        let mut problems = vec![];
        for name in self.vars.iter().flatten().map(|(k, _)| k) {
            let field = vec![FieldStep::Key("vars"), FieldStep::Name(name.clone())];
            if name.trim().starts_with(ENV_PREFIX) {
                problems.push(FieldProblem {
                    code: "env-reserved-name",
                    field,
                    message: format!(
                        "task {:?} (!set) would create a variable named like an ENV_ variable: `{}`",
                        task_label(self, "set"),
                        name.trim()
                    ),
                    help: "ENV_ names are reserved for environment values loaded with --loadenv; set another name".into(),
                });
            } else if name.trim().is_empty() {
                problems.push(FieldProblem {
                    code: "invalid-playbook",
                    field,
                    message: format!(
                        "task {:?} (!set) sets a variable with an empty name",
                        task_label(self, "set")
                    ),
                    help: "name each variable with letters, digits and `_`".into(),
                });
            }
        }
        problems
    }
}

/// `value` with every string in it rendered.
fn render_value(ctx: &TaskCtx<'_>, name: &str, value: &Value) -> Result<Value, TaskError> {
    Ok(match value {
        Value::String(s) => Value::String(
            ctx.engine
                .render(s, ctx.vars)
                .map_err(|e| TaskError::new(format!("cannot render vars.{name}: {e}")))?,
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| render_value(ctx, name, v))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(ctx, name, v)?)))
                .collect::<Result<_, TaskError>>()?,
        ),
        other => other.clone(),
    })
}

impl TaskModule for SetTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let saves = self
            .vars
            .iter()
            .flatten()
            .map(|(k, v)| Ok((k.clone(), render_value(ctx, k, v)?)))
            .collect::<Result<Vec<_>, TaskError>>()?;
        Ok(Plan::Control(Box::new(Applied {
            status: Some(Status::Complete),
            saves,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_saved_names_strings_are_templated_env_names_refused() {
        let t: SetTask =
            serde_yaml_ng::from_str("vars:\n  a: '{{x}}'\n  b: [1, '{{y}}']\n  ENV_C: 3\n")
                .unwrap();
        assert_eq!(t.saved_names(), ["a", "b", "ENV_C"]);
        let mut fields = vec![];
        t.templated_fields(&mut fields);
        let paths: Vec<String> = fields
            .iter()
            .map(|(p, _)| crate::field_path::field_path_string(p))
            .collect();
        assert_eq!(paths, ["vars.a", "vars.b[1]"]);
        let problems = t.check_fields(&|_| None);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code, "env-reserved-name");
    }
}
