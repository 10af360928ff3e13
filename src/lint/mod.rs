//! `jetlike lint`: every check that needs no connection and no secret value, plus a report of
//! where secrets flow (which template gets which ENV_ variable, written where, with what mode),
//! hard-coded secret detection and shell hygiene warnings.
//!
//! Loading is lenient (see [`crate::playbook::load_playbooks_lenient`]): a play, task or
//! handler that does not parse is reported and the rest is still checked, and every file is
//! scanned for secrets as raw text whether it parses or not.

pub mod annotations;
mod envfile;
mod render;
pub mod rules;
pub mod sarif;
pub mod scan;
mod secrets;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;
use serde_json::Value;

use crate::env_name::ENV_PREFIX;
use crate::error::{Diagnostic, Location};
use crate::inventory::Inventory;
use crate::playbook::{
    field_as_template, field_path_string, FieldStep, LoadedPlay, LoadedTask, Mode, Task, Vars,
};
use crate::source::{Resolved, SourceKind};
use crate::template::{Dialect, Engine, Reference};

pub use crate::credentials::ALLOW_COMMENT;
pub use render::render_human;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier, for CI annotations and allowlists.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    pub line: usize,
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A templated destination as rendered with the variables of the hosts it is written on.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedDest {
    pub path: String,
    /// Only when the path differs between hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateFlow {
    pub task: String,
    pub src: String,
    /// As written in the playbook.
    pub dest: String,
    /// `dest` rendered, when it is templated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolved_dest: Vec<ResolvedDest>,
    pub env: Vec<String>,
    pub vars: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Octal, as written or defaulted ("0600 (default for secret-bearing templates)").
    pub mode: String,
    /// The template file could not be found, read or parsed: `env` and `vars` are unknown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_loaded: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlayFlow {
    pub play: String,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    pub templates: Vec<TemplateFlow>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub flows: Vec<PlayFlow>,
}

impl Report {
    fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        message: String,
        at: Option<Location>,
        hint: Option<String>,
    ) {
        let (file, line, column) = match at {
            Some(l) => (Some(l.file), l.line, l.column),
            None => (None, 0, 0),
        };
        // Messages quote user text (task names default to their command): whatever in them
        // looks like a secret is cut to its prefix.
        self.findings.push(Finding {
            severity,
            code,
            message: crate::credentials::redact(&message).into_owned(),
            file,
            line,
            column,
            hint: hint.map(|h| crate::credentials::redact(&h).into_owned()),
        });
    }
    fn error(&mut self, code: &'static str, message: String, at: Location, hint: String) {
        self.push(Severity::Error, code, message, Some(at), Some(hint));
    }
    fn warn(&mut self, code: &'static str, message: String, at: Location, hint: String) {
        self.push(Severity::Warning, code, message, Some(at), Some(hint));
    }
    fn push_diagnostic(&mut self, code: &'static str, d: Diagnostic, default_hint: &str) {
        let msg = match &d.context {
            Some(c) => format!("{} [{c}]", d.message),
            None => d.message,
        };
        let hint = d.help.unwrap_or_else(|| default_hint.to_string());
        self.push(Severity::Error, code, msg, d.location, Some(hint));
    }
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }
}

/// What to lint and with what context.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub playbooks: Vec<PathBuf>,
    /// Enables group, host and inventory-variable checks; without it, variables are checked
    /// as `jetlike local` sees them (one host, `localhost`, no inventory variables).
    pub inventory: Option<PathBuf>,
    /// `--extra-vars` layers: (origin, variables), lowest precedence first.
    pub extra_vars: Vec<(String, Vars)>,
    /// The env file a secret injector reads (`op run --env-file FILE`): its names, never its
    /// values, are compared with the `ENV_` variables templates use.
    pub env_file: Option<PathBuf>,
    pub limit_hosts: Vec<String>,
    pub limit_groups: Vec<String>,
}

/// Directories anyone can enter (and often list).
const WORLD_READABLE_DIRS: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
    "/srv/www/",
    "/var/www/",
    "/usr/share/nginx/html/",
];

const HINT_SECRET: &str = "move the value to the environment and use it from a template as ENV_NAME; or add `# jetlike:allow-secret` to the line if it is not a secret";
const HINT_ENTROPY: &str =
    "if it is a secret, move it to the environment; otherwise add `# jetlike:allow-secret`";

pub use secrets::blast_radius;

/// Secret-looking literals in a text file. Never reports the value: at most a short prefix.
pub fn scan_text(path: &Path, text: &str, report: &mut Report) {
    for (i, line) in text.lines().enumerate() {
        for h in crate::credentials::scan_line(line) {
            let shown = match &h.prefix {
                Some(p) => format!("starts with {p:?}…"),
                None => "value not shown".to_string(),
            };
            let column = line[..h.start].chars().count() + 1;
            let at = Location::new(path, i + 1, column);
            if h.code == "high-entropy-string" {
                report.warn(
                    h.code,
                    format!("{} ({shown})", h.kind),
                    at,
                    HINT_ENTROPY.into(),
                );
            } else {
                report.error(
                    h.code,
                    format!("{} found ({shown})", h.kind),
                    at,
                    HINT_SECRET.into(),
                );
            }
        }
    }
}

/// Files larger than this are not scanned (they are not hand-written configuration).
const SCAN_LIMIT: u64 = 4 << 20;

fn scan_file(path: &Path, report: &mut Report, seen: &mut BTreeSet<PathBuf>) {
    if !seen.insert(path.to_path_buf()) {
        return;
    }
    // Files that are not regular, or too large, are not scanned (the loaders report those
    // that the project uses).
    if let Ok(bytes) = crate::input_file::read_bytes_limited(path, SCAN_LIMIT) {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            scan_text(path, text, report);
        }
    }
}

/// Every file under `dir` (a role: tasks, handlers, defaults, vars, templates, files...).
fn scan_tree(dir: &Path, report: &mut Report, seen: &mut BTreeSet<PathBuf>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if depth < 8 {
                scan_tree(&p, report, seen, depth + 1);
            }
        } else {
            scan_file(&p, report, seen);
        }
    }
}

