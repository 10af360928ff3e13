//! Everything checked before the first connection: template and copied files are found, read
//! and parsed; variables they (and every templated field) use are known for every host; the
//! `ENV_` variables templates use make up the secret set.

mod items;
mod sources;

pub use items::{delegates, items_for_checks, items_of, ITEMS_NOT_A_LIST};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::env_name::ENV_PREFIX;
use crate::error::{Diagnostic, DiagnosticCode, Error, Result};
use crate::inventory::Inventory;
use crate::modules::file::LoadedTemplate;
use crate::playbook::{FieldStep, LoadedPlay, LoadedTask, Task, Vars};
use crate::policy;
use crate::secret::Secret;
use crate::source::SourceKind;
use crate::template::{Dialect, Engine};
use crate::var_precedence::task_vars;

#[derive(Default)]
pub struct Prepared {
    pub templates: HashMap<PathBuf, Arc<LoadedTemplate>>,
    /// Copy sources, hashed (never held: see `connection::payload`).
    pub files: HashMap<PathBuf, Arc<crate::connection::SourceFile>>,
    /// `ENV_` variables referenced by template files: their values are the secret set.
    pub secret_names: BTreeSet<String>,
    /// Where each of them comes from (resolved by `secret_source::resolve` before the run).
    pub secret_sources: BTreeMap<String, crate::secret_source::Wanted>,
}

/// The variable a task with `delegate_to` sees holding the host it runs for (Jet's name).
pub const DELEGATE_HOST: &str = "delegate_host";

/// The references of `text` to top-level variables that `known` does not hold. `ENV_` names
/// are left to the policy; names the text guards (`isdefined x`, `x is defined`,
/// `x | default(...)`, see [`crate::template::guarded`]) are not reported. A template that does
/// not parse yields nothing: its syntax error is reported where it is loaded. Shared by the
/// run-time check below and `jetlike lint`.
pub fn undefined_refs(
    engine: &Engine,
    dialect: Dialect,
    text: &str,
    known: &dyn Fn(&str) -> bool,
) -> Vec<crate::template::Reference> {
    match engine.references(dialect, text) {
        Ok(refs) => filter_undefined(&refs, dialect, text, known),
        Err(_) => vec![],
    }
}

/// [`undefined_refs`] on references already parsed from `text` (callers checking one text
/// against many hosts parse it once).
pub fn filter_undefined(
    refs: &[crate::template::Reference],
    dialect: Dialect,
    text: &str,
    known: &dyn Fn(&str) -> bool,
) -> Vec<crate::template::Reference> {
    let mut seen = BTreeSet::new();
    refs.iter()
        .filter(|r| r.top_level && !r.name.starts_with(ENV_PREFIX))
        .filter(|r| !known(&r.name) && !crate::template::guarded(dialect, text, &r.name))
        .filter(|r| seen.insert(r.name.clone()))
        .cloned()
        .collect()
}

struct Checker<'a> {
    engine: &'a Engine,
    loadenv: bool,
    env: &'a BTreeMap<String, Secret>,
    prepared: Prepared,
    errors: Vec<Diagnostic>,
    reported: BTreeSet<String>,
    /// The secrets each template file uses (see `check_secrets`).
    uses: HashMap<PathBuf, Vec<crate::secret_source::SecretUse>>,
}

