//! `!group` (Jet's): a local group exists (`groupadd`, `-r` with `system: true`) with `gid`
//! (`groupmod -g`) and members `users` (exactly those, or at least those with
//! `append: true`: `gpasswd -M`), or is removed (`remove: true`: `groupdel`).

use std::collections::BTreeSet;

use serde::Deserialize;

use super::common::{self, Flag};
use super::registry::{common_fields, ModuleFields};
use super::user::Id;
use super::{Plan, TaskCtx, TaskError, TaskModule};
use crate::connection::scripts::quote;
use crate::field_path::{FieldStep, TemplatedField};
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupTask {
    pub name: Option<String>,
    pub group: String,
    pub gid: Option<Id>,
    pub users: Option<Vec<String>>,
    pub append: Option<Flag>,
    pub system: Option<Flag>,
    pub remove: Option<Flag>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(GroupTask);

impl ModuleFields for GroupTask {
    fn summary(&self) -> String {
        self.group.clone()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        use FieldStep::Key as K;
        out.push((vec![K("group")], &self.group));
        if let Some(Id::Text(t)) = &self.gid {
            out.push((vec![K("gid")], t));
        }
        for (i, u) in self.users.iter().flatten().enumerate() {
            out.push((vec![K("users"), FieldStep::Index(i)], u));
        }
        common::push_flags(
            out,
            &[
                ("append", &self.append),
                ("system", &self.system),
                ("remove", &self.remove),
            ],
        );
    }
}

#[derive(Debug, Default)]
struct Wanted {
    group: String,
    gid: Option<String>,
    users: Option<BTreeSet<String>>,
    append: bool,
    system: bool,
    remove: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct Found {
    gid: String,
    members: BTreeSet<String>,
}

/// Prints `M` for no such group, else its `getent group` line.
fn inspect_script(group: &str) -> String {
    format!(
        "e=$(getent group {g}); r=$?\n\
         if [ $r -eq 2 ]; then echo M; exit 0; elif [ $r -ne 0 ]; then exit $r; fi\n\
         printf 'G %s\\n' \"$e\"",
        g = quote(group)
    )
}

fn parse_inspect(out: &str) -> Result<Option<Found>, TaskError> {
    if out.lines().next().map(str::trim_end) == Some("M") {
        return Ok(None);
    }
    let bad = || {
        TaskError::new(format!(
            "unexpected reply when looking up the group: {out:?}"
        ))
    };
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("G "))
        .ok_or_else(bad)?;
    let fields: Vec<&str> = line.trim_end().split(':').collect();
    if fields.len() < 4 {
        return Err(bad());
    }
    Ok(Some(Found {
        gid: fields[2].to_string(),
        members: fields[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    }))
}

/// The members the group should have (with `append`, the current ones too).
fn wanted_members(w: &Wanted, found: Option<&Found>) -> Option<BTreeSet<String>> {
    let mut users = w.users.clone()?;
    if let (true, Some(f)) = (w.append, found) {
        users.extend(f.members.iter().cloned());
    }
    Some(users)
}

fn changes(w: &Wanted, f: &Found) -> Vec<String> {
    let mut out = vec![];
    if w.gid.as_ref().is_some_and(|g| *g != f.gid) {
        out.push("gid".to_string());
    }
    if wanted_members(w, Some(f)).is_some_and(|m| m != f.members) {
        out.push("users".to_string());
    }
    out
}

fn set_members(w: &Wanted, found: Option<&Found>) -> String {
    match wanted_members(w, found) {
        Some(m) => format!(
            "gpasswd -M {} {} >/dev/null\n",
            quote(&m.into_iter().collect::<Vec<_>>().join(",")),
            quote(&w.group)
        ),
        None => String::new(),
    }
}

fn create_script(w: &Wanted) -> String {
    let mut s = String::from("set -e\ngroupadd");
    if let Some(g) = &w.gid {
        s.push_str(&format!(" -g {}", quote(g)));
    }
    if w.system {
        s.push_str(" -r");
    }
    s.push_str(&format!(" {}\n", quote(&w.group)));
    if w.users.as_ref().is_some_and(|u| !u.is_empty()) {
        s.push_str(&set_members(w, None));
    }
    s
}

fn modify_script(w: &Wanted, f: &Found, changes: &[String]) -> String {
    let mut s = String::from("set -e\n");
    if let (Some(g), true) = (&w.gid, changes.iter().any(|c| c == "gid")) {
        s.push_str(&format!("groupmod -g {} {}\n", quote(g), quote(&w.group)));
    }
    if changes.iter().any(|c| c == "users") {
        s.push_str(&set_members(w, Some(f)));
    }
    s
}

impl GroupTask {
    fn wanted(&self, ctx: &TaskCtx<'_>) -> Result<Wanted, TaskError> {
        let users = match &self.users {
            Some(us) => Some(
                us.iter()
                    .map(|u| common::render_name(ctx, "users", u))
                    .collect::<Result<BTreeSet<_>, _>>()?,
            ),
            None => None,
        };
        Ok(Wanted {
            group: common::render_name(ctx, "group", &self.group)?,
            gid: self
                .gid
                .as_ref()
                .map(|g| g.render(ctx, "gid"))
                .transpose()?,
            users,
            append: common::flag(ctx, "append", self.append.as_ref(), false)?,
            system: common::flag(ctx, "system", self.system.as_ref(), false)?,
            remove: common::flag(ctx, "remove", self.remove.as_ref(), false)?,
        })
    }
}

impl TaskModule for GroupTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let w = self.wanted(ctx)?;
        let found = parse_inspect(
            &super::query(ctx, "looking up the group", &inspect_script(&w.group)).await?,
        )?;
        Ok(match (found, w.remove) {
            (None, true) => Plan::Unchanged,
            (None, false) => Plan::Converge {
                created: true,
                changes: vec![],
                script: create_script(&w),
            },
            (Some(_), true) => Plan::Converge {
                created: false,
                changes: vec!["removed".into()],
                script: format!("groupdel {}\n", quote(&w.group)),
            },
            (Some(f), false) => {
                let changes = changes(&w, &f);
                if changes.is_empty() {
                    Plan::Unchanged
                } else {
                    Plan::Converge {
                        created: false,
                        script: modify_script(&w, &f, &changes),
                        changes,
                    }
                }
            }
        })
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<super::Applied, TaskError> {
        common::apply_plan(ctx, "converging the group", plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_getent_group() {
        assert_eq!(parse_inspect("M\n").unwrap(), None);
        assert_eq!(
            parse_inspect("G adm:x:4:syslog,app\n").unwrap(),
            Some(Found {
                gid: "4".into(),
                members: set(&["app", "syslog"])
            })
        );
        assert_eq!(
            parse_inspect("G web:x:1000:\n").unwrap().unwrap().members,
            set(&[])
        );
        assert!(parse_inspect("G web:x\n").is_err());
    }

    #[test]
    fn decides_and_builds_commands() {
        let f = parse_inspect("G web:x:1000:a\n").unwrap().unwrap();
        let mut w = Wanted {
            group: "web".into(),
            ..Wanted::default()
        };
        assert!(changes(&w, &f).is_empty());
        w.users = Some(set(&["b"]));
        assert_eq!(changes(&w, &f), ["users"]);
        assert_eq!(
            modify_script(&w, &f, &changes(&w, &f)),
            "set -e\ngpasswd -M b web >/dev/null\n"
        );
        w.append = true;
        assert_eq!(
            modify_script(&w, &f, &changes(&w, &f)),
            "set -e\ngpasswd -M a,b web >/dev/null\n"
        );
        w.users = Some(set(&["a"]));
        assert!(changes(&w, &f).is_empty());
        w.gid = Some("1001".into());
        assert_eq!(changes(&w, &f), ["gid"]);
        assert_eq!(
            modify_script(&w, &f, &["gid".into()]),
            "set -e\ngroupmod -g 1001 web\n"
        );
        w.system = true;
        assert_eq!(
            create_script(&w),
            "set -e\ngroupadd -g 1001 -r web\ngpasswd -M a web >/dev/null\n"
        );
    }
}
