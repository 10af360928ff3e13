//! The lint pass's state: the report being built, caches (template files, field references,
//! renders, source lookups) and what later checks collect (undefined uses, secret
//! destinations, shell commands, audiences). The checks themselves are in the sibling files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;

use super::literals::scan_file;
use super::Report;
use crate::env_name::ENV_PREFIX;
use crate::error::Location;
use crate::inventory::Inventory;
use crate::playbook::{FieldStep, LoadedPlay, LoadedTask, Vars};
use crate::source::{Resolved, SourceKind};
use crate::template::{Dialect, Engine, Reference, TemplateError};

/// Hosts whose variables are identical are checked once.
pub(super) struct HostClass {
    pub(super) hosts: Vec<String>,
    pub(super) vars: Vars,
    /// False for the stand-in used when a play targets no host: its files are still checked,
    /// but which variables exist is unknown.
    pub(super) check_vars: bool,
}

pub(super) struct TemplateInfo {
    pub(super) text: String,
    pub(super) dialect: Dialect,
    pub(super) refs: Vec<Reference>,
}

/// A file a template task fills with secrets.
pub(super) struct SecretDest {
    /// The template task that writes it (one task may have several spellings of the path).
    pub(super) id: usize,
    pub(super) path: String,
    pub(super) env: Vec<String>,
    pub(super) play: String,
}

/// A shell task and its command, as written and as rendered for each host class.
pub(super) struct ShellUse<'p> {
    pub(super) task: &'p LoadedTask,
    pub(super) cmds: Vec<String>,
}

#[derive(Default)]
pub(super) struct Audience {
    pub(super) plays: BTreeSet<usize>,
    pub(super) groups: BTreeSet<String>,
    pub(super) first_play: String,
}

/// (file, line, column) of an undefined use: the hosts lacking the variable, and all targeted.
#[derive(Default)]
pub(super) struct Undefined {
    pub(super) missing: BTreeSet<String>,
    pub(super) targeted: BTreeSet<String>,
}

/// What every per-task check of one play shares.
pub(super) struct PlayScope<'a> {
    /// The play's index among all plays (audiences are counted per play).
    pub(super) pi: usize,
    pub(super) play: &'a LoadedPlay,
    pub(super) classes: &'a [HostClass],
    /// Every targeted host, in class order.
    pub(super) all_hosts: &'a [String],
}

/// What one task collects over every host class and item, for its flow and the later checks.
#[derive(Default)]
pub(super) struct TaskFlow {
    /// A shell task's command as rendered for each class and item.
    pub(super) shell_cmds: Vec<String>,
    /// `ENV_` variables the template uses.
    pub(super) env: BTreeSet<String>,
    /// Other top-level variables the template uses.
    pub(super) vars: BTreeSet<String>,
    /// Rendered destination → hosts it is written on.
    pub(super) dests: BTreeMap<String, BTreeSet<String>>,
    /// Secret-bearing destinations in a world-accessible directory.
    pub(super) shared: BTreeSet<String>,
    /// Sources already reported missing (one finding per spelling).
    pub(super) srcs_missing: BTreeSet<String>,
    /// The template file was loaded at least once.
    pub(super) loaded: bool,
}

pub(super) struct Linter<'p> {
    pub(super) engine: Engine,
    pub(super) report: Report,
    pub(super) scanned: BTreeSet<PathBuf>,
    pub(super) templates: HashMap<PathBuf, Option<Rc<TemplateInfo>>>,
    pub(super) field_refs: HashMap<String, Option<Rc<Vec<Reference>>>>,
    pub(super) renders: HashMap<(String, String), Result<String, TemplateError>>,
    pub(super) resolved: HashMap<(SourceKind, PathBuf, Option<PathBuf>, String), Resolved>,
    pub(super) extra: Vars,
    /// Undefined-variable checks run only when every variable source loaded.
    pub(super) check_vars: bool,
    pub(super) has_inventory: bool,
    pub(super) saved: Rc<BTreeSet<String>>,
    /// (file, line, column, variable, what) → hosts lacking it.
    pub(super) undefined: BTreeMap<(PathBuf, usize, usize, String, String), Undefined>,
    pub(super) secret_dests: Vec<SecretDest>,
    pub(super) shells: Vec<ShellUse<'p>>,
    pub(super) audiences: BTreeMap<String, Audience>,
    /// ENV_ names used by template files, with where (first use in each file).
    pub(super) env_uses: BTreeMap<String, Vec<Location>>,
}