impl Checker<'_> {
    fn once(&mut self, key: String, d: Diagnostic) {
        if self.reported.insert(key) {
            self.errors.push(d);
        }
    }

    fn check_undefined(
        &mut self,
        text: &str,
        dialect: Dialect,
        known: &dyn Fn(&str) -> bool,
        host: &str,
        what: String,
        locate: &dyn Fn(&crate::template::Reference) -> crate::error::Location,
    ) {
        for r in undefined_refs(self.engine, dialect, text, known) {
            self.once(
                format!("undef {what} {}", r.name),
                Diagnostic::new(format!("undefined variable `{}` in {what} (host {host})", r.name))
                    .code(DiagnosticCode::UndefinedVariable)
                    .at(Some(locate(&r)))
                    .help("define it in the inventory (group_vars/host_vars), the play's vars, or --extra-vars"),
            );
        }
    }

    /// A template file, loaded once: read, parsed, checked for unsupported constructs, and
    /// its secret uses recorded (see `check_secrets`). `None` once a problem is reported.
    fn load_template(
        &mut self,
        play: &LoadedPlay,
        task: &LoadedTask,
        path: &Path,
    ) -> Option<Arc<LoadedTemplate>> {
        if let Some(t) = self.prepared.templates.get(path) {
            return Some(t.clone());
        }
        let text = self.read_template(task, path)?;
        let dialect = Dialect::of_path(&path.to_string_lossy());
        let refs = self.parse_template(task, path, dialect, &text)?;
        if !self.template_constructs_ok(play, task, path, dialect, &text) {
            return None;
        }
        let uses = self.template_secret_uses(play, task, path, dialect, &text, &refs)?;
        let env_refs: BTreeSet<String> = uses.iter().map(|u| u.name.clone()).collect();
        self.uses.insert(path.to_path_buf(), uses);
        let t = Arc::new(LoadedTemplate {
            path: path.to_path_buf(),
            text,
            dialect,
            env_refs: env_refs.into_iter().collect(),
        });
        self.prepared
            .templates
            .insert(path.to_path_buf(), t.clone());
        Some(t)
    }

    /// Step 1: the template's text, or a `missing-template` diagnostic.
    fn read_template(&mut self, task: &LoadedTask, path: &Path) -> Option<String> {
        let at = task.field_location(&[FieldStep::Key("src")], None);
        match crate::input_file::read_text(path) {
            Ok(t) => Some(t),
            Err(e) => {
                self.once(
                    format!("read {}", path.display()),
                    Diagnostic::new(format!("cannot read template: {e}"))
                        .code(DiagnosticCode::MissingTemplate)
                        .at(Some(at))
                        .help(e.help()),
                );
                None
            }
        }
    }

    /// Step 2: the template's references, or a syntax diagnostic.
    fn parse_template(
        &mut self,
        task: &LoadedTask,
        path: &Path,
        dialect: Dialect,
        text: &str,
    ) -> Option<Vec<crate::template::Reference>> {
        let at = task.field_location(&[FieldStep::Key("src")], None);
        match self.engine.references(dialect, text) {
            Ok(r) => Some(r),
            Err(e) => {
                self.once(
                    format!("syntax {}", path.display()),
                    Diagnostic::new(format!("template syntax error in {}: {e}", path.display()))
                        .code(DiagnosticCode::TemplateSyntax)
                        .at(Some(at))
                        .help(match dialect {
                            Dialect::Handlebars => {
                                "fix the Handlebars syntax ({{var}}, {{#if x}}...{{/if}})"
                            }
                            Dialect::Jinja => {
                                "fix the Jinja syntax ({{ var }}, {% if x %}...{% endif %})"
                            }
                        }),
                );
                None
            }
        }
    }

    /// Step 3: no includes and no unknown helpers, filters or tests (each reported).
    fn template_constructs_ok(
        &mut self,
        play: &LoadedPlay,
        task: &LoadedTask,
        path: &Path,
        dialect: Dialect,
        text: &str,
    ) -> bool {
        let includes = self.engine.includes(dialect, text);
        if !includes.is_empty() {
            for (what, line, column) in includes {
                self.once(
                    format!("include {} {line}:{column}", path.display()),
                    Diagnostic::new(format!(
                        "template {} uses {what}: includes, extends, imports and partials are not supported",
                        path.display()
                    ))
                    .code(DiagnosticCode::TemplateInclude)
                    .at(Some(crate::error::Location::new(path, line, column)))
                    .context(policy::task_context(play, task, "task", &[FieldStep::Key("src")]))
                    .help("inline the other file's content into this template (each template is checked and rendered on its own, with only the ENV_ variables it names)"),
                );
            }
            return false;
        }
        let unknown = self.engine.unknown_names(dialect, text);
        if !unknown.is_empty() {
            for u in unknown {
                self.once(
                    format!("unknown {} {}:{}", path.display(), u.line, u.column),
                    Diagnostic::new(format!("template {} calls an {u}", path.display()))
                        .code(DiagnosticCode::TemplateSyntax)
                        .at(Some(crate::error::Location::new(path, u.line, u.column)))
                        .context(policy::task_context(
                            play,
                            task,
                            "task",
                            &[FieldStep::Key("src")],
                        ))
                        .help(crate::template::UNKNOWN_NAME_HELP),
                );
            }
            return false;
        }
        true
    }

    /// Step 4: the secrets the template uses (`ENV_` references and `{{secret}}` calls, one
    /// use per name), or `None` after reporting a call without literal arguments.
    fn template_secret_uses(
        &mut self,
        play: &LoadedPlay,
        task: &LoadedTask,
        path: &Path,
        dialect: Dialect,
        text: &str,
        refs: &[crate::template::Reference],
    ) -> Option<Vec<crate::secret_source::SecretUse>> {
        let env_refs: BTreeSet<String> = refs
            .iter()
            .filter(|r| r.name.starts_with(ENV_PREFIX))
            .map(|r| r.name.clone())
            .collect();
        // Secrets: `ENV_` references and `{{secret "provider" "key"}}` calls; which source each
        // has (and whether it is allowed) depends on the play, checked in `check_secrets`.
        let (calls, bad) = crate::secret_source::template_calls(dialect, text);
        if !bad.is_empty() {
            for (line, column) in bad {
                self.once(
                    format!("secretcall {} {line}:{column}", path.display()),
                    Diagnostic::new(format!(
                        "template {} calls secret without a literal provider and key",
                        path.display()
                    ))
                    .at(Some(crate::error::Location::new(path, line, column)))
                    .context(policy::task_context(play, task, "task", &[FieldStep::Key("src")]))
                    .help("write both as string literals, e.g. {{secret \"vault_prod\" \"db/password\"}}: the secret must be known before the run"),
                );
            }
            return None;
        }
        let mut uses: Vec<crate::secret_source::SecretUse> = env_refs
            .iter()
            .map(|name| {
                let r = refs.iter().find(|r| &r.name == name).unwrap();
                crate::secret_source::SecretUse {
                    name: name.clone(),
                    call: None,
                    line: r.line,
                    column: r.column,
                }
            })
            .collect();
        for c in calls {
            if !uses.iter().any(|u| u.name == c.name) {
                uses.push(c);
            }
        }
        Some(uses)
    }

    /// The secrets template `path` uses, as `play` sees them: with a `secrets:` declaration
    /// each must be declared; without one, `ENV_<NAME>` is the environment variable NAME.
    /// Records each secret's source (one source per name in a run).
    fn check_secrets(&mut self, play: &LoadedPlay, task: &LoadedTask, path: &Path) {
        use crate::secret_source::{Source, Wanted};
        let uses = self.uses.get(path).cloned().unwrap_or_default();
        for u in uses {
            let file_at = crate::error::Location::new(path, u.line, u.column);
            let ctx = policy::task_context(play, task, "task", &[FieldStep::Key("src")]);
            let source = match (&u.call, crate::secret_decl::lookup(play, &u.name)) {
                (Some(src), _) => {
                    if crate::secret_decl::declares_source(play, src) == Some(false) {
                        self.once(
                            format!("undeclared {} {:?}", u.name, play.play.name),
                            Diagnostic::new(format!(
                                "template {} uses {}, which play {:?} does not declare",
                                path.display(),
                                src.describe(),
                                play.play.name
                            ))
                            .at(Some(file_at))
                            .context(ctx)
                            .help("add it to the play's secrets: (NAME: {provider: ..., key: ...}) or remove the call"),
                        );
                        continue;
                    }
                    src.clone()
                }
                (None, Some(Some(src))) => src,
                (None, Some(None)) => {
                    self.once(
                        format!("undeclared {} {:?}", u.name, play.play.name),
                        Diagnostic::new(format!(
                            "{} is used by template {}, but play {:?} does not declare it in secrets:",
                            u.name,
                            path.display(),
                            play.play.name
                        ))
                        .at(Some(file_at))
                        .context(ctx)
                        .help(format!(
                            "declare it ({}: {{provider: env, key: {}}}, or another provider) or stop using it",
                            u.name.trim_start_matches(ENV_PREFIX),
                            u.name.trim_start_matches(ENV_PREFIX)
                        )),
                    );
                    continue;
                }
                (None, None) => Source::Env(u.name.trim_start_matches(ENV_PREFIX).to_string()),
            };
            if let Source::Env(var) = &source {
                self.env_checks(&u.name, var, file_at.clone(), ctx.clone());
            }
            if let Some(prev) = self.prepared.secret_sources.get(&u.name) {
                if prev.source != source {
                    self.once(
                        format!("conflict {}", u.name),
                        Diagnostic::new(format!(
                            "{} comes from {} here, but from {} at {}",
                            u.name,
                            source.describe(),
                            prev.source.describe(),
                            prev.at
                        ))
                        .at(Some(file_at))
                        .context(ctx)
                        .help("one name, one source in a run: rename one of the secrets"),
                    );
                }
                continue;
            }
            self.prepared.secret_names.insert(u.name.clone());
            self.prepared.secret_sources.insert(
                u.name.clone(),
                Wanted {
                    source,
                    at: file_at,
                },
            );
        }
    }

    /// A secret read from the environment variable `var` (as template variable `name`).
    fn env_checks(&mut self, name: &str, var: &str, file_at: crate::error::Location, ctx: String) {
        let key = format!("{ENV_PREFIX}{var}");
        if !self.loadenv {
            self.once(
                format!("noenv {name} {}", file_at.file.display()),
                policy::loadenv_missing(name, file_at, ctx),
            );
        } else if !self.env.contains_key(&key) {
            self.once(
                format!("unset {name}"),
                Diagnostic::new(format!("{name} is referenced, but {var} is not set in the environment"))
                    .at(Some(file_at))
                    .context(ctx)
                    .help(format!("export {var} (for example through your secret injector: op run --env-file .env -- jetlike ...)")),
            );
        } else if self.env.get(&key).is_some_and(|s| s.expose_str().is_none()) {
            // Templates render text: a lossy conversion would both corrupt the value and
            // defeat masking (the masker knows the original bytes only).
            self.once(
                format!("utf8 {name}"),
                Diagnostic::new(format!(
                    "{name} is referenced, but the value of {var} is not valid UTF-8"
                ))
                .at(Some(file_at))
                .context(ctx)
                .help(format!(
                    "templates render text: store {var} as UTF-8 (for binary data, base64-encode it and decode it on the target)"
                )),
            );
        }
    }

    /// One task on one host: its items, undefined variables in its fields, and its source
    /// (copied file read, template loaded and checked).
    fn check_task(
        &mut self,
        play: &LoadedPlay,
        task: &LoadedTask,
        host: &str,
        base: &Vars,
        saved: &BTreeSet<String>,
    ) {
        let Some(items) = items_for_checks(&task.task, base, self.engine) else {
            return;
        };
        let has_items = task.task.with().and_then(|w| w.items.as_ref()).is_some();
        for item in items {
            let mut vars = base.clone();
            if let Some(i) = &item {
                vars.insert("item".into(), i.clone());
            }
            let delegated = delegates(&task.task);
            let known = |n: &str| {
                vars.contains_key(n)
                    || saved.contains(n)
                    || (has_items && n == "item")
                    || (delegated && n == DELEGATE_HOST)
            };
            for (field, text) in task.task.templated_fields() {
                // `items: NAME` is looked up, not rendered (an inline list's elements are).
                if field.len() == 2
                    && field.first() == Some(&FieldStep::Key("with"))
                    && field.get(1) == Some(&FieldStep::Key("items"))
                {
                    continue;
                }
                let result_field = matches!(
                    field.first(),
                    Some(FieldStep::Key("failed_when" | "changed_when"))
                );
                let known2 = |n: &str| known(n) || (result_field && (n == "rc" || n == "out"));
                let what = format!(
                    "{} of task {:?}",
                    crate::playbook::field_path_string(&field),
                    task.task.display_name()
                );
                let template = crate::playbook::field_as_template(&field, text);
                // Exact positions when the field is the template as written.
                let exact = matches!(template, std::borrow::Cow::Borrowed(_));
                let locate = |r: &crate::template::Reference| {
                    let offset = policy::byte_offset(text, r.line, r.column);
                    task.field_location(&field, exact.then_some((text, offset)))
                };
                self.check_undefined(&template, Dialect::Handlebars, &known2, host, what, &locate);
            }
            let (kind, src) = match &task.task {
                Task::Template(t) => (SourceKind::Templates, &t.src),
                Task::Copy(t) => (SourceKind::Files, &t.src),
                _ => continue,
            };
            let ctx = Value::Object(vars.clone());
            // A src that needs a runtime value (a `save:`) is resolved, by the same rules,
            // when the task runs.
            let Ok(src) = self.engine.render(src, &ctx) else {
                continue;
            };
            let Some(path) = self.resolve_src(play, task, kind, &src) else {
                continue;
            };
            if kind == SourceKind::Files {
                self.hash_copy_source(task, path);
                continue;
            }
            if let Some(t) = self.load_template(play, task, &path) {
                self.check_secrets(play, task, &t.path);
                let what = format!("template {}", t.path.display());
                let path = t.path.clone();
                let locate = |r: &crate::template::Reference| {
                    crate::error::Location::new(&path, r.line, r.column)
                };
                self.check_undefined(&t.text, t.dialect, &known, host, what, &locate);
            }
        }
    }
}