fn mode_text(mode: Option<&Mode>, secret: bool) -> (String, Option<u32>) {
    match mode.map(|m| m.bits()) {
        Some(Ok(b)) => (format!("{b:04o}"), Some(b)),
        Some(Err(_)) => ("invalid".into(), None),
        None if secret => (
            "0600 (default for secret-bearing templates)".into(),
            Some(0o600),
        ),
        None => ("default (0644 less umask for new files)".into(), None),
    }
}

/// Hosts whose variables are identical are checked once.
struct HostClass {
    hosts: Vec<String>,
    vars: Vars,
    /// False for the stand-in used when a play targets no host: its files are still checked,
    /// but which variables exist is unknown.
    check_vars: bool,
}

struct TemplateInfo {
    text: String,
    dialect: Dialect,
    refs: Vec<Reference>,
}

/// A file a template task fills with secrets.
struct SecretDest {
    /// The template task that writes it (one task may have several spellings of the path).
    id: usize,
    path: String,
    env: Vec<String>,
    play: String,
}

/// A shell task and its command, as written and as rendered for each host class.
struct ShellUse<'p> {
    task: &'p LoadedTask,
    cmds: Vec<String>,
}

#[derive(Default)]
struct Audience {
    plays: BTreeSet<usize>,
    groups: BTreeSet<String>,
    first_play: String,
}

#[derive(Default)]
struct Undefined {
    missing: BTreeSet<String>,
    targeted: BTreeSet<String>,
}

struct Linter<'p> {
    engine: Engine,
    report: Report,
    scanned: BTreeSet<PathBuf>,
    templates: HashMap<PathBuf, Option<Rc<TemplateInfo>>>,
    field_refs: HashMap<String, Option<Rc<Vec<Reference>>>>,
    renders: HashMap<(String, String), Result<String, String>>,
    resolved: HashMap<(SourceKind, PathBuf, Option<PathBuf>, String), Resolved>,
    extra: Vars,
    /// Undefined-variable checks run only when every variable source loaded.
    check_vars: bool,
    has_inventory: bool,
    saved: Rc<BTreeSet<String>>,
    /// (file, line, column, variable, what) → hosts lacking it.
    undefined: BTreeMap<(PathBuf, usize, usize, String, String), Undefined>,
    secret_dests: Vec<SecretDest>,
    shells: Vec<ShellUse<'p>>,
    audiences: BTreeMap<String, Audience>,
    /// ENV_ names used by template files, with where (first use in each file).
    env_uses: BTreeMap<String, Vec<Location>>,
}

/// Lints playbooks (and the inventory if given). Load errors become findings, not failures.
pub fn lint(opts: &Options) -> Report {
    let mut report = Report::default();
    let mut scanned = BTreeSet::new();
    for p in &opts.playbooks {
        scan_file(p, &mut report, &mut scanned);
    }
    let inventory_hint = "fix this inventory file: groups/NAME holds `hosts: [...]` and `subgroups: [...]`; group_vars/ and host_vars/ files hold a mapping of variables";
    let mut inventory_ok = true;
    let inv = match opts.inventory.as_deref().map(Inventory::load_lenient) {
        None => None,
        Some(Ok((inv, errors))) => {
            inventory_ok = errors.is_empty();
            for d in errors {
                report.push_diagnostic("invalid-inventory", d, inventory_hint);
            }
            Some(inv)
        }
        Some(Err(e)) => {
            inventory_ok = false;
            if let crate::error::Error::Invalid(ds) = e {
                for d in ds {
                    report.push_diagnostic("invalid-inventory", d, inventory_hint);
                }
            }
            None
        }
    };
    if let Some(dir) = &opts.inventory {
        for sub in ["group_vars", "host_vars"] {
            scan_tree(&dir.join(sub), &mut report, &mut scanned, 0);
        }
    }
    let (plays, load) = crate::playbook::load_playbooks_lenient(&opts.playbooks);
    // Only a playbook that loaded whole tells which variables are unused.
    let loaded_whole = load.incomplete.is_empty()
        && !load
            .problems
            .iter()
            .any(|(code, _)| matches!(*code, "invalid-playbook" | "missing-file" | "missing-role"));
    for (code, d) in load.problems {
        report.push_diagnostic(code, d, "fix the playbook (see the formats in README.md)");
    }
    for f in &load.named_files {
        scan_file(f, &mut report, &mut scanned);
    }
    for d in &load.role_dirs {
        scan_tree(d, &mut report, &mut scanned, 0);
    }
    let engine = Engine::new();
    let mut violations = crate::policy::check(&engine, &plays, &opts.extra_vars, true);
    if let Some(inv) = &inv {
        violations.extend(crate::policy::check_inventory(&engine, inv));
    }
    for d in violations {
        if d.message.starts_with("invalid template syntax") || d.message.starts_with("unknown ") {
            report.push_diagnostic("template-syntax", d, "fix the {{ }} expression");
        } else if d.message.contains("are reserved for environment values") {
            report.push_diagnostic("env-reserved-name", d, "rename the variable");
        } else {
            report.push_diagnostic(
                "env-outside-template",
                d,
                "ENV_ variables may be used only inside template files",
            );
        }
    }
    secrets::check(&engine, &plays, &mut report);
    let mut extra = Vars::new();
    for (_, v) in &opts.extra_vars {
        crate::playbook::merge(&mut extra, v);
    }
    let selected = inv.as_ref().map(|i| check_limits(i, opts, &mut report));
    let saved = plays
        .iter()
        .flat_map(|p| p.tasks.iter().chain(p.handlers.iter()))
        .filter_map(|t| match &t.task {
            Task::Shell(s) => s.save.clone(),
            _ => None,
        })
        .collect::<BTreeSet<String>>();
    let mut l = Linter {
        engine: Engine::new(),
        report,
        scanned,
        templates: HashMap::new(),
        field_refs: HashMap::new(),
        renders: HashMap::new(),
        resolved: HashMap::new(),
        extra,
        check_vars: inventory_ok,
        has_inventory: inv.is_some(),
        saved: Rc::new(saved),
        undefined: BTreeMap::new(),
        secret_dests: vec![],
        shells: vec![],
        audiences: BTreeMap::new(),
        env_uses: BTreeMap::new(),
    };
    for (pi, play) in plays.iter().enumerate() {
        let incomplete = load
            .incomplete
            .contains(&(play.source.path.clone(), play.index));
        l.lint_play(pi, play, inv.as_ref(), selected.as_ref(), incomplete);
    }
    l.finish_undefined();
    l.reads_secret_files();
    if let Some(f) = &opts.env_file {
        envfile::check(f, &l.env_uses, loaded_whole, &mut l.report);
    }
    let mut report = l.report;
    report.findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.code, &a.message)
            .cmp(&(&b.file, b.line, b.column, b.code, &b.message))
    });
    report.findings.dedup_by(|a, b| {
        (&a.file, a.line, a.column, a.code, &a.message)
            == (&b.file, b.line, b.column, b.code, &b.message)
    });
    report
}

