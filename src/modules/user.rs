//! `!user` (Jet's): a local account exists (`useradd`) with `uid`, primary group `gid`,
//! supplementary `groups` (exactly those, or at least those with `append: true`), `gecos`
//! and `shell` (`usermod` changes only what differs), or is removed (`remove: true`;
//! `cleanup: true` also removes its home: `userdel -r`). On creation `system`, `create_home`
//! (default true) and `create_user_group` (default true) apply as in Jet.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::common::{self, Flag};
use super::registry::{common_fields, ModuleFields};
use super::{Plan, TaskCtx, TaskError, TaskModule};
use crate::connection::scripts::quote;
use crate::field_path::{push_optional, FieldStep, TemplatedField};
use crate::task_logic::{PostLogic, PreLogic};

/// A number written as a YAML integer or as (templated) text.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Id {
    Int(u64),
    Text(String),
}

impl Id {
    /// The rendered id, checked to be a number.
    pub fn render(&self, ctx: &TaskCtx<'_>, name: &str) -> Result<String, TaskError> {
        let text = match self {
            Id::Int(n) => return Ok(n.to_string()),
            Id::Text(t) => common::render(ctx, name, t)?,
        };
        let text = text.trim().to_string();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TaskError::new(format!(
                "{name} must be a number, not {text:?}"
            )));
        }
        Ok(text)
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserTask {
    pub name: Option<String>,
    pub user: String,
    pub uid: Option<Id>,
    pub system: Option<Flag>,
    pub gid: Option<String>,
    pub groups: Option<Vec<String>>,
    pub append: Option<Flag>,
    pub create_home: Option<Flag>,
    pub create_user_group: Option<Flag>,
    pub gecos: Option<String>,
    pub shell: Option<String>,
    pub remove: Option<Flag>,
    pub cleanup: Option<Flag>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(UserTask);

impl ModuleFields for UserTask {
    fn summary(&self) -> String {
        self.user.clone()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        use FieldStep::Key as K;
        out.push((vec![K("user")], &self.user));
        if let Some(Id::Text(t)) = &self.uid {
            out.push((vec![K("uid")], t));
        }
        push_optional(out, &[], &[("gid", &self.gid)]);
        for (i, g) in self.groups.iter().flatten().enumerate() {
            out.push((vec![K("groups"), FieldStep::Index(i)], g));
        }
        push_optional(out, &[], &[("gecos", &self.gecos), ("shell", &self.shell)]);
        common::push_flags(
            out,
            &[
                ("system", &self.system),
                ("append", &self.append),
                ("create_home", &self.create_home),
                ("create_user_group", &self.create_user_group),
                ("remove", &self.remove),
                ("cleanup", &self.cleanup),
            ],
        );
    }
}

/// The task, rendered.
#[derive(Debug, Default)]
struct Wanted {
    user: String,
    uid: Option<String>,
    gid: Option<String>,
    groups: Option<BTreeSet<String>>,
    gecos: Option<String>,
    shell: Option<String>,
    append: bool,
    remove: bool,
    cleanup: bool,
    create: OnCreate,
}

/// The options that only matter when the account is created.
#[derive(Debug, Default, Clone, Copy)]
#[allow(clippy::struct_excessive_bools)] // Jet's three flags, one each
struct OnCreate {
    system: bool,
    home: bool,
    user_group: bool,
}

/// The account on the target.
#[derive(Debug, Default, PartialEq, Eq)]
struct Account {
    uid: String,
    /// Primary group: name and number.
    group: String,
    gid: String,
    /// Every group (`id -Gn`, the primary one included).
    groups: BTreeSet<String>,
    gecos: String,
    shell: String,
}

/// Prints `M` for no such user, else the `getent passwd` line, `G group gid` and
/// `S groups…`.
fn inspect_script(user: &str) -> String {
    format!(
        r#"u={u}
e=$(getent passwd "$u"); r=$?
if [ $r -eq 2 ]; then echo M; exit 0; elif [ $r -ne 0 ]; then exit $r; fi
printf 'P %s\n' "$e"
printf 'G %s %s\n' "$(id -gn "$u")" "$(id -g "$u")"
printf 'S %s\n' "$(id -Gn "$u")""#,
        u = quote(user)
    )
}

fn parse_inspect(out: &str) -> Result<Option<Account>, TaskError> {
    if out.lines().next().map(str::trim_end) == Some("M") {
        return Ok(None);
    }
    let bad = || {
        TaskError::new(format!(
            "unexpected reply when looking up the user: {out:?}"
        ))
    };
    let line = |tag: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(tag))
            .ok_or_else(bad)
    };
    let passwd: Vec<&str> = line("P ")?.split(':').collect();
    if passwd.len() < 7 {
        return Err(bad());
    }
    let (group, gid) = line("G ")?.trim().split_once(' ').ok_or_else(bad)?;
    Ok(Some(Account {
        uid: passwd[2].to_string(),
        group: group.to_string(),
        gid: gid.to_string(),
        groups: line("S ")?.split_whitespace().map(str::to_string).collect(),
        gecos: passwd[4].to_string(),
        shell: passwd[6].trim_end().to_string(),
    }))
}

