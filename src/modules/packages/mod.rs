//! Jet's package modules: `!apt`, `!dnf`, `!yum`, `!zypper`, `!pacman`, `!homebrew`. They share
//! one task struct ([`PackageTask`], Jet's fields: `package`, `version`, `update`, `remove`)
//! and one plan: query the target read-only for whether (and which version of) the package is
//! installed, and whether an upgrade is available when `update: true`; then `Plan::Unchanged`
//! or `Plan::Converge` with the one command that installs, changes the version, upgrades or
//! removes it. Each package manager is a [`Manager`] in its own file: its query script, how
//! its output is read, and its commands, every value quoted with `scripts::quote`.
//!
//! Package names and versions are checked twice: at load when written literally (located
//! diagnostics), and after rendering: a value starting with `-` or holding anything but
//! letters, digits and `._+:@/~` is refused, so it can never become an option or a second word.

pub mod apt;
pub mod homebrew;
pub mod pacman;
pub mod yum_dnf;
pub mod zypper;

use serde::Deserialize;

use super::registry::{common_fields, FieldProblem, ModuleFields};
use super::{apply_script, query, Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::field_path::{push_optional, FieldStep, TemplatedField};
use crate::task_logic::{PostLogic, PreLogic};

/// The fields of every package module (Jet's `AptTask`, `YumDnfTask`, … are all this shape).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageTask {
    pub name: Option<String>,
    /// The package (`nginx`; pacman also takes `repo/name`, homebrew `tap/name`).
    pub package: String,
    /// The wanted version: installed if missing, changed to if another is installed.
    pub version: Option<String>,
    /// `true`: upgrade the package when a newer version is available.
    pub update: Option<Flag>,
    /// `true`: remove the package.
    pub remove: Option<Flag>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

/// A boolean written as one (`update: true`) or as text that may be a template, as Jet
/// allows (`update: "{{upgrade_all}}"`); the text must render to `true` or `false`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn text(flag: Option<&Flag>) -> Option<&String> {
        match flag {
            Some(Flag::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The value when it is known at load (a boolean, or literal text).
    fn literal(flag: Option<&Flag>) -> Option<Result<bool, String>> {
        match flag {
            None => Some(Ok(false)),
            Some(Flag::Bool(b)) => Some(Ok(*b)),
            Some(Flag::Text(t)) if t.contains("{{") => None,
            Some(Flag::Text(t)) => Some(parse_bool(t)),
        }
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (true or false)")),
    }
}

common_fields!(PackageTask);

/// Why a package name or version cannot be used, if it cannot.
pub fn invalid_word(what: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        return Some(format!("the {what} is empty"));
    }
    if value.starts_with('-') {
        return Some(format!(
            "the {what} {value:?} starts with `-`: it would be read as an option"
        ));
    }
    let bad = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._+:@/~-".contains(*c)));
    bad.map(|c| {
        format!(
            "the {what} {value:?} holds {c:?}: only letters, digits and `._+:@/~-` are allowed \
             (no spaces, quotes or shell characters)"
        )
    })
}

impl ModuleFields for PackageTask {
    fn summary(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {v}", self.package),
            None => self.package.clone(),
        }
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        out.push((vec![FieldStep::Key("package")], &self.package));
        push_optional(out, &[], &[("version", &self.version)]);
        for (key, flag) in [("update", &self.update), ("remove", &self.remove)] {
            if let Some(text) = Flag::text(flag.as_ref()) {
                out.push((vec![FieldStep::Key(key)], text));
            }
        }
    }

    /// Literal names and versions must be usable words; literal flags booleans; `update` and
    /// `remove` (or `version` and `remove`, `version` and `update`) not asked for together.
    fn check_fields(&self, _written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        use FieldStep::Key as K;
        let mut problems = vec![];
        let word_help =
            "write one package name (e.g. package: nginx) and put the version in `version:`";
        for (key, value) in [
            ("package", Some(&self.package)),
            ("version", self.version.as_ref()),
        ] {
            let Some(value) = value.filter(|v| !v.contains("{{")) else {
                continue;
            };
            if let Some(message) = invalid_word(key, value) {
                problems.push(FieldProblem {
                    code: "invalid-playbook",
                    field: vec![K(key)],
                    message,
                    help: word_help.into(),
                });
            }
        }
        let mut known = |key: &'static str, flag: Option<&Flag>| match Flag::literal(flag) {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => {
                problems.push(FieldProblem {
                    code: "invalid-playbook",
                    field: vec![K(key)],
                    message: format!("{key}: {e}"),
                    help: format!("write {key}: true or {key}: false"),
                });
                None
            }
            None => None,
        };
        let update = known("update", self.update.as_ref());
        let remove = known("remove", self.remove.as_ref());
        if let Err(message) = conflicts(
            update == Some(true),
            remove == Some(true),
            self.version.is_some(),
        ) {
            problems.push(FieldProblem {
                code: "invalid-playbook",
                field: vec![K(if remove == Some(true) { "remove" } else { "update" })],
                message,
                help: "ask for one thing per task: install (optionally a `version`), `update: true`, or `remove: true`".into(),
            });
        }
        problems
    }
}

