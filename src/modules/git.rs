//! `!git` (Jet's): a checkout of `repo` at `path` on `branch` (default `main`), cloned with
//! the target's `git` when missing and, with `update` (default true), fast-forwarded when the
//! branch's commit on the remote moved; `attributes:` apply to the whole tree. `ssh_options`
//! and `accept_keys` (default true: `StrictHostKeyChecking=accept-new`) build
//! `GIT_SSH_COMMAND`; git never prompts (`GIT_TERMINAL_PROMPT=0`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::common::{self, Flag, Kind, PathState};
use super::file::Attributes;
use super::registry::{common_fields, FieldProblem, ModuleFields};
use super::{Plan, TaskCtx, TaskError, TaskModule};
use crate::connection::scripts::quote;
use crate::connection::FileAttrs;
use crate::field_path::{push_optional, FieldStep, TemplatedField};
use crate::task_logic::{PostLogic, PreLogic};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitTask {
    pub name: Option<String>,
    pub repo: String,
    pub path: String,
    pub branch: Option<String>,
    pub ssh_options: Option<BTreeMap<String, String>>,
    pub accept_keys: Option<Flag>,
    pub update: Option<Flag>,
    pub attributes: Option<Attributes>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(GitTask);

impl ModuleFields for GitTask {
    fn summary(&self) -> String {
        format!("{} -> {}", self.repo, self.path)
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        use FieldStep::Key as K;
        out.push((vec![K("repo")], &self.repo));
        out.push((vec![K("path")], &self.path));
        push_optional(out, &[], &[("branch", &self.branch)]);
        for (key, value) in self.ssh_options.iter().flatten() {
            out.push((vec![K("ssh_options"), FieldStep::Name(key.clone())], value));
        }
        common::push_flags(
            out,
            &[("accept_keys", &self.accept_keys), ("update", &self.update)],
        );
        common::push_attrs(out, self.attributes.as_ref());
    }

    fn check_fields(&self, written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        common::check_attrs(self.attributes.as_ref(), written)
    }
}

/// The task, rendered.
#[derive(Debug)]
struct Wanted {
    repo: String,
    path: String,
    branch: String,
    update: bool,
    /// `VAR=value ` words that start every git command that talks to the remote.
    env: String,
    attrs: FileAttrs,
}

/// What the target's checkout is.
#[derive(Debug, PartialEq, Eq)]
enum Checkout {
    /// No directory, or an empty one without `.git`: clone.
    Absent,
    NotADirectory,
    Present {
        /// `HEAD`'s commit (empty: none).
        local: String,
        branch: String,
        /// The branch's commit on the remote (asked only with `update`).
        remote: Option<String>,
    },
}

/// `git` that trusts the checkout whoever owns it (`attributes.owner` may hand it to
/// another user, and the command-line setting is the only one git accepts for that), and
/// ignores the executable bits that `attributes.mode` sets over the tree (they would read
/// as local changes and stop the fast-forward).
const GIT: &str = "git -c 'safe.directory=*' -c core.fileMode=false";

/// `GIT_TERMINAL_PROMPT=0 GIT_SSH_COMMAND='ssh -o K=V ...' `.
fn git_env(ssh_options: &BTreeMap<String, String>, accept_keys: bool) -> String {
    let mut ssh = String::from("ssh");
    for (k, v) in ssh_options {
        ssh.push_str(&format!(" -o {}", quote(&format!("{k}={v}"))));
    }
    if accept_keys {
        ssh.push_str(" -o StrictHostKeyChecking=accept-new");
    }
    format!("GIT_TERMINAL_PROMPT=0 GIT_SSH_COMMAND={} ", quote(&ssh))
}

/// Prints `M` (no directory), `N` (not a directory), `E` (a directory without `.git`), or
/// `L commit`, `B branch` and (with `update`) `R remote-commit`.
fn inspect_script(w: &Wanted) -> String {
    let mut s = format!(
        r#"p={p}
if [ ! -e "$p" ]; then echo M; exit 0; fi
[ -d "$p" ] || {{ echo N; exit 0; }}
[ -e "$p/.git" ] || {{ echo E; exit 0; }}
l=$({GIT} -C "$p" rev-parse HEAD 2>/dev/null) || l=
b=$({GIT} -C "$p" rev-parse --abbrev-ref HEAD 2>/dev/null) || b=
printf 'L %s\nB %s\n' "$l" "$b"
"#,
        p = quote(&w.path)
    );
    if w.update {
        s.push_str(&format!(
            "r=$({env}git ls-remote {repo} {r}) || exit 1\nprintf 'R %s\\n' \"${{r%%[[:space:]]*}}\"\n",
            env = w.env,
            repo = quote(&w.repo),
            r = quote(&format!("refs/heads/{}", w.branch)),
        ));
    }
    s
}

fn parse_inspect(out: &str) -> Result<Checkout, TaskError> {
    let first = out.lines().next().unwrap_or_default().trim_end();
    match first {
        "M" | "E" => return Ok(Checkout::Absent),
        "N" => return Ok(Checkout::NotADirectory),
        _ => {}
    }
    let field = |tag: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(tag))
            .map(|v| v.trim().to_string())
    };
    let (Some(local), Some(branch)) = (field("L "), field("B ")) else {
        return Err(TaskError::new(format!(
            "unexpected reply when inspecting the checkout: {first:?}"
        )));
    };
    let remote = field("R ").or_else(|| out.lines().any(|l| l == "R").then(String::new));
    Ok(Checkout::Present {
        local,
        branch,
        remote,
    })
}

