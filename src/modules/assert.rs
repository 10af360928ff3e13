//! `!assert`: fails the task unless its conditions hold: `true` (must hold), `false` (must
//! not), `all_true` (each must hold), `all_false` (none may hold), `some_true` (one at least).
//! Conditions are written like `with: {condition: ...}` (`(eq a "b")`, `enabled`) and are
//! templated fields (the ENV_ policy applies). The failure names the condition that failed,
//! then `msg`. Changes nothing: the same in check mode.

use serde::Deserialize;

use super::registry::{common_fields, ModuleFields};
use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::field_path::{push_optional, FieldStep, TemplatedField};
use crate::output::Status;
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertTask {
    pub name: Option<String>,
    pub msg: Option<String>,
    #[serde(rename = "true")]
    pub is_true: Option<String>,
    #[serde(rename = "false")]
    pub is_false: Option<String>,
    pub all_true: Option<Vec<String>>,
    pub all_false: Option<Vec<String>>,
    pub some_true: Option<Vec<String>>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(AssertTask);

/// The condition fields, as their keys: `field_as_template` reads these as conditions.
pub const CONDITION_FIELDS: &[&str] = &["true", "false", "all_true", "all_false", "some_true"];

impl ModuleFields for AssertTask {
    fn summary(&self) -> String {
        self.msg
            .as_deref()
            .or(self.is_true.as_deref())
            .or(self.is_false.as_deref())
            .unwrap_or("conditions")
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        push_optional(
            out,
            &[],
            &[
                ("msg", &self.msg),
                ("true", &self.is_true),
                ("false", &self.is_false),
            ],
        );
        for (key, list) in [
            ("all_true", &self.all_true),
            ("all_false", &self.all_false),
            ("some_true", &self.some_true),
        ] {
            for (i, c) in list.iter().flatten().enumerate() {
                out.push((vec![FieldStep::Key(key), FieldStep::Index(i)], c));
            }
        }
    }
}

impl AssertTask {
    /// Why the assertion fails, or `None` when it holds. Checked in Jet's order.
    fn failure(
        &self,
        test: &dyn Fn(&str) -> Result<bool, String>,
    ) -> Result<Option<String>, String> {
        if let Some(c) = &self.is_true {
            if !test(c)? {
                return Ok(Some(format!("`true: {c}` is false")));
            }
        }
        if let Some(c) = &self.is_false {
            if test(c)? {
                return Ok(Some(format!("`false: {c}` is true")));
            }
        }
        for (i, c) in self.all_true.iter().flatten().enumerate() {
            if !test(c)? {
                return Ok(Some(format!("`all_true[{i}]: {c}` is false")));
            }
        }
        for (i, c) in self.all_false.iter().flatten().enumerate() {
            if test(c)? {
                return Ok(Some(format!("`all_false[{i}]: {c}` is true")));
            }
        }
        if let Some(list) = &self.some_true {
            let mut any = false;
            for c in list {
                if test(c)? {
                    any = true;
                    break;
                }
            }
            if !any {
                return Ok(Some("no condition of `some_true` is true".to_string()));
            }
        }
        Ok(None)
    }
}

impl TaskModule for AssertTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let test = |c: &str| {
            ctx.engine
                .condition(c, ctx.vars)
                .map_err(|e| format!("cannot evaluate condition {c:?}: {e}"))
        };
        match self.failure(&test).map_err(TaskError::new)? {
            None => Ok(Plan::Control(Box::new(Applied {
                status: Some(Status::Complete),
                ..Applied::default()
            }))),
            Some(why) => {
                let msg = match &self.msg {
                    Some(m) => {
                        let m = ctx
                            .engine
                            .render(m, ctx.vars)
                            .map_err(|e| TaskError::new(format!("cannot render msg: {e}")))?;
                        format!("assertion failed: {m} ({why})")
                    }
                    None => format!("assertion failed: {why}"),
                };
                Err(TaskError::new(msg))
            }
        }
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

    fn parse(yaml: &str) -> AssertTask {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    /// Conditions are variable names looked up in a fixed set of true ones.
    fn run(t: &AssertTask) -> Option<String> {
        t.failure(&|c: &str| Ok(["yes", "also"].contains(&c)))
            .unwrap()
    }

    #[test]
    fn each_kind_of_condition_and_the_message_names_the_failing_one() {
        assert_eq!(run(&parse("true: yes\nfalse: no")), None);
        assert_eq!(run(&parse("true: no")).unwrap(), "`true: no` is false");
        assert_eq!(run(&parse("false: yes")).unwrap(), "`false: yes` is true");
        assert_eq!(run(&parse("all_true: [yes, also]")), None);
        assert_eq!(
            run(&parse("all_true: [yes, no]")).unwrap(),
            "`all_true[1]: no` is false"
        );
        assert_eq!(run(&parse("all_false: [no, nope]")), None);
        assert!(run(&parse("all_false: [no, also]"))
            .unwrap()
            .contains("all_false[1]"));
        assert_eq!(run(&parse("some_true: [no, also]")), None);
        assert!(run(&parse("some_true: [no, nope]")).is_some());
        assert_eq!(run(&parse("msg: nothing to check")), None);
    }

    #[test]
    fn conditions_are_templated_fields() {
        let t = parse("msg: m\ntrue: a\nall_false: [b, c]\nsome_true: [d]");
        let fields: Vec<String> = t
            .templated_fields_list()
            .iter()
            .map(|(p, _)| crate::field_path::field_path_string(p))
            .collect();
        assert_eq!(
            fields,
            [
                "msg",
                "true",
                "all_false[0]",
                "all_false[1]",
                "some_true[0]"
            ]
        );
    }

    impl AssertTask {
        fn templated_fields_list(&self) -> Vec<TemplatedField<'_>> {
            let mut out = vec![];
            self.templated_fields(&mut out);
            out
        }
    }
}
