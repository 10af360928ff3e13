//! `!file` (Jet's): a file exists (`touch`, its content left alone) with `attributes:`
//! (owner, group, mode), or is removed (`remove: true`). A directory at the path fails.
//! (`!copy` and `!template`, which also write content, are in `file.rs`.)

use serde::Deserialize;

use super::common::{self, Flag, Kind, PathState};
use super::file::Attributes;
use super::registry::{common_fields, FieldProblem, ModuleFields};
use super::{Plan, TaskCtx, TaskError, TaskModule};
use crate::connection::FileAttrs;
use crate::field_path::{FieldStep, TemplatedField};
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlainFileTask {
    pub name: Option<String>,
    pub path: String,
    pub remove: Option<Flag>,
    pub attributes: Option<Attributes>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(PlainFileTask);

impl ModuleFields for PlainFileTask {
    fn summary(&self) -> String {
        self.path.clone()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        out.push((vec![FieldStep::Key("path")], &self.path));
        common::push_flags(out, &[("remove", &self.remove)]);
        common::push_attrs(out, self.attributes.as_ref());
    }

    fn check_fields(&self, written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        common::check_attrs(self.attributes.as_ref(), written)
    }
}

/// The plan for `path` in `state`: `None` when it already matches.
fn converge_script(
    path: &str,
    remove: bool,
    attrs: &FileAttrs,
    state: &PathState,
) -> Result<Option<Plan>, TaskError> {
    let prelude = common::path_prelude(path);
    let plan = match (state, remove) {
        (PathState::Missing, true) => None,
        (PathState::Missing, false) => Some(Plan::Converge {
            created: true,
            changes: vec![],
            script: format!(
                "{prelude}touch -- \"$p\"\n{}",
                common::attr_commands(attrs, None, false)
            ),
        }),
        (PathState::Present { kind, .. }, _) if *kind == Kind::Directory => {
            return Err(TaskError::new(format!("{path} is a directory")));
        }
        (PathState::Present { .. }, true) => Some(Plan::Converge {
            created: false,
            changes: vec!["removed".into()],
            script: format!("{prelude}rm -f -- \"$p\"\n"),
        }),
        (present, false) => {
            let changes = common::attr_changes(present, attrs);
            (!changes.is_empty()).then(|| Plan::Converge {
                created: false,
                script: format!(
                    "{prelude}{}",
                    common::attr_commands(attrs, Some(&changes), false)
                ),
                changes,
            })
        }
    };
    Ok(plan)
}

impl TaskModule for PlainFileTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let path = common::render_path(ctx, "path", &self.path)?;
        let remove = common::flag(ctx, "remove", self.remove.as_ref(), false)?;
        let attrs = common::render_attrs(ctx, self.attributes.as_ref())?;
        let out = super::query(
            ctx,
            "inspecting the file",
            &common::inspect_path(&path, None),
        )
        .await?;
        let state = common::parse_path_state(&out)?;
        Ok(converge_script(&path, remove, &attrs, &state)?.unwrap_or(Plan::Unchanged))
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<super::Applied, TaskError> {
        common::apply_plan(ctx, "converging the file", plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(kind: Kind, mode: u32) -> PathState {
        PathState::Present {
            kind,
            mode,
            owner: "root".into(),
            group: "root".into(),
            uid: "0".into(),
            gid: "0".into(),
            below: vec![],
        }
    }

    #[test]
    fn touches_modifies_removes_or_fails_on_a_directory() {
        let attrs = FileAttrs {
            owner: Some("root".into()),
            group: None,
            mode: Some(0o600),
        };
        let Some(Plan::Converge {
            created, script, ..
        }) = converge_script("/etc/x", false, &attrs, &PathState::Missing).unwrap()
        else {
            panic!("no plan")
        };
        assert!(created);
        assert_eq!(
            script,
            "set -e\np=/etc/x\ntouch -- \"$p\"\nchmod 0600 -- \"$p\"\nchown root -- \"$p\"\n"
        );
        let Some(Plan::Converge {
            changes, script, ..
        }) = converge_script("/etc/x", false, &attrs, &present(Kind::File, 0o644)).unwrap()
        else {
            panic!("no plan")
        };
        assert_eq!(changes, ["mode"]);
        assert_eq!(script, "set -e\np=/etc/x\nchmod 0600 -- \"$p\"\n");
        assert!(
            converge_script("/etc/x", false, &attrs, &present(Kind::File, 0o600))
                .unwrap()
                .is_none()
        );
        assert!(converge_script("/etc/x", true, &attrs, &PathState::Missing)
            .unwrap()
            .is_none());
        let Some(Plan::Converge { script, .. }) =
            converge_script("/etc/x", true, &attrs, &present(Kind::File, 0o600)).unwrap()
        else {
            panic!("no plan")
        };
        assert!(script.ends_with("rm -f -- \"$p\"\n"));
        let e = converge_script("/etc", false, &attrs, &present(Kind::Directory, 0o755))
            .err()
            .unwrap();
        assert_eq!(e.message, "/etc is a directory");
    }
}