/// What changed in an existing checkout: `version` (the remote moved, or no commit),
/// `branch`.
fn checkout_changes(w: &Wanted, found: &Checkout) -> Result<Vec<String>, TaskError> {
    let Checkout::Present {
        local,
        branch,
        remote,
    } = found
    else {
        return Ok(vec![]);
    };
    let mut changes = vec![];
    if let Some(remote) = remote {
        if remote.is_empty() {
            return Err(TaskError::new(format!(
                "branch {} was not found in {}",
                w.branch, w.repo
            )));
        }
        if remote != local {
            changes.push("version".to_string());
        }
    } else if local.is_empty() {
        changes.push("version".to_string());
    }
    if *branch != w.branch {
        changes.push("branch".to_string());
    }
    Ok(changes)
}

/// Clones into `path` (made if missing), then sets the attributes over the tree.
fn clone_script(w: &Wanted) -> String {
    format!(
        "{prelude}mkdir -p -- \"$p\"\n{env}{GIT} clone --quiet --branch {b} -- {repo} \"$p\"\n{attrs}",
        prelude = common::path_prelude(&w.path),
        env = w.env,
        b = quote(&w.branch),
        repo = quote(&w.repo),
        attrs = common::attr_commands(&w.attrs, None, true),
    )
}

/// Fetches, switches to the branch and fast-forwards it (never a merge commit: a checkout
/// that diverged fails), then sets the attributes that differ (all of them after an update).
fn update_script(w: &Wanted, changes: &[String]) -> String {
    let mut s = common::path_prelude(&w.path);
    let moves = changes.iter().any(|c| c == "version" || c == "branch");
    if moves {
        s.push_str(&format!(
            "{env}{GIT} -C \"$p\" fetch --quiet origin\n\
             {GIT} -C \"$p\" checkout --quiet {b}\n\
             {GIT} -C \"$p\" merge --quiet --ff-only {ob}\n",
            env = w.env,
            b = quote(&w.branch),
            ob = quote(&format!("origin/{}", w.branch)),
        ));
    }
    // Files the update wrote have git's modes: set every attribute again.
    let which = (!moves).then_some(changes);
    s.push_str(&common::attr_commands(&w.attrs, which, true));
    s
}

impl GitTask {
    fn wanted(&self, ctx: &TaskCtx<'_>) -> Result<Wanted, TaskError> {
        let repo = common::render(ctx, "repo", &self.repo)?;
        if repo.is_empty() || repo.starts_with('-') || repo.contains(['\0', '\n', '\r']) {
            return Err(TaskError::new(format!(
                "repo {repo:?} is not a repository address"
            )));
        }
        let branch = match &self.branch {
            Some(b) => common::render_name(ctx, "branch", b)?,
            None => "main".to_string(),
        };
        let mut options = BTreeMap::new();
        for (k, v) in self.ssh_options.iter().flatten() {
            let v = common::render(ctx, "ssh_options", v)?;
            common::check_path("ssh_options", &v)?;
            options.insert(k.clone(), v);
        }
        Ok(Wanted {
            path: common::render_path(ctx, "path", &self.path)?,
            update: common::flag(ctx, "update", self.update.as_ref(), true)?,
            env: git_env(
                &options,
                common::flag(ctx, "accept_keys", self.accept_keys.as_ref(), true)?,
            ),
            attrs: common::render_attrs(ctx, self.attributes.as_ref())?,
            repo,
            branch,
        })
    }
}