/// What differs between the account and the wanted one.
fn changes(w: &Wanted, a: &Account) -> Vec<String> {
    let gid_differs = w.gid.as_ref().is_some_and(|g| {
        if g.bytes().all(|b| b.is_ascii_digit()) {
            *g != a.gid
        } else {
            *g != a.group
        }
    });
    let groups_differ = w.groups.as_ref().is_some_and(|want| {
        let mut want = want.clone();
        want.insert(a.group.clone());
        if w.append {
            !want.is_subset(&a.groups)
        } else {
            want != a.groups
        }
    });
    [
        ("uid", w.uid.as_ref().is_some_and(|u| *u != a.uid)),
        ("gid", gid_differs),
        ("gecos", w.gecos.as_ref().is_some_and(|g| *g != a.gecos)),
        ("shell", w.shell.as_ref().is_some_and(|s| *s != a.shell)),
        ("groups", groups_differ),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(name, _)| name.to_string())
    .collect()
}

/// The `useradd` line.
fn create_script(w: &Wanted) -> String {
    let mut s = String::from("useradd");
    if let Some(u) = &w.uid {
        s.push_str(&format!(" -u {}", quote(u)));
    } else if w.create.system {
        s.push_str(" -r");
    }
    if let Some(g) = &w.gid {
        s.push_str(&format!(" -g {}", quote(g)));
    }
    if let Some(groups) = &w.groups {
        s.push_str(&format!(" -G {}", quote(&join(groups))));
    }
    s.push_str(if w.create.home { " -m" } else { " -M" });
    // useradd refuses -U with -g: an explicit primary group wins.
    s.push_str(if w.create.user_group && w.gid.is_none() {
        " -U"
    } else {
        " -N"
    });
    push_gecos_shell(&mut s, w, None);
    s.push_str(&format!(" {}\n", quote(&w.user)));
    s
}

/// The `usermod` line changing exactly `changes`.
fn modify_script(w: &Wanted, changes: &[String]) -> String {
    let has = |n: &str| changes.iter().any(|c| c == n);
    let mut s = String::from("usermod");
    if let (Some(u), true) = (&w.uid, has("uid")) {
        s.push_str(&format!(" -u {}", quote(u)));
    }
    if let (Some(g), true) = (&w.gid, has("gid")) {
        s.push_str(&format!(" -g {}", quote(g)));
    }
    if let (Some(groups), true) = (&w.groups, has("groups")) {
        let append = if w.append { " -a" } else { "" };
        s.push_str(&format!("{append} -G {}", quote(&join(groups))));
    }
    push_gecos_shell(&mut s, w, Some(changes));
    s.push_str(&format!(" {}\n", quote(&w.user)));
    s
}

fn push_gecos_shell(s: &mut String, w: &Wanted, changes: Option<&[String]>) {
    let has = |n: &str| changes.is_none_or(|c| c.iter().any(|x| x == n));
    if let (Some(g), true) = (&w.gecos, has("gecos")) {
        s.push_str(&format!(" -c {}", quote(g)));
    }
    if let (Some(sh), true) = (&w.shell, has("shell")) {
        s.push_str(&format!(" -s {}", quote(sh)));
    }
}

fn remove_script(w: &Wanted) -> String {
    let r = if w.cleanup { " -r" } else { "" };
    format!("userdel{r} {}\n", quote(&w.user))
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(",")
}