/// `--limit-hosts` / `--limit-groups` names the inventory does not define are findings; the
/// hosts they select.
fn check_limits(inv: &Inventory, opts: &Options, report: &mut Report) -> BTreeSet<String> {
    let all = inv.all_hosts();
    let list = |names: Vec<String>| {
        let n = names.len();
        let mut s = names.into_iter().take(20).collect::<Vec<_>>().join(", ");
        if n > 20 {
            s.push_str(&format!(", … ({n} in all)"));
        }
        s
    };
    for h in &opts.limit_hosts {
        if !all.contains(h) {
            report.push(
                Severity::Error,
                "unknown-host",
                format!("--limit-hosts names {h:?}, which the inventory does not define"),
                None,
                Some(format!(
                    "known hosts: {}",
                    list(all.iter().cloned().collect())
                )),
            );
        }
    }
    for g in &opts.limit_groups {
        if !inv.has_group(g) {
            report.push(
                Severity::Error,
                "unknown-group",
                format!("--limit-groups names {g:?}, which the inventory does not define"),
                None,
                Some(format!(
                    "known groups: {}",
                    list(inv.groups.keys().cloned().collect())
                )),
            );
        }
    }
    let mut hosts = all;
    if !opts.limit_hosts.is_empty() {
        hosts.retain(|h| opts.limit_hosts.contains(h));
    }
    if !opts.limit_groups.is_empty() {
        let allowed: BTreeSet<String> = opts
            .limit_groups
            .iter()
            .flat_map(|g| inv.hosts_of(g))
            .collect();
        hosts.retain(|h| allowed.contains(h));
    }
    hosts
}

fn task_what(field: &[FieldStep], task: &LoadedTask) -> String {
    format!(
        "{} of task {:?}",
        field_path_string(field),
        task.task.display_name()
    )
}

impl<'p> Linter<'p> {
    fn template_info(&mut self, path: &Path, task: &LoadedTask) -> Option<Rc<TemplateInfo>> {
        if let Some(t) = self.templates.get(path) {
            return t.clone();
        }
        scan_file(path, &mut self.report, &mut self.scanned);
        let info = match crate::input_file::read_text(path) {
            Err(e) => {
                self.report.error(
                    "missing-template",
                    format!("cannot read template: {e}"),
                    task.field_location(&[FieldStep::Key("src")], None),
                    e.help(),
                );
                None
            }
            Ok(text) => {
                let dialect = Dialect::of_path(&path.to_string_lossy());
                match self.engine.references(dialect, &text) {
                    Ok(mut refs) => {
                        // `{{secret "p" "k"}}` calls are secrets named ENV_secret:p:k.
                        let (calls, _) = crate::secret_source::template_calls(dialect, &text);
                        refs.extend(calls.into_iter().map(|c| Reference {
                            name: c.name,
                            line: c.line,
                            column: c.column,
                            top_level: false,
                        }));
                        let mut first: BTreeMap<&str, Location> = BTreeMap::new();
                        for r in refs.iter().filter(|r| r.name.starts_with(ENV_PREFIX)) {
                            first
                                .entry(&r.name)
                                .or_insert_with(|| Location::new(path, r.line, r.column));
                        }
                        for (name, at) in first {
                            self.env_uses.entry(name.to_string()).or_default().push(at);
                        }
                        for (what, line, column) in self.engine.includes(dialect, &text) {
                            self.report.error(
                                "template-include",
                                format!(
                                    "this template uses {what}: includes, extends, imports and partials are not supported (template of task {:?})",
                                    task.task.display_name()
                                ),
                                Location::new(path, line, column),
                                "inline the other file's content into this template (each template is checked and rendered on its own, with only the ENV_ variables it names)".into(),
                            );
                        }
                        for u in self.engine.unknown_names(dialect, &text) {
                            self.report.error(
                                "template-syntax",
                                format!(
                                    "this template calls an {u} (template of task {:?})",
                                    task.task.display_name()
                                ),
                                Location::new(path, u.line, u.column),
                                crate::template::UNKNOWN_NAME_HELP.into(),
                            );
                        }
                        Some(Rc::new(TemplateInfo {
                            text,
                            dialect,
                            refs,
                        }))
                    }
                    Err(e) => {
                        self.template_syntax(path, dialect, &e, task);
                        None
                    }
                }
            }
        };
        self.templates.insert(path.to_path_buf(), info.clone());
        info
    }