impl Linter<'_> {
    pub(super) fn template_info(
        &mut self,
        path: &Path,
        task: &LoadedTask,
    ) -> Option<Rc<TemplateInfo>> {
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
                        self.record_env_uses(path, &refs);
                        self.template_findings(path, dialect, &text, task);
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

    /// Remembers where the template file `path` first uses each `ENV_` variable.
    fn record_env_uses(&mut self, path: &Path, refs: &[Reference]) {
        let mut first: BTreeMap<&str, Location> = BTreeMap::new();
        for r in refs.iter().filter(|r| r.name.starts_with(ENV_PREFIX)) {
            first
                .entry(&r.name)
                .or_insert_with(|| Location::new(path, r.line, r.column));
        }
        for (name, at) in first {
            self.env_uses.entry(name.to_string()).or_default().push(at);
        }
    }

    /// The findings of a template file that parses: includes, `(isdefined "name")`, unknown
    /// helpers, filters and tests.
    fn template_findings(&mut self, path: &Path, dialect: Dialect, text: &str, task: &LoadedTask) {
        let name = task.task.display_name();
        for (what, line, column) in self.engine.includes(dialect, text) {
            self.report.error(
                "template-include",
                format!(
                    "this template uses {what}: includes, extends, imports and partials are not supported (template of task {name:?})"
                ),
                Location::new(path, line, column),
                "inline the other file's content into this template (each template is checked and rendered on its own, with only the ENV_ variables it names)".into(),
            );
        }
        if dialect == Dialect::Handlebars {
            for (quoted, line, column) in crate::template::quoted_isdefined(text) {
                let (message, hint) = super::hygiene::isdefined_quoted_finding(
                    &quoted,
                    &format!("this template (of task {name:?})"),
                );
                self.report.warn(
                    "isdefined-quoted",
                    message,
                    Location::new(path, line, column),
                    hint,
                );
            }
        }
        for u in self.engine.unknown_names(dialect, text) {
            self.report.error(
                "template-syntax",
                format!("this template calls an {u} (template of task {name:?})"),
                Location::new(path, u.line, u.column),
                crate::template::UNKNOWN_NAME_HELP.into(),
            );
        }
    }

    /// A template file that does not parse: located in the file, from the engine's position.
    pub(super) fn template_syntax(
        &mut self,
        path: &Path,
        dialect: Dialect,
        err: &TemplateError,
        task: &LoadedTask,
    ) {
        let (line, column) = err
            .position()
            .map_or((1, 1), |p| (p.line, p.column.unwrap_or(1)));
        // pest lists every token it could have accepted: a dozen names that do not help.
        let msg = match err {
            TemplateError::Syntax {
                message,
                expected: Some(alternatives),
                ..
            } if alternatives.matches(", ").count() > 3 => format!(
                "{message}: unexpected text or end of file here (an unclosed {{{{#block}}}}, or a stray {{{{ or }}}}?)"
            ),
            _ => err.message(),
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
    pub(super) fn render(&mut self, text: &str, ctx: &Value) -> Result<String, TemplateError> {
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
    pub(super) fn resolve(
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
    pub(super) fn kernel_source(&mut self, t: &LoadedTask, src: &str, bad: &Path) {
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
    pub(super) fn field_refs(&mut self, text: &str) -> Option<Rc<Vec<Reference>>> {
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

    /// The play's targeted hosts grouped by identical variables (one stand-in class when it
    /// targets none), and the hosts themselves when there is an inventory.
    pub(super) fn host_classes(
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
}

/// Renders text whose only expressions are plain variable paths (`{{a}}`, `{{ a.b }}`) with
/// scalar values, as Handlebars would (no escaping); `None` for anything else, which goes to
/// the engine. Lint renders every field for every distinct host: this skips the parser.
pub(super) fn simple_render(text: &str, vars: &Vars) -> Option<String> {
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

pub(super) fn paths_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
