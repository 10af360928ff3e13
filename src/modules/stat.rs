//! `!stat` (Jet's): inspects a path and saves what it found under `save:` as
//! `{exists, is_dir, is_file, mode, owner, group}` (Jet's names, plus `is_file`; `mode` is
//! Jet's text form, `"0o755"`; missing paths have `null` mode, owner and group). Changes
//! nothing, so it runs the same in check mode.

use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{self, Kind, PathState};
use super::registry::{common_fields, FieldProblem, ModuleFields};
use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::field_path::{FieldStep, TemplatedField};
use crate::output::Status;
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatTask {
    pub name: Option<String>,
    pub path: String,
    pub save: String,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(StatTask);

impl ModuleFields for StatTask {
    fn summary(&self) -> String {
        self.path.clone()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        out.push((vec![FieldStep::Key("path")], &self.path));
    }

    fn saved_names(&self) -> Vec<String> {
        vec![self.save.trim().to_string()]
    }

    /// `save:` must name a usable, non-ENV_ variable.
    fn check_fields(&self, _written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        let name = self.save.trim();
        let field = vec![FieldStep::Key("save")];
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return vec![FieldProblem {
                code: "invalid-playbook",
                field,
                message: format!("`save: {name:?}` is not a variable name"),
                help: "name it with letters, digits and `_`, not starting with a digit".into(),
            }];
        }
        if name.starts_with(crate::env_name::ENV_PREFIX) {
            return vec![FieldProblem {
                code: "env-reserved-name",
                field,
                message: format!("`save: {name}` would create a variable named like an ENV_ variable"),
                help: "ENV_ names are reserved for environment values loaded with --loadenv; save under another name".into(),
            }];
        }
        vec![]
    }
}

/// The saved value for a path in `state` (Jet's `StatResult`, plus `is_file`).
fn saved(state: &PathState) -> Value {
    match state {
        PathState::Missing => json!({
            "exists": false, "is_dir": false, "is_file": false,
            "mode": null, "owner": null, "group": null,
        }),
        PathState::Present {
            kind,
            mode,
            owner,
            group,
            ..
        } => json!({
            "exists": true,
            "is_dir": *kind == Kind::Directory,
            "is_file": *kind == Kind::File,
            "mode": format!("0o{mode:o}"),
            "owner": owner,
            "group": group,
        }),
    }
}

impl TaskModule for StatTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let path = common::render_path(ctx, "path", &self.path)?;
        let out = super::query(
            ctx,
            "inspecting the path",
            &common::inspect_path(&path, None),
        )
        .await?;
        let state = common::parse_path_state(&out)?;
        Ok(Plan::Control(Box::new(Applied {
            status: Some(Status::Matched),
            saves: vec![(self.save.trim().to_string(), saved(&state))],
            ..Applied::default()
        })))
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<Applied, TaskError> {
        common::apply_plan(ctx, "stat", plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_jet_names() {
        let st = common::parse_path_state("D 2755 www-data adm 33 4\n").unwrap();
        assert_eq!(
            saved(&st),
            json!({"exists": true, "is_dir": true, "is_file": false, "mode": "0o2755",
                   "owner": "www-data", "group": "adm"})
        );
        let st = common::parse_path_state("F 644 root root 0 0\n").unwrap();
        assert_eq!(saved(&st)["is_file"], true);
        assert_eq!(saved(&PathState::Missing)["exists"], false);
        assert_eq!(saved(&PathState::Missing)["mode"], Value::Null);
    }
}