/// Runs every pre-connection check over the hosts each play targets.
pub fn prepare(
    engine: &Engine,
    plays: &[(&LoadedPlay, Vec<String>)],
    inventory: &Inventory,
    extra: &Vars,
    loadenv: bool,
    env: &BTreeMap<String, Secret>,
) -> Result<Prepared> {
    let mut c = Checker {
        engine,
        loadenv,
        env,
        prepared: Prepared::default(),
        errors: vec![],
        reported: BTreeSet::new(),
        uses: HashMap::new(),
    };
    // Names `save:` may define; known for later tasks whatever the order.
    let saved: BTreeSet<String> = plays
        .iter()
        .flat_map(|(p, _)| p.tasks.iter().chain(p.handlers.iter()))
        .flat_map(|t| t.task.fields().saved_names())
        .collect();
    for (play, hosts) in plays {
        for host in hosts {
            let inv = inventory.host_variables(host);
            for task in play.tasks.iter().chain(play.handlers.iter()) {
                let base = task_vars(play, task.origin.role.as_deref(), &inv, &Vars::new(), extra);
                c.check_task(play, task, host, &base, &saved);
            }
        }
    }
    if c.errors.is_empty() {
        Ok(c.prepared)
    } else {
        Err(Error::Invalid(c.errors))
    }
}

/// A diagnostic about a task's `src`, located at that field.
fn src_diagnostic(play: &LoadedPlay, task: &LoadedTask, message: String) -> Diagnostic {
    let field = [FieldStep::Key("src")];
    Diagnostic::new(message)
        .at(Some(task.field_location(&field, None)))
        .context(policy::task_context(play, task, "task", &field))
}