    /// A template file that does not parse: located in the file, from the engine's position.
    fn template_syntax(&mut self, path: &Path, dialect: Dialect, err: &str, task: &LoadedTask) {
        static POS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = POS.get_or_init(|| {
            regex::Regex::new(r"\s*\(line (\d+)(?:, column (\d+))?\)\s*$").unwrap()
        });
        let (msg, line, column) = match re.captures(err) {
            Some(c) => (
                err[..c.get(0).unwrap().start()].to_string(),
                c[1].parse().unwrap_or(1),
                c.get(2).map_or(1, |m| m.as_str().parse().unwrap_or(1)),
            ),
            None => (err.to_string(), 1, 1),
        };
        // pest lists every token it could have accepted: a dozen names that do not help.
        let msg = match msg.split_once(": expected ") {
            Some((head, alts)) if alts.matches(", ").count() > 3 => format!(
                "{head}: unexpected text or end of file here (an unclosed {{{{#block}}}}, or a stray {{{{ or }}}}?)"
            ),
            _ => msg,
        };
        let used_by = task.field_location(&[FieldStep::Key("src")], None);
        self.report.error(
            "template-syntax",
            format!(
                "cannot parse this template: {msg} (template of task {:?} at {used_by})",
                task.task.display_name()
            ),
            Location::new(path, line, column),
            match dialect {
                Dialect::Handlebars => {
                    "fix the Handlebars syntax ({{var}}, {{#if x}}...{{/if}}); files ending in .j2 are Jinja".into()
                }
                Dialect::Jinja => "fix the Jinja syntax ({{ var }}, {% if x %}...{% endif %})".into(),
            },
        );
    }

