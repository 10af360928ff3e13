//! `!debug`: shows host variables under the task, as YAML: the ones named in `vars:`, or all of
//! them. Never an `ENV_` one: they are not host variables (`TaskCtx::vars` has none), a bare
//! `!debug` leaves out any that got there anyway, and naming one in `vars:` is refused at load
//! like any other `ENV_` reference outside the template module's file. `item` is left out of a
//! bare `!debug`, as Jet does. Changes nothing: the same in check mode.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::registry::{common_fields, task_label, FieldProblem, ModuleFields};
use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::env_name::ENV_PREFIX;
use crate::field_path::{FieldStep, TemplatedField};
use crate::output::Status;
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugTask {
    pub name: Option<String>,
    /// The variables to show (default: every host variable).
    pub vars: Option<Vec<String>>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(DebugTask);

impl ModuleFields for DebugTask {
    fn summary(&self) -> String {
        self.vars
            .as_ref()
            .map_or_else(|| "all variables".to_string(), |v| v.join(", "))
    }

    fn templated_fields<'a>(&'a self, _out: &mut Vec<TemplatedField<'a>>) {}

    /// An `ENV_` name in `vars:` would show the secret: refused, like `{{ENV_X}}` in a field.
    fn check_fields(&self, _written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        let Some(vars) = &self.vars else {
            return vec![];
        };
        vars.iter()
            .enumerate()
            .filter(|(_, name)| name.trim().starts_with(ENV_PREFIX))
            .map(|(i, name)| FieldProblem {
                code: "env-outside-template",
                field: vec![FieldStep::Key("vars"), FieldStep::Index(i)],
                message: format!(
                    "ENV_ variable `{}` is named in the vars of task {:?}: !debug would show it",
                    name.trim(),
                    task_label(self, "debug")
                ),
                help: "ENV_ variables reach the template module's file only; remove it from vars"
                    .into(),
            })
            .collect()
    }
}

impl DebugTask {
    /// The variables shown: the named ones that are defined (Jet leaves out the others), or
    /// all but `item`; never an `ENV_` name.
    fn shown(&self, vars: &Value) -> Map<String, Value> {
        let Value::Object(all) = vars else {
            return Map::new();
        };
        let wanted = |k: &str| match &self.vars {
            Some(names) => names.iter().any(|n| n.trim() == k),
            None => k != "item",
        };
        all.iter()
            .filter(|(k, _)| !k.starts_with(ENV_PREFIX) && wanted(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl TaskModule for DebugTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let shown = Value::Object(self.shown(ctx.vars));
        let text = serde_yaml_ng::to_string(&shown)
            .map_err(|e| TaskError::new(format!("cannot show the variables: {e}")))?;
        Ok(Plan::Control(Box::new(Applied {
            status: Some(Status::Complete),
            message: Some(text.trim_end().to_string()),
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
    use serde_json::json;

    fn task(vars: Option<&[&str]>) -> DebugTask {
        DebugTask {
            name: None,
            vars: vars.map(|v| v.iter().map(ToString::to_string).collect()),
            sensitive: false,
            no_log: false,
            with: None,
            and: None,
        }
    }

    #[test]
    fn never_shows_an_env_variable_even_when_present() {
        let vars = json!({"a": 1, "ENV_SECRET": "s3cr3t", "item": "x"});
        let all = task(None).shown(&vars);
        assert_eq!(Value::Object(all), json!({"a": 1}));
        let named = task(Some(&["ENV_SECRET", "a", "item"])).shown(&vars);
        assert_eq!(Value::Object(named), json!({"a": 1, "item": "x"}));
    }

    #[test]
    fn an_env_name_in_vars_is_refused_at_load() {
        let problems = task(Some(&["a", " ENV_X"])).check_fields(&|_| None);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code, "env-outside-template");
        assert_eq!(
            problems[0].field,
            vec![FieldStep::Key("vars"), FieldStep::Index(1)]
        );
        assert!(task(Some(&["a"])).check_fields(&|_| None).is_empty());
    }
}
