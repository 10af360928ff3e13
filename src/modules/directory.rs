//! `!directory` (Jet's): a directory exists (`mkdir -p`) with `attributes:` (owner, group,
//! mode; applied to everything below with `recurse: true`), or is removed (`remove: true`:
//! `rmdir`, or `rm -rf` with `recurse: true`). A path that is not a directory fails.

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
pub struct DirectoryTask {
    pub name: Option<String>,
    pub path: String,
    pub remove: Option<Flag>,
    pub recurse: Option<Flag>,
    pub attributes: Option<Attributes>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(DirectoryTask);

impl ModuleFields for DirectoryTask {
    fn summary(&self) -> String {
        self.path.clone()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        out.push((vec![FieldStep::Key("path")], &self.path));
        common::push_flags(out, &[("remove", &self.remove), ("recurse", &self.recurse)]);
        common::push_attrs(out, self.attributes.as_ref());
    }

    fn check_fields(&self, written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        common::check_attrs(self.attributes.as_ref(), written)
    }
}

/// What the task wants, rendered.
struct Wanted {
    path: String,
    remove: bool,
    recurse: bool,
    attrs: FileAttrs,
}

/// The script that converges the directory: `None` when it already matches.
fn converge_script(want: &Wanted, state: &PathState) -> Result<Option<Plan>, TaskError> {
    let prelude = common::path_prelude(&want.path);
    let plan = match (state, want.remove) {
        (PathState::Missing, true) => None,
        (PathState::Missing, false) => Some(Plan::Converge {
            created: true,
            changes: vec![],
            script: format!(
                "{prelude}mkdir -p -- \"$p\"\n{}",
                common::attr_commands(&want.attrs, None, want.recurse)
            ),
        }),
        (PathState::Present { kind, .. }, _) if *kind != Kind::Directory => {
            return Err(TaskError::new(format!("{} is not a directory", want.path)));
        }
        (PathState::Present { .. }, true) => Some(Plan::Converge {
            created: false,
            changes: vec!["removed".into()],
            script: if want.recurse {
                format!("{prelude}rm -rf -- \"$p\"\n")
            } else {
                format!("{prelude}rmdir -- \"$p\"\n")
            },
        }),
        (present, false) => {
            let changes = common::attr_changes(present, &want.attrs);
            (!changes.is_empty()).then(|| Plan::Converge {
                created: false,
                script: format!(
                    "{prelude}{}",
                    common::attr_commands(&want.attrs, Some(&changes), want.recurse)
                ),
                changes,
            })
        }
    };
    Ok(plan)
}

impl TaskModule for DirectoryTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let want = Wanted {
            path: common::render_path(ctx, "path", &self.path)?,
            remove: common::flag(ctx, "remove", self.remove.as_ref(), false)?,
            recurse: common::flag(ctx, "recurse", self.recurse.as_ref(), false)?,
            attrs: common::render_attrs(ctx, self.attributes.as_ref())?,
        };
        let below = (want.recurse && !want.remove).then_some(&want.attrs);
        let out = super::query(
            ctx,
            "inspecting the directory",
            &common::inspect_path(&want.path, below),
        )
        .await?;
        let state = common::parse_path_state(&out)?;
        Ok(converge_script(&want, &state)?.unwrap_or(Plan::Unchanged))
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<super::Applied, TaskError> {
        common::apply_plan(ctx, "converging the directory", plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(remove: bool, recurse: bool) -> Wanted {
        Wanted {
            path: "/srv/a b".into(),
            remove,
            recurse,
            attrs: FileAttrs {
                owner: None,
                group: None,
                mode: Some(0o750),
            },
        }
    }

    fn script(plan: Option<Plan>) -> (bool, Vec<String>, String) {
        match plan {
            Some(Plan::Converge {
                created,
                changes,
                script,
            }) => (created, changes, script),
            Some(_) => panic!("not a converge plan"),
            None => (false, vec![], String::new()),
        }
    }

    fn dir(mode: u32, below: &[&str]) -> PathState {
        PathState::Present {
            kind: Kind::Directory,
            mode,
            owner: "root".into(),
            group: "root".into(),
            uid: "0".into(),
            gid: "0".into(),
            below: below.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn creates_modifies_removes_or_matches() {
        let (created, _, s) =
            script(converge_script(&want(false, true), &PathState::Missing).unwrap());
        assert!(created);
        assert_eq!(
            s,
            "set -e\np='/srv/a b'\nmkdir -p -- \"$p\"\nchmod -R 0750 -- \"$p\"\n"
        );
        assert!(converge_script(&want(false, false), &dir(0o750, &[]))
            .unwrap()
            .is_none());
        assert!(converge_script(&want(true, false), &PathState::Missing)
            .unwrap()
            .is_none());
        let (_, changes, s) =
            script(converge_script(&want(false, true), &dir(0o750, &["mode"])).unwrap());
        assert_eq!(changes, ["mode"]);
        assert!(s.ends_with("chmod -R 0750 -- \"$p\"\n"));
        let (_, changes, s) =
            script(converge_script(&want(true, false), &dir(0o700, &[])).unwrap());
        assert_eq!(changes, ["removed"]);
        assert!(s.ends_with("rmdir -- \"$p\"\n"));
        let (_, _, s) = script(converge_script(&want(true, true), &dir(0o700, &[])).unwrap());
        assert!(s.ends_with("rm -rf -- \"$p\"\n"));
        let mut file = dir(0o644, &[]);
        if let PathState::Present { kind, .. } = &mut file {
            *kind = Kind::File;
        }
        let e = converge_script(&want(false, false), &file).err().unwrap();
        assert_eq!(e.message, "/srv/a b is not a directory");
    }
}