/// Refuses the combinations that ask for two different things (Jet silently picks one).
fn conflicts(update: bool, remove: bool, version: bool) -> Result<(), String> {
    if remove && update {
        return Err("`remove: true` and `update: true` contradict each other".into());
    }
    if remove && version {
        return Err(
            "`remove: true` with a `version`: remove removes whatever version is installed".into(),
        );
    }
    if update && version {
        return Err("`update: true` with a `version`: update means the newest version, `version` a fixed one".into());
    }
    Ok(())
}

/// What the query found on the target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// The installed version, if the package is installed.
    pub installed: Option<Installed>,
    /// A newer version is available (only asked when `update: true`).
    pub upgradable: bool,
}

/// An installed version, with the spellings a `version:` may use for it (`1.2`, `1.2-3`,
/// `1:1.2-3` for rpm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub version: String,
    pub spellings: Vec<String>,
}

impl Installed {
    pub fn exact(version: &str) -> Installed {
        Installed {
            version: version.to_string(),
            spellings: vec![version.to_string()],
        }
    }

    pub fn matches(&self, wanted: &str) -> bool {
        self.version == wanted || self.spellings.iter().any(|s| s == wanted)
    }
}

/// One package manager: its read-only query and the commands that change the host. `pkg`
/// and `version` are validated words (see [`invalid_word`]); every method quotes them.
pub trait Manager: Sync {
    /// A script that prints what [`Manager::parse`] reads, exits 0 whether or not the package
    /// is installed, and changes nothing (`update`: also find out whether an upgrade exists).
    fn query(&self, pkg: &str, version: Option<&str>, update: bool) -> String;
    /// Reads the query's output.
    fn parse(&self, pkg: &str, version: Option<&str>, out: &str) -> Result<State, String>;
    /// Installs the package (the given version, if any).
    fn install(&self, pkg: &str, version: Option<&str>) -> String;
    /// Changes the installed version to `version` (up or down).
    fn set_version(&self, pkg: &str, version: &str) -> String {
        self.install(pkg, Some(version))
    }
    /// Upgrades the package to the newest available version.
    fn upgrade(&self, pkg: &str) -> String;
    fn remove(&self, pkg: &str) -> String;
    /// Whether `installed` satisfies `version:` (homebrew: a `version` names a formula, so any).
    fn version_matches(&self, installed: &Installed, version: &str) -> bool {
        installed.matches(version)
    }
}

/// The manager of a package module's tag.
pub fn manager(tag: &str) -> &'static dyn Manager {
    match tag {
        "apt" => &apt::Apt,
        "dnf" | "yum" => &yum_dnf::YumDnf,
        "zypper" => &zypper::Zypper,
        "pacman" => &pacman::Pacman,
        "homebrew" => &homebrew::Homebrew,
        other => unreachable!("{other} is not a package module"),
    }
}

/// The rendered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub package: String,
    pub version: Option<String>,
    pub update: bool,
    pub remove: bool,
}

/// What to do given the request and the query's findings: `None` when nothing changes, else
/// `(created, changes, command)`.
pub fn decide(
    m: &dyn Manager,
    req: &Request,
    state: &State,
) -> Option<(bool, &'static str, String)> {
    let pkg = req.package.as_str();
    match &state.installed {
        None if req.remove => None,
        None => Some((true, "installed", m.install(pkg, req.version.as_deref()))),
        Some(_) if req.remove => Some((false, "removed", m.remove(pkg))),
        Some(_) if req.update && state.upgradable => Some((false, "version", m.upgrade(pkg))),
        Some(installed) => match &req.version {
            Some(v) if !m.version_matches(installed, v) => {
                Some((false, "version", m.set_version(pkg, v)))
            }
            _ => None,
        },
    }
}

/// A package task with its manager, as the runner drives it.
pub struct Package<'a> {
    pub task: &'a PackageTask,
    pub tag: &'static str,
}