    /// Renders a templated field. Hosts often share the values a field uses, so results are
    /// kept per text and per the values of the variables its text mentions.
    fn render(&mut self, text: &str, ctx: &Value) -> Result<String, String> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let Value::Object(vars) = ctx else {
            return self.engine.render(text, ctx);
        };
        // Conservative: every variable whose name appears anywhere in the text.
        let mut key = String::new();
        for (k, v) in vars.iter().filter(|(k, _)| text.contains(k.as_str())) {
            key.push_str(k);
            key.push('\0');
            key.push_str(&v.to_string());
            key.push('\0');
        }
        let cache_key = (text.to_string(), key);
        if let Some(r) = self.renders.get(&cache_key) {
            return r.clone();
        }
        let r = match simple_render(text, vars) {
            Some(out) => Ok(out),
            None => self.engine.render(text, ctx),
        };
        self.renders.insert(cache_key, r.clone());
        r
    }

    /// [`crate::source::resolve_source`], remembered: the same source is looked up for every
    /// host.
    fn resolve(
        &mut self,
        kind: SourceKind,
        play: &LoadedPlay,
        role: Option<&crate::playbook::LoadedRole>,
        src: &str,
    ) -> Resolved {
        let key = (
            kind,
            play.dir.clone(),
            role.map(|r| r.dir.clone()),
            src.to_string(),
        );
        if let Some(r) = self.resolved.get(&key) {
            return r.clone();
        }
        let r = crate::source::resolve_source(kind, play, role, src);
        self.resolved.insert(key, r.clone());
        r
    }

    /// A copy or template source under /proc, /sys or /dev: the run refuses it.
    fn kernel_source(&mut self, t: &LoadedTask, src: &str, bad: &Path) {
        self.report.error(
            "forbidden-source",
            format!(
                "{} source {src:?} is {}, under /proc, /sys or /dev: the run refuses to read it",
                t.task.module(),
                bad.display()
            ),
            t.field_location(&[FieldStep::Key("src")], None),
            "kernel and device files (such as /proc/self/environ) can hold jetlike's own environment and secrets; copy a regular file from files/".into(),
        );
    }

    /// The references of a templated field, parsed once per distinct text.
    fn field_refs(&mut self, text: &str) -> Option<Rc<Vec<Reference>>> {
        if let Some(r) = self.field_refs.get(text) {
            return r.clone();
        }
        let refs = self
            .engine
            .references(Dialect::Handlebars, text)
            .ok()
            .map(Rc::new);
        self.field_refs.insert(text.to_string(), refs.clone());
        refs
    }

    fn host_classes(
        &self,
        play: &LoadedPlay,
        inv: Option<&Inventory>,
        selected: Option<&BTreeSet<String>>,
    ) -> (Vec<HostClass>, Option<Vec<String>>) {
        let Some(inv) = inv else {
            return (
                vec![HostClass {
                    hosts: vec!["localhost".into()],
                    vars: Vars::new(),
                    check_vars: true,
                }],
                None,
            );
        };
        let mut hosts = BTreeSet::new();
        for g in play.play.groups.iter().filter(|g| inv.has_group(g)) {
            hosts.extend(
                inv.hosts_of(g)
                    .into_iter()
                    .filter(|h| selected.is_none_or(|s| s.contains(h))),
            );
        }
        let mut classes: BTreeMap<String, HostClass> = BTreeMap::new();
        for h in &hosts {
            let vars = inv.host_variables(h);
            let key = serde_json::to_string(&vars).unwrap_or_default();
            classes
                .entry(key)
                .or_insert_with(|| HostClass {
                    hosts: vec![],
                    vars,
                    check_vars: true,
                })
                .hosts
                .push(h.clone());
        }
        let mut classes: Vec<HostClass> = classes.into_values().collect();
        if classes.is_empty() {
            classes.push(HostClass {
                hosts: vec![],
                vars: Vars::new(),
                check_vars: false,
            });
        }
        (classes, Some(hosts.into_iter().collect()))
    }

    fn note_undefined(
        &mut self,
        refs: Vec<Reference>,
        locate: &dyn Fn(&Reference) -> Location,
        what: &str,
        class: &HostClass,
        all_hosts: &[String],
    ) {
        for r in refs {
            let at = locate(&r);
            let e = self
                .undefined
                .entry((
                    at.file,
                    at.line,
                    at.column,
                    r.name.clone(),
                    what.to_string(),
                ))
                .or_default();
            e.missing.extend(class.hosts.iter().cloned());
            e.targeted.extend(all_hosts.iter().cloned());
        }
    }

    fn finish_undefined(&mut self) {
        let has_inventory = self.has_inventory;
        for ((file, line, column, name, what), u) in std::mem::take(&mut self.undefined) {
            let at = Location::new(file, line, column);
            let hosts = if !has_inventory {
                String::new()
            } else if u.missing == u.targeted {
                " (on every targeted host)".to_string()
            } else {
                let defined: Vec<_> = u.targeted.difference(&u.missing).cloned().collect();
                format!(
                    " (on {}; defined on {})",
                    u.missing.into_iter().collect::<Vec<_>>().join(", "),
                    defined.join(", ")
                )
            };
            let where_ = if has_inventory {
                "the play's vars/defaults/vars_files, a role's defaults, the inventory (group_vars/, host_vars/) or -e/--extra-vars"
            } else {
                "the play's vars/defaults/vars_files, a role's defaults or -e/--extra-vars (inventory variables are checked with --inventory)"
            };
            self.report.error(
                "undefined-variable",
                format!("undefined variable `{name}` in {what}{hosts}"),
                at,
                format!("define `{name}` in {where_}, or guard it with {{{{#if (isdefined \"{name}\")}}}}"),
            );
        }
    }

    fn lint_play(
        &mut self,
        pi: usize,
        play: &'p LoadedPlay,
        inv: Option<&Inventory>,
        selected: Option<&BTreeSet<String>>,
        incomplete: bool,
    ) {
        use FieldStep::{Index as I, Key as K};
        if let Some(inv) = inv {
            for (gi, g) in play.play.groups.iter().enumerate() {
                if !inv.has_group(g) {
                    self.report.error(
                        "unknown-group",
                        format!(
                            "play {:?} targets group {g:?}, which the inventory does not define",
                            play.play.name
                        ),
                        play.source.locate(&[I(play.index), K("groups"), I(gi)]),
                        format!(
                            "known groups: {}",
                            inv.groups.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
        }
        let (classes, hosts) = self.host_classes(play, inv, selected);
        let all_hosts: Vec<String> = classes.iter().flat_map(|c| c.hosts.clone()).collect();
        if !incomplete {
            self.notifications(play);
        }
        let mut flow = PlayFlow {
            play: play.play.name.clone(),
            groups: play.play.groups.clone(),
            hosts,
            templates: vec![],
        };
        // Per host class: directories earlier shell tasks of this play closed to others.
        let mut private: Vec<Vec<String>> = vec![vec![]; classes.len()];
        let mut bases: HashMap<(usize, *const crate::playbook::LoadedRole), Rc<Value>> =
            HashMap::new();
        for t in play.tasks.iter().chain(play.handlers.iter()) {
            let role = t.origin.role.as_deref();
            if let Task::Shell(s) = &t.task {
                self.shell_hygiene(t, &s.cmd, s.unsafe_);
            }
            let mut shell_cmds = vec![];
            let mut flow_env = BTreeSet::new();
            let mut flow_vars = BTreeSet::new();
            let mut dests: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let mut shared = BTreeSet::new();
            let mut srcs_missing = BTreeSet::new();
            let mut loaded = false;
            for (ci, class) in classes.iter().enumerate() {
                // A task's variables depend only on the host class and its role.
                let role_key = role.map_or(std::ptr::null(), |r| r as *const _);
                let base = bases
                    .entry((ci, role_key))
                    .or_insert_with(|| {
                        let v = crate::var_precedence::task_vars(
                            play,
                            role,
                            &class.vars,
                            &Vars::new(),
                            &self.extra,
                        );
                        Rc::new(Value::Object(v))
                    })
                    .clone();
                let Value::Object(base_vars) = base.as_ref() else {
                    continue;
                };
                let Some(items) = crate::prepare::items_of(&t.task, base_vars) else {
                    // `items: NAME` naming no variable: the run would fail on it.
                    if let Some(crate::playbook::Items::Var(name)) =
                        t.task.with().and_then(|w| w.items.as_ref())
                    {
                        let n = name
                            .trim()
                            .trim_start_matches("{{")
                            .trim_end_matches("}}")
                            .trim();
                        let check = self.check_vars && class.check_vars;
                        if check && !base_vars.contains_key(n) && !self.saved.contains(n) {
                            let r = Reference {
                                name: n.to_string(),
                                line: 1,
                                column: 1,
                                top_level: true,
                            };
                            let at = t.field_location(&[K("with"), K("items")], None);
                            let what = task_what(&[K("with"), K("items")], t);
                            self.note_undefined(vec![r], &|_| at.clone(), &what, class, &all_hosts);
                        }
                    }
                    continue;
                };
                let has_items = t.task.with().and_then(|w| w.items.as_ref()).is_some();
                for item in items {
                    let ctx: Rc<Value> = match &item {
                        None => base.clone(),
                        Some(i) => {
                            let mut v = base_vars.clone();
                            v.insert("item".into(), i.clone());
                            Rc::new(Value::Object(v))
                        }
                    };
                    let Value::Object(vars) = ctx.as_ref() else {
                        continue;
                    };
                    let saved = self.saved.clone();
                    let known = |n: &str| {
                        vars.contains_key(n) || saved.contains(n) || (has_items && n == "item")
                    };
                    let check_vars = self.check_vars && class.check_vars;
                    if check_vars {
                        self.field_undefined(t, &known, class, &all_hosts);
                    }
                    let ctx = ctx.as_ref();
                    match &t.task {
                        Task::Shell(s) => {
                            if let Ok(c) = self.render(&s.cmd, ctx) {
                                private[ci].extend(scan::private_dirs(&c));
                                shell_cmds.push(c);
                            }
                        }
                        Task::Copy(f) => {
                            let Ok(src) = self.render(&f.src, ctx) else {
                                continue;
                            };
                            match self.resolve(SourceKind::Files, play, role, &src) {
                                Resolved::Found(p) => {
                                    if let Err(e) = crate::input_file::check_regular(&p) {
                                        self.report.error(
                                            "missing-file",
                                            format!("copy source: {e}"),
                                            t.field_location(&[K("src")], None),
                                            e.help(),
                                        );
                                    }
                                    scan_file(&p, &mut self.report, &mut self.scanned)
                                }
                                Resolved::Kernel(bad) => self.kernel_source(t, &src, &bad),
                                Resolved::Missing(tried) => {
                                    if srcs_missing.insert(src.clone()) {
                                        self.report.error(
                                            "missing-file",
                                            format!("copy source {src:?} not found"),
                                            t.field_location(&[K("src")], None),
                                            format!("searched: {}", paths_list(&tried)),
                                        );
                                    }
                                }
                            }
                        }
                        Task::Template(f) => {
                            let Ok(src) = self.render(&f.src, ctx) else {
                                continue;
                            };
                            let path = match self.resolve(SourceKind::Templates, play, role, &src) {
                                Resolved::Found(p) => p,
                                Resolved::Kernel(bad) => {
                                    self.kernel_source(t, &src, &bad);
                                    continue;
                                }
                                Resolved::Missing(tried) => {
                                    if srcs_missing.insert(src.clone()) {
                                        self.report.error(
                                            "missing-template",
                                            format!("template source {src:?} not found"),
                                            t.field_location(&[K("src")], None),
                                            format!("searched: {}", paths_list(&tried)),
                                        );
                                    }
                                    continue;
                                }
                            };
                            let Some(info) = self.template_info(&path, t) else {
                                continue;
                            };
                            if check_vars {
                                let refs = crate::prepare::filter_undefined(
                                    &info.refs,
                                    info.dialect,
                                    &info.text,
                                    &known,
                                );
                                let what = format!(
                                    "template {} (used by task {:?})",
                                    path.display(),
                                    t.task.display_name()
                                );
                                let file = path.clone();
                                self.note_undefined(
                                    refs,
                                    &|r| Location::new(&file, r.line, r.column),
                                    &what,
                                    class,
                                    &all_hosts,
                                );
                            }
                            let env: Vec<String> = info
                                .refs
                                .iter()
                                .filter(|r| r.name.starts_with(ENV_PREFIX))
                                .map(|r| r.name.clone())
                                .collect();
                            flow_vars.extend(
                                info.refs
                                    .iter()
                                    .filter(|r| r.top_level && !r.name.starts_with(ENV_PREFIX))
                                    .map(|r| r.name.clone()),
                            );
                            loaded = true;
                            let dest = match self.render(&f.dest, ctx) {
                                Ok(d) => {
                                    dests
                                        .entry(d.clone())
                                        .or_default()
                                        .extend(class.hosts.iter().cloned());
                                    d
                                }
                                Err(_) => f.dest.clone(),
                            };
                            if !env.is_empty() {
                                let in_shared =
                                    WORLD_READABLE_DIRS.iter().any(|d| dest.starts_with(d));
                                let in_private = private[ci].iter().any(|d| {
                                    dest.strip_prefix(d.as_str())
                                        .is_some_and(|r| r.starts_with('/'))
                                });
                                if in_shared && !in_private {
                                    shared.insert(dest.clone());
                                }
                            }
                            flow_env.extend(env);
                        }
                    }
                }
            }
            match &t.task {
                Task::Shell(s) => {
                    shell_cmds.push(s.cmd.clone());
                    shell_cmds.sort();
                    shell_cmds.dedup();
                    self.shells.push(ShellUse {
                        task: t,
                        cmds: shell_cmds,
                    });
                }
                Task::Template(f) => {
                    let f_flow = self.template_flow(
                        pi,
                        play,
                        t,
                        f,
                        flow_env,
                        flow_vars,
                        dests,
                        shared,
                        all_hosts.len(),
                        loaded,
                    );
                    flow.templates.push(f_flow);
                }
                Task::Copy(_) => {}
            }
        }
        self.report.flows.push(flow);
    }

    #[allow(clippy::too_many_arguments)]
    fn template_flow(
        &mut self,
        pi: usize,
        play: &LoadedPlay,
        t: &LoadedTask,
        f: &crate::playbook::FileTask,
        env: BTreeSet<String>,
        vars: BTreeSet<String>,
        dests: BTreeMap<String, BTreeSet<String>>,
        shared: BTreeSet<String>,
        n_hosts: usize,
        loaded: bool,
    ) -> TemplateFlow {
        use FieldStep::Key as K;
        let secret = !env.is_empty();
        let attrs = f.attributes.clone().unwrap_or_default();
        let (mode, bits) = mode_text(attrs.mode.as_ref(), secret);
        let env_list = env.iter().cloned().collect::<Vec<_>>().join(", ");
        let shown_dest = if dests.len() == 1 {
            dests.keys().next().cloned().unwrap_or_default()
        } else {
            f.dest.clone()
        };
        if secret {
            if let Some(b) = bits.filter(|b| b & 0o077 != 0) {
                let who = match (b & 0o070 != 0, b & 0o007 != 0) {
                    (true, true) => "group and others",
                    (true, false) => "its group",
                    _ => "others",
                };
                self.report.warn(
                    "secret-file-readable",
                    format!("{shown_dest} receives {env_list} but mode {b:04o} lets {who} read it"),
                    t.field_location(&[K("attributes"), K("mode")], None),
                    "use mode 0600 (0o600): owner-only; give the consuming service the file's ownership rather than group access".into(),
                );
            }
            if attrs.mode.is_none() {
                self.report.warn(
                    "secret-file-no-mode",
                    format!("{shown_dest} receives secrets and sets no mode (jetlike defaults it to 0600)"),
                    t.location(),
                    "state the mode explicitly, e.g. attributes: {mode: 0o600}".into(),
                );
            }
            for d in &shared {
                let dir = WORLD_READABLE_DIRS
                    .iter()
                    .find(|w| d.starts_with(*w))
                    .unwrap_or(&"/tmp/");
                self.report.warn(
                    "secret-in-shared-dir",
                    format!("{d} receives secrets under {dir}, a world-accessible directory"),
                    t.field_location(&[K("dest")], None),
                    "write secrets under a directory only its consumer can enter, e.g. create it first in this play with `install -d -m 0700 DIR`".into(),
                );
            }
            let id = self.secret_dests.len();
            for d in dests.keys() {
                self.secret_dests.push(SecretDest {
                    id,
                    path: d.clone(),
                    env: env.iter().cloned().collect(),
                    play: play.play.name.clone(),
                });
            }
            if f.dest.contains("{{") {
                self.secret_dests.push(SecretDest {
                    id,
                    path: f.dest.clone(),
                    env: env.iter().cloned().collect(),
                    play: play.play.name.clone(),
                });
            }
            self.audience(pi, play, t, &env);
        }
        let resolved_dest = if f.dest.contains("{{") && !dests.is_empty() {
            let differ = dests.len() > 1;
            dests
                .into_iter()
                .map(|(path, hosts)| ResolvedDest {
                    path,
                    hosts: (differ && hosts.len() < n_hosts.max(1))
                        .then(|| hosts.into_iter().collect()),
                })
                .collect()
        } else {
            vec![]
        };
        TemplateFlow {
            task: t.task.display_name(),
            src: f.src.clone(),
            dest: f.dest.clone(),
            resolved_dest,
            env: env.into_iter().collect(),
            vars: vars.into_iter().collect(),
            owner: attrs.owner.clone(),
            group: attrs.group.clone(),
            mode,
            not_loaded: !loaded,
        }
    }

    /// The same secret reaching another play's groups: one warning, at the template task that
    /// widens the audience.
    fn audience(&mut self, pi: usize, play: &LoadedPlay, t: &LoadedTask, env: &BTreeSet<String>) {
        let groups: BTreeSet<String> = play.play.groups.iter().cloned().collect();
        for var in env {
            let a = self.audiences.entry(var.clone()).or_default();
            let other_plays = a.plays.iter().any(|p| *p != pi);
            let new: Vec<String> = groups.difference(&a.groups).cloned().collect();
            if other_plays && !new.is_empty() && !a.plays.contains(&pi) {
                let before = a.groups.iter().cloned().collect::<Vec<_>>().join(", ");
                let first = a.first_play.clone();
                let msg = format!(
                    "{var} is also sent to group(s) {} by play {:?}; play {first:?} already sends it to {before}",
                    new.join(", "),
                    play.play.name
                );
                self.report.warn(
                    "secret-to-several-groups",
                    msg,
                    t.location(),
                    format!("check that every group needs {var}; prefer one secret per audience (a separate ENV_ variable for each group)"),
                );
            }
            let a = self.audiences.get_mut(var).unwrap();
            if a.plays.is_empty() {
                a.first_play = play.play.name.clone();
            }
            a.plays.insert(pi);
            a.groups.extend(groups.iter().cloned());
        }
    }

    fn field_undefined(
        &mut self,
        t: &LoadedTask,
        known: &dyn Fn(&str) -> bool,
        class: &HostClass,
        all_hosts: &[String],
    ) {
        for (field, text) in t.task.templated_fields() {
            if field.first() == Some(&FieldStep::Key("with"))
                && field.get(1) == Some(&FieldStep::Key("items"))
            {
                continue;
            }
            if !text.contains("{{")
                && !matches!(
                    field.last(),
                    Some(FieldStep::Key("condition" | "failed_when" | "changed_when"))
                )
            {
                continue;
            }
            let result_field = matches!(
                field.first(),
                Some(FieldStep::Key("failed_when" | "changed_when"))
            );
            let known2 = |n: &str| known(n) || (result_field && (n == "rc" || n == "out"));
            let template = field_as_template(&field, text);
            let exact = matches!(template, std::borrow::Cow::Borrowed(_));
            let refs = match self.field_refs(&template) {
                Some(r) => {
                    crate::prepare::filter_undefined(&r, Dialect::Handlebars, &template, &known2)
                }
                None => continue,
            };
            if refs.is_empty() {
                continue;
            }
            let what = task_what(&field, t);
            let f2 = field.clone();
            let tpl = template.to_string();
            self.note_undefined(
                refs,
                &|r| {
                    if exact {
                        t.field_location(
                            &f2,
                            Some((&tpl, crate::policy::byte_offset(&tpl, r.line, r.column))),
                        )
                    } else {
                        t.field_location(&f2, None)
                    }
                },
                &what,
                class,
                all_hosts,
            );
        }
    }

    fn shell_hygiene(&mut self, t: &LoadedTask, cmd: &str, unsafe_: bool) {
        use FieldStep::Key as K;
        if unsafe_ {
            self.report.warn(
                "shell-unsafe",
                "`unsafe: true` turns off the screening of substituted values for shell metacharacters".into(),
                t.field_location(&[K("unsafe")], None),
                "quote-proof the variables instead, or keep the values under your control".into(),
            );
        }
        if let Some(off) = scan::pipe_to_shell(cmd) {
            self.report.warn(
                "shell-pipe-to-shell",
                "downloads a script and runs it unverified (curl ... | sh, sh -c \"$(curl ...)\", bash <(curl ...))".into(),
                t.field_location(&[K("cmd")], Some((cmd, off))),
                "download to a file, verify a checksum or signature, then run it".into(),
            );
        }
    }

    fn notifications(&mut self, play: &LoadedPlay) {
        use FieldStep::Key as K;
        let subscribed: BTreeSet<&str> = play
            .handlers
            .iter()
            .filter_map(|h| h.task.with().and_then(|w| w.subscribe.as_deref()))
            .collect();
        let mut notified: BTreeSet<&str> = BTreeSet::new();
        for t in play.tasks.iter().chain(play.handlers.iter()) {
            if let Some(n) = t.task.and().and_then(|a| a.notify.as_deref()) {
                notified.insert(n);
                if !subscribed.contains(n) && !n.contains("{{") {
                    self.report.warn(
                        "notify-without-handler",
                        format!(
                            "task {:?} notifies {n:?}, which no handler subscribes to",
                            t.task.display_name()
                        ),
                        t.field_location(&[K("and"), K("notify")], None),
                        format!("add a handler with `with: {{subscribe: {n}}}`, or fix the name"),
                    );
                }
            }
        }
        for h in &play.handlers {
            if let Some(s) = h.task.with().and_then(|w| w.subscribe.as_deref()) {
                if !notified.contains(s) && !notified.iter().any(|n| n.contains("{{")) {
                    self.report.warn(
                        "handler-never-notified",
                        format!("handler {:?} subscribes to {s:?}, which no task notifies", h.task.display_name()),
                        h.field_location(&[K("with"), K("subscribe")], None),
                        format!("add `and: {{notify: {s}}}` to the task that should trigger it, or remove the handler"),
                    );
                }
            }
        }
    }

    /// Shell tasks, in any play, naming a file a template task fills with secrets.
    fn reads_secret_files(&mut self) {
        use FieldStep::Key as K;
        let shells = std::mem::take(&mut self.shells);
        // One automaton over every distinct path: each command is scanned once.
        let mut pattern_of: HashMap<&str, usize> = HashMap::new();
        let mut patterns: Vec<&str> = vec![];
        for d in self.secret_dests.iter().filter(|d| !d.path.is_empty()) {
            pattern_of.entry(d.path.as_str()).or_insert_with(|| {
                patterns.push(d.path.as_str());
                patterns.len() - 1
            });
        }
        let Ok(ac) = aho_corasick::AhoCorasick::new(&patterns) else {
            return;
        };
        for s in &shells {
            if s.task.task.sensitive() {
                continue;
            }
            let raw = match &s.task.task {
                Task::Shell(sh) => sh.cmd.as_str(),
                _ => continue,
            };
            let found: BTreeSet<usize> = s
                .cmds
                .iter()
                .flat_map(|c| ac.find_overlapping_iter(c.as_str()))
                .map(|m| m.pattern().as_usize())
                .collect();
            if found.is_empty() {
                continue;
            }
            let mut seen = BTreeSet::new();
            let mut paths = BTreeSet::new();
            for d in &self.secret_dests {
                if d.path.is_empty() || seen.contains(&d.id) || paths.contains(&d.path) {
                    continue;
                }
                if !found.contains(&pattern_of[d.path.as_str()]) {
                    continue;
                }
                let at = match raw.find(d.path.as_str()) {
                    Some(off) => s.task.field_location(&[K("cmd")], Some((raw, off))),
                    None => s.task.field_location(&[K("cmd")], None),
                };
                self.report.warn(
                    "reads-secret-file",
                    format!(
                        "reads {}, which play {:?} fills with {}, without `sensitive: true`; a transformed secret (reversed, re-encoded) would escape masking",
                        d.path,
                        d.play,
                        d.env.join(", ")
                    ),
                    at,
                    "add `sensitive: true` to the task".into(),
                );
                seen.insert(d.id);
                paths.insert(d.path.clone());
            }
        }
    }
}

/// Renders text whose only expressions are plain variable paths (`{{a}}`, `{{ a.b }}`) with
/// scalar values, as Handlebars would (no escaping); `None` for anything else, which goes to
/// the engine. Lint renders every field for every distinct host: this skips the parser.
fn simple_render(text: &str, vars: &Vars) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let expr = after[..end].trim();
        let plain = !expr.is_empty()
            && expr
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && expr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !plain || expr == "else" || expr.split('.').any(str::is_empty) || expr.contains("this") {
            return None;
        }
        let mut parts = expr.split('.');
        let mut v = vars.get(parts.next()?)?;
        for p in parts {
            v = v.as_object()?.get(p)?;
        }
        match v {
            Value::String(s) => out.push_str(s),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            _ => return None,
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

fn paths_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        let mut r = Report::default();
        scan_text(Path::new("x"), text, &mut r);
        r.findings.iter().map(|f| f.message.clone()).collect()
    }

    #[test]
    fn simple_rendering_matches_the_engine() {
        let vars: Vars =
            serde_json::from_str(r#"{"a": "x y", "n": 80, "b": true, "m": {"k": "v"}, "l": [1]}"#)
                .unwrap();
        let engine = Engine::new();
        let ctx = Value::Object(vars.clone());
        for text in [
            "{{a}}/{{n}}-{{ b }}",
            "{{m.k}} tail",
            "no vars",
            "{{ a }}{{a}}",
        ] {
            assert_eq!(
                simple_render(text, &vars).as_deref(),
                engine.render(text, &ctx).ok().as_deref(),
                "{text}"
            );
        }
        for text in [
            "{{l}}",
            "{{m}}",
            "{{#if a}}x{{/if}}",
            "{{{a}}}",
            "{{missing}}",
            "{{lookup m \"k\"}}",
        ] {
            assert_eq!(simple_render(text, &vars), None, "{text}");
        }
    }

    #[test]
    fn detects_well_known_tokens_without_printing_them() {
        let cases = [
            "key: AKIAIOSFODNN7EXAMPLE",
            "t: ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "-----BEGIN RSA PRIVATE KEY-----",
            "slack: xoxb-123456789012-abcdefghij",
            "stripe: sk_live_abcdefghijklmnop1234",
            "password: hunter2hunter2",
            "db_password: hunter2hunter2",
        ];
        for c in cases {
            let k = messages(c);
            assert_eq!(k.len(), 1, "{c}: {k:?}");
            assert!(!k[0].contains(&c[c.len() - 8..]), "value printed: {k:?}");
        }
        assert!(messages("password: \"{{ENV_DB}}\"").is_empty());
        assert!(messages("password: hunter2hunter2 # jetlike:allow-secret").is_empty());
        assert!(messages("name: demo-app").is_empty());
        assert_eq!(messages("x: q8Zr2LmV9pXw4TkB7nYs3HcJ6dFa").len(), 1);
        // A 4-character value would be its own prefix: below 8 characters nothing is shown.
        for short in ["password: s3cr", "password: s3cr3t1"] {
            let m = messages(short);
            assert_eq!(m.len(), 1, "{m:?}");
            assert!(
                m[0].contains("value not shown") && !m[0].contains("s3cr"),
                "{m:?}"
            );
        }
    }
}