impl UserTask {
    fn wanted(&self, ctx: &TaskCtx<'_>) -> Result<Wanted, TaskError> {
        let flag =
            |name, value: &Option<Flag>, default| common::flag(ctx, name, value.as_ref(), default);
        let opt_name = |name, value: &Option<String>| {
            value
                .as_ref()
                .map(|v| common::render_name(ctx, name, v))
                .transpose()
        };
        let groups = match &self.groups {
            Some(gs) => Some(
                gs.iter()
                    .map(|g| common::render_name(ctx, "groups", g))
                    .collect::<Result<BTreeSet<_>, _>>()?,
            ),
            None => None,
        };
        let gecos = self
            .gecos
            .as_ref()
            .map(|g| common::render(ctx, "gecos", g))
            .transpose()?;
        if gecos
            .as_ref()
            .is_some_and(|g| g.contains([':', '\n', '\0']))
        {
            return Err(TaskError::new(
                "gecos may not contain ':', a NUL or a line break",
            ));
        }
        let shell = self
            .shell
            .as_ref()
            .map(|s| common::render_path(ctx, "shell", s))
            .transpose()?;
        Ok(Wanted {
            user: common::render_name(ctx, "user", &self.user)?,
            uid: self
                .uid
                .as_ref()
                .map(|u| u.render(ctx, "uid"))
                .transpose()?,
            gid: opt_name("gid", &self.gid)?,
            groups,
            gecos,
            shell,
            append: flag("append", &self.append, false)?,
            create: OnCreate {
                system: flag("system", &self.system, false)?,
                home: flag("create_home", &self.create_home, true)?,
                user_group: flag("create_user_group", &self.create_user_group, true)?,
            },
            remove: flag("remove", &self.remove, false)?,
            cleanup: flag("cleanup", &self.cleanup, false)?,
        })
    }
}

impl TaskModule for UserTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let w = self.wanted(ctx)?;
        let found = parse_inspect(
            &super::query(ctx, "looking up the user", &inspect_script(&w.user)).await?,
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
                script: remove_script(&w),
            },
            (Some(account), false) => {
                let changes = changes(&w, &account);
                if changes.is_empty() {
                    Plan::Unchanged
                } else {
                    Plan::Converge {
                        created: false,
                        script: modify_script(&w, &changes),
                        changes,
                    }
                }
            }
        })
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<super::Applied, TaskError> {
        common::apply_plan(ctx, "converging the user", plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOUND: &str = "P app:x:1500:1500:App User:/home/app:/bin/sh\nG app 1500\nS app adm\n";

    fn wanted() -> Wanted {
        Wanted {
            user: "app".into(),
            create: OnCreate {
                system: false,
                home: true,
                user_group: true,
            },
            ..Wanted::default()
        }
    }

    #[test]
    fn parses_getent_and_id() {
        assert_eq!(parse_inspect("M\n").unwrap(), None);
        let a = parse_inspect(FOUND).unwrap().unwrap();
        assert_eq!(
            (a.uid.as_str(), a.gid.as_str(), a.group.as_str()),
            ("1500", "1500", "app")
        );
        assert_eq!(a.shell, "/bin/sh");
        assert_eq!(a.gecos, "App User");
        assert_eq!(
            a.groups,
            BTreeSet::from(["app".to_string(), "adm".to_string()])
        );
        assert!(parse_inspect("P app:x\nG app 1\nS app\n").is_err());
        assert!(parse_inspect("nonsense").is_err());
    }

    #[test]
    fn decides_what_changes() {
        let a = parse_inspect(FOUND).unwrap().unwrap();
        let mut w = wanted();
        assert!(changes(&w, &a).is_empty());
        w.shell = Some("/bin/bash".into());
        w.uid = Some("1500".into());
        w.gid = Some("1500".into());
        w.groups = Some(BTreeSet::from(["adm".to_string()]));
        assert_eq!(changes(&w, &a), ["shell"]);
        w.groups = Some(BTreeSet::from(["sudo".to_string()]));
        assert_eq!(changes(&w, &a), ["shell", "groups"]);
        w.groups = Some(BTreeSet::new());
        assert_eq!(changes(&w, &a), ["shell", "groups"]);
        w.append = true;
        assert_eq!(changes(&w, &a), ["shell"]);
        w.gid = Some("staff".into());
        assert_eq!(changes(&w, &a), ["gid", "shell"]);
    }

    #[test]
    fn builds_commands() {
        let mut w = wanted();
        w.shell = Some("/bin/sh".into());
        w.gecos = Some("it's me".into());
        assert_eq!(
            create_script(&w),
            "useradd -m -U -c 'it'\\''s me' -s /bin/sh app\n"
        );
        w.create.system = true;
        w.gid = Some("adm".into());
        w.groups = Some(BTreeSet::from(["b".to_string(), "a".to_string()]));
        w.create.home = false;
        assert_eq!(
            create_script(&w),
            "useradd -r -g adm -G a,b -M -N -c 'it'\\''s me' -s /bin/sh app\n"
        );
        w.append = true;
        assert_eq!(
            modify_script(&w, &["groups".into(), "shell".into()]),
            "usermod -a -G a,b -s /bin/sh app\n"
        );
        assert_eq!(remove_script(&w), "userdel app\n");
        w.cleanup = true;
        assert_eq!(remove_script(&w), "userdel -r app\n");
    }
}