impl Package<'_> {
    fn render(&self, ctx: &TaskCtx<'_>) -> Result<Request, TaskError> {
        let t = self.task;
        let text = |key: &str, value: &str| {
            ctx.engine
                .render(value, ctx.vars)
                .map(|v| v.trim().to_string())
                .map_err(|e| TaskError::new(format!("cannot render {key}: {e}")))
        };
        let word = |key: &str, value: &str| {
            let v = text(key, value)?;
            match invalid_word(key, &v) {
                Some(problem) => Err(TaskError::new(problem)),
                None => Ok(v),
            }
        };
        let flag = |key: &str, flag: Option<&Flag>| match flag {
            None => Ok(false),
            Some(Flag::Bool(b)) => Ok(*b),
            Some(Flag::Text(t)) => {
                parse_bool(&text(key, t)?).map_err(|e| TaskError::new(format!("{key}: {e}")))
            }
        };
        let req = Request {
            package: word("package", &t.package)?,
            version: t
                .version
                .as_deref()
                .map(|v| word("version", v))
                .transpose()?,
            update: flag("update", t.update.as_ref())?,
            remove: flag("remove", t.remove.as_ref())?,
        };
        conflicts(req.update, req.remove, req.version.is_some()).map_err(TaskError::new)?;
        Ok(req)
    }
}

impl TaskModule for Package<'_> {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let req = self.render(ctx)?;
        let m = manager(self.tag);
        let version = req.version.as_deref();
        let script = m.query(&req.package, version, req.update);
        let what = format!("querying {} for {}", self.tag, req.package);
        let out = query(ctx, &what, &script).await?;
        let state = m
            .parse(&req.package, version, &out)
            .map_err(|e| TaskError {
                cmd: Some(script.clone()),
                ..TaskError::new(format!("cannot read what {} reports: {e}", self.tag))
            })?;
        Ok(match decide(m, &req, &state) {
            None => Plan::Unchanged,
            Some((created, change, script)) => Plan::Converge {
                created,
                changes: vec![change.to_string()],
                script,
            },
        })
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<Applied, TaskError> {
        match plan {
            Plan::Converge {
                created, script, ..
            } => {
                let mut applied = apply_script(ctx, self.tag, &script, created).await?;
                applied.cmd = Some(script);
                Ok(applied)
            }
            _ => Ok(Applied {
                status: Some(crate::output::Status::Matched),
                ..Applied::default()
            }),
        }
    }
}

/// Fails the query script with rc 127 and a clear message when `tool` is not installed.
pub fn require(tool: &str) -> String {
    format!(
        "command -v {tool} >/dev/null 2>&1 || {{ echo '{tool} not found on this host' >&2; exit 127; }}\n"
    )
}

/// The lines after a `marker` line the query printed (and before the next marker).
pub fn section<'a>(out: &'a str, marker: &str) -> Option<Vec<&'a str>> {
    let mut lines = out.lines();
    lines.find(|l| l.trim() == marker)?;
    Some(lines.take_while(|l| !l.starts_with("--- ")).collect())
}

/// The rpm query the rpm-based managers share: prints `installed VERSION RELEASE EPOCH`
/// for each installed instance, nothing when the package is not installed.
pub fn rpm_query(pkg: &str) -> String {
    format!(
        "{req}echo '--- installed'\nLC_ALL=C rpm -q --qf 'installed %{{VERSION}} %{{RELEASE}} %{{EPOCH}}\\n' {pkg} | grep '^installed ' || true\n",
        req = require("rpm"),
        pkg = crate::connection::scripts::quote(pkg)
    )
}

/// Reads [`rpm_query`]'s section: the first installed instance, spelled `VERSION`,
/// `VERSION-RELEASE` and `EPOCH:VERSION-RELEASE`.
pub fn parse_rpm(out: &str) -> Result<Option<Installed>, String> {
    let lines = section(out, "--- installed").ok_or("no `--- installed` section")?;
    let Some(line) = lines.iter().find(|l| l.starts_with("installed ")) else {
        return Ok(None);
    };
    let parts: Vec<&str> = line.split_whitespace().collect();
    let [_, version, release, epoch] = parts[..] else {
        return Err(format!("unexpected rpm line {line:?}"));
    };
    let full = format!("{version}-{release}");
    let mut spellings = vec![version.to_string(), full.clone()];
    if epoch != "(none)" {
        spellings.push(format!("{epoch}:{full}"));
    }
    Ok(Some(Installed {
        version: full,
        spellings,
    }))
}