impl TaskModule for GitTask {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let w = self.wanted(ctx)?;
        let found = parse_inspect(
            &super::query(ctx, "inspecting the checkout", &inspect_script(&w)).await?,
        )?;
        match found {
            Checkout::NotADirectory => {
                return Err(TaskError::new(format!(
                    "{} exists and is not a directory",
                    w.path
                )))
            }
            Checkout::Absent => {
                return Ok(Plan::Converge {
                    created: true,
                    changes: vec![],
                    script: clone_script(&w),
                })
            }
            Checkout::Present { .. } => {}
        }
        let mut changes = checkout_changes(&w, &found)?;
        if w.attrs != FileAttrs::default() {
            let out = super::query(
                ctx,
                "inspecting the checkout",
                &common::inspect_path(&w.path, Some(&w.attrs)),
            )
            .await?;
            let state = common::parse_path_state(&out)?;
            if matches!(
                state,
                PathState::Present {
                    kind: Kind::Directory,
                    ..
                }
            ) {
                changes.extend(common::attr_changes(&state, &w.attrs));
            }
        }
        if changes.is_empty() {
            return Ok(Plan::Unchanged);
        }
        Ok(Plan::Converge {
            created: false,
            script: update_script(&w, &changes),
            changes,
        })
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<super::Applied, TaskError> {
        common::apply_plan(ctx, "git", plan).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(update: bool) -> Wanted {
        Wanted {
            repo: "git@example.org:a/b.git".into(),
            path: "/srv/app".into(),
            branch: "release".into(),
            update,
            env: git_env(&BTreeMap::from([("Port".into(), "2222".into())]), true),
            attrs: FileAttrs {
                owner: Some("app".into()),
                group: None,
                mode: None,
            },
        }
    }

    #[test]
    fn scripts_quote_every_value() {
        let w = wanted(true);
        assert_eq!(
            w.env,
            "GIT_TERMINAL_PROMPT=0 GIT_SSH_COMMAND='ssh -o Port=2222 -o StrictHostKeyChecking=accept-new' "
        );
        let s = inspect_script(&w);
        assert!(
            s.contains("git ls-remote git@example.org:a/b.git refs/heads/release) || exit 1"),
            "{s}"
        );
        assert!(!inspect_script(&wanted(false)).contains("ls-remote"));
        let c = clone_script(&w);
        assert!(
            c.contains("clone --quiet --branch release -- git@example.org:a/b.git \"$p\"\n"),
            "{c}"
        );
        assert!(c.ends_with("chown -R app -- \"$p\"\n"), "{c}");
        let u = update_script(&w, &["version".into()]);
        assert!(
            u.contains("merge --quiet --ff-only origin/release\n"),
            "{u}"
        );
        assert!(u.ends_with("chown -R app -- \"$p\"\n"), "{u}");
        assert_eq!(
            update_script(&w, &["owner".into()]),
            "set -e\np=/srv/app\nchown -R app -- \"$p\"\n"
        );
    }

    #[test]
    fn parses_and_decides() {
        assert_eq!(parse_inspect("M\n").unwrap(), Checkout::Absent);
        assert_eq!(parse_inspect("E\n").unwrap(), Checkout::Absent);
        assert_eq!(parse_inspect("N\n").unwrap(), Checkout::NotADirectory);
        assert!(parse_inspect("garbage\n").is_err());
        let w = wanted(true);
        let same = parse_inspect("L abc\nB release\nR abc\n").unwrap();
        assert!(checkout_changes(&w, &same).unwrap().is_empty());
        let moved = parse_inspect("L abc\nB main\nR def\n").unwrap();
        assert_eq!(checkout_changes(&w, &moved).unwrap(), ["version", "branch"]);
        let gone = parse_inspect("L abc\nB release\nR \n").unwrap();
        assert!(checkout_changes(&w, &gone)
            .unwrap_err()
            .message
            .contains("branch release was not found"));
        let no_update = parse_inspect("L abc\nB release\n").unwrap();
        assert!(checkout_changes(&wanted(false), &no_update)
            .unwrap()
            .is_empty());
    }
}
