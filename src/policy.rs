//! The secrets policy, checked before any host is contacted: `ENV_` variables may be referenced
//! only by the contents of template files; any other templated string that names one is a
//! violation, wherever it sits (false conditions, handlers, roles, vars, `--extra-vars`).

use crate::error::{Diagnostic, DiagnosticCode, Location};
use crate::inventory::Inventory;
use crate::playbook::{
    collect_strings, field_path_string, FieldStep, LoadedPlay, LoadedTask, Source, Vars,
};
use crate::template::{Dialect, Engine};

pub use crate::env_name::ENV_PREFIX;

/// Maps an optional (string, byte offset) inside a field to a source location.
type Locator<'a> = &'a dyn Fn(Option<(&str, usize)>) -> Location;

/// The help shared by every "secret used outside a template file" diagnostic.
const OUTSIDE_TEMPLATE_HELP: &str = "render the value into a file with a !template task (src: a file under templates/) and let other tasks use that file";

fn violation(var: &str, location: Location, context: String) -> Diagnostic {
    Diagnostic::new(format!(
        "{var} is referenced outside a template file; ENV_ variables reach the !template module's file contents only"
    ))
    .code(DiagnosticCode::EnvOutsideTemplate)
    .at(Some(location))
    .context(context)
    .help(OUTSIDE_TEMPLATE_HELP)
}

/// A variable defined under an `ENV_` name would pass for an environment value in templates
/// (and hide the real one): those names belong to `--loadenv`.
fn reserved_name(name: &str, location: Location, context: &str) -> Diagnostic {
    Diagnostic::new(format!(
        "variable {name} is defined in {context}; names starting with ENV_ are reserved for environment values loaded with --loadenv"
    ))
    .code(DiagnosticCode::EnvReservedName)
    .at(Some(location))
    .context(context.to_string())
    .help("rename the variable (for example drop the ENV_ prefix)")
}

/// The engine and the diagnostics found so far: what every walker below shares.
struct Walk<'e> {
    engine: &'e Engine,
    out: Vec<Diagnostic>,
}

impl Walk<'_> {
    /// Checks one templated string; pushes a diagnostic per `ENV_` reference, `{{secret}}`
    /// call, unknown helper and computed lookup, or one for a syntax error.
    fn string(&mut self, text: &str, locate: Locator<'_>, context: &str) {
        if !text.contains("{{") {
            return;
        }
        let refs = match self.engine.references(Dialect::Handlebars, text) {
            Ok(refs) => refs,
            Err(e) => {
                self.out.push(
                    Diagnostic::new(format!("invalid template syntax: {e}"))
                        .code(DiagnosticCode::TemplateSyntax)
                        .at(Some(locate(None)))
                        .context(context.to_string())
                        .help("fix the {{ }} expression"),
                );
                return;
            }
        };
        let at = |line: usize, column: usize| {
            Some(locate(Some((text, byte_offset(text, line, column)))))
        };
        for r in refs.iter().filter(|r| r.name.starts_with(ENV_PREFIX)) {
            let location = locate(Some((text, byte_offset(text, r.line, r.column))));
            self.out
                .push(violation(&r.name, location, context.to_string()));
        }
        for (_, _, (line, column)) in crate::template::secret_calls(text) {
            self.out.push(
                Diagnostic::new(
                    "{{secret ...}} is used outside a template file; secrets reach the !template module's file contents only",
                )
                .code(DiagnosticCode::EnvOutsideTemplate)
                .at(at(line, column))
                .context(context.to_string())
                .help(OUTSIDE_TEMPLATE_HELP),
            );
        }
        for u in self.engine.unknown_names(Dialect::Handlebars, text) {
            self.out.push(
                Diagnostic::new(u.to_string())
                    .code(DiagnosticCode::TemplateSyntax)
                    .at(at(u.line, u.column))
                    .context(context.to_string())
                    .help(crate::template::UNKNOWN_NAME_HELP),
            );
        }
        for (line, column) in crate::template::dynamic_lookups(text) {
            self.out.push(
                Diagnostic::new(
                    "lookup with a computed key outside a template file: the variable it reads cannot be checked before the run, and could be an ENV_ variable",
                )
                .code(DiagnosticCode::EnvOutsideTemplate)
                .at(at(line, column))
                .context(context.to_string())
                .help("name the variable directly ({{name}}) or give lookup a literal key ({{lookup this \"name\"}})"),
            );
        }
    }

    /// A variables mapping: no variable named `ENV_*`, no `ENV_` reference in any value.
    /// `base` is the mapping's path in `source`; `what` names it in messages.
    fn vars(&mut self, vars: &Vars, source: &Source, base: &[FieldStep], what: &str) {
        for name in vars.keys().filter(|k| k.starts_with(ENV_PREFIX)) {
            let mut full = base.to_vec();
            full.push(FieldStep::Name(name.clone()));
            self.out
                .push(reserved_name(name, source.locate_in(&full, None), what));
        }
        let value = serde_json::Value::Object(vars.clone());
        let mut strings = vec![];
        collect_strings(&value, vec![], &mut strings);
        for (path, text) in strings {
            let mut full = base.to_vec();
            full.extend(path.iter().cloned());
            let context = format!("{what}, variable {}", field_path_string(&path));
            self.string(text, &|s| source.locate_in(&full, s), &context);
        }
    }

    /// The play's own `vars:` and `defaults:`.
    fn play_vars(&mut self, play: &LoadedPlay, ctx: &str) {
        use FieldStep::{Index as I, Key as K};
        for (key, vars) in [("vars", &play.play.vars), ("defaults", &play.play.defaults)] {
            if let Some(v) = vars {
                let what = format!("{ctx}, {key}");
                self.vars(v, &play.source, &[I(play.index), K(key)], &what);
            }
        }
    }

    /// The play's `vars_files`, re-read from disk (with their own source positions).
    fn vars_files(&mut self, play: &LoadedPlay, ctx: &str) {
        for f in &play.play.vars_files {
            let path = play.dir.join(f);
            if let Ok(v) = crate::playbook::load_vars_file(&path) {
                let text = crate::input_file::read_text(&path).unwrap_or_default();
                let src = Source {
                    path: path.clone(),
                    index: crate::yaml_spans::index(&text),
                };
                self.vars(&v, &src, &[], &format!("{ctx}, vars_files {f}"));
            }
        }
    }

    /// The play's templated fields (`sudo`, `sudo_template`).
    fn play_fields(&mut self, play: &LoadedPlay, ctx: &str) {
        use FieldStep::{Index as I, Key as K};
        for (key, v) in [
            ("sudo", &play.play.sudo),
            ("sudo_template", &play.play.sudo_template),
        ] {
            if let Some(text) = v {
                let path = [I(play.index), K(key)];
                let context = format!("{ctx}, field {key}");
                self.string(text, &|s| play.source.locate_in(&path, s), &context);
            }
        }
    }

    /// A role's defaults and the vars the play passes it.
    fn role(&mut self, play: &LoadedPlay, role: &crate::playbook::LoadedRole, ctx: &str) {
        use FieldStep::{Index as I, Key as K};
        let rctx = format!("{ctx}, role {:?}", role.name);
        self.vars(
            &role.defaults,
            &role.source,
            &[K("defaults")],
            &format!("{rctx}, defaults"),
        );
        self.vars(
            &role.vars,
            &play.source,
            &[I(play.index), K("roles")],
            &format!("{rctx}, vars"),
        );
    }

    /// Every templated field of a task or handler.
    fn task_fields(&mut self, play: &LoadedPlay, task: &LoadedTask, kind: &str) {
        for (field, text) in task.task.templated_fields() {
            let context = task_context(play, task, kind, &field);
            let template = crate::playbook::field_as_template(&field, text);
            let exact = matches!(template, std::borrow::Cow::Borrowed(_));
            self.string(
                &template,
                &|s| task.field_location(&field, s.filter(|_| exact)),
                &context,
            );
        }
    }

    /// One play: its variables, fields, roles (each once) and tasks and handlers.
    fn play(&mut self, play: &LoadedPlay) {
        let ctx = format!("play {:?}", play.play.name);
        self.play_vars(play, &ctx);
        self.vars_files(play, &ctx);
        self.play_fields(play, &ctx);
        let mut roles_seen = std::collections::BTreeSet::new();
        for (kind, list) in [("task", &play.tasks), ("handler", &play.handlers)] {
            for task in list {
                if let Some(role) = &task.origin.role {
                    if roles_seen.insert(role.dir.clone()) {
                        self.role(play, role, &ctx);
                    }
                }
                self.task_fields(play, task, kind);
            }
        }
    }

    /// One `--extra-vars` layer: located in its file for `@FILE`, at the argument otherwise.
    fn extra_vars(&mut self, origin: &str, vars: &Vars) {
        let argument = || Location::new(format!("--extra-vars {origin}"), 0, 0);
        for name in vars.keys().filter(|k| k.starts_with(ENV_PREFIX)) {
            self.out.push(reserved_name(
                name,
                argument(),
                &format!("--extra-vars {origin}"),
            ));
        }
        let value = serde_json::Value::Object(vars.clone());
        let mut strings = vec![];
        collect_strings(&value, vec![], &mut strings);
        for (path, text) in strings {
            let context = format!(
                "--extra-vars {origin}, variable {}",
                field_path_string(&path)
            );
            let file = origin.strip_prefix('@').map(std::path::PathBuf::from);
            let index = file
                .as_ref()
                .and_then(|f| crate::input_file::read_text(f).ok())
                .and_then(|t| crate::yaml_spans::index(&t));
            let src = file.map(|path| Source { path, index });
            self.string(
                text,
                &|s| match &src {
                    Some(src) => src.locate_in(&path, s),
                    // Inline: the argument's position, e.g. `--extra-vars #2`.
                    None => argument(),
                },
                &context,
            );
        }
    }
}

/// Byte offset of a 1-based line/column inside `text`.
pub fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let mut off = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return off
                + l.char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(l.len(), |(b, _)| b);
        }
        off += l.len();
    }
    0
}

pub fn task_context(
    play: &LoadedPlay,
    task: &LoadedTask,
    kind: &str,
    field: &[FieldStep],
) -> String {
    let role = task
        .origin
        .role
        .as_ref()
        .map(|r| format!(", role {:?}", r.name))
        .unwrap_or_default();
    format!(
        "play {:?}{role}, {kind} {:?} ({} module), field {}",
        play.play.name,
        task.task.display_name(),
        task.task.module(),
        field_path_string(field)
    )
}

/// Walks every templated string of every play and `--extra-vars`; returns all violations.
///
/// `_loadenv` is unused: the rule is the same with and without `--loadenv`. It stays in the
/// signature for the callers outside this file; new code calls [`check_plays`].
pub fn check(
    engine: &Engine,
    plays: &[LoadedPlay],
    extra_vars: &[(String, Vars)],
    _loadenv: bool,
) -> Vec<Diagnostic> {
    check_plays(engine, plays, extra_vars)
}

/// Walks every templated string of every play and `--extra-vars`; returns all violations.
pub fn check_plays(
    engine: &Engine,
    plays: &[LoadedPlay],
    extra_vars: &[(String, Vars)],
) -> Vec<Diagnostic> {
    let mut walk = Walk {
        engine,
        out: vec![],
    };
    for play in plays {
        walk.play(play);
    }
    for (origin, vars) in extra_vars {
        walk.extra_vars(origin, vars);
    }
    walk.out
}

/// Inventory variables (`group_vars/`, `host_vars/`, `all` included) follow the play-vars
/// rule: no `ENV_` reference in a value, no variable named `ENV_*`.
pub fn check_inventory(engine: &Engine, inventory: &Inventory) -> Vec<Diagnostic> {
    let mut walk = Walk {
        engine,
        out: vec![],
    };
    let Some(dir) = &inventory.dir else {
        return walk.out;
    };
    let layers = inventory
        .groups
        .iter()
        .map(|(name, g)| ("group_vars", name, &g.vars))
        .chain(
            inventory
                .host_vars
                .iter()
                .map(|(name, v)| ("host_vars", name, v)),
        );
    for (sub, name, vars) in layers {
        if vars.is_empty() {
            continue;
        }
        let path = ["yml", "yaml", ""]
            .iter()
            .map(|ext| {
                let file = if ext.is_empty() {
                    name.clone()
                } else {
                    format!("{name}.{ext}")
                };
                dir.join(sub).join(file)
            })
            .find(|p| p.is_file())
            .unwrap_or_else(|| dir.join(sub).join(name));
        let index = crate::input_file::read_text(&path)
            .ok()
            .and_then(|t| crate::yaml_spans::index(&t));
        let source = Source { path, index };
        walk.vars(vars, &source, &[], &format!("inventory {sub}/{name}"));
    }
    walk.out
}

/// The error for an `ENV_` reference in a template file when `--loadenv` was not given.
pub fn loadenv_missing(var: &str, location: Location, context: String) -> Diagnostic {
    Diagnostic::new(format!(
        "{var} is referenced, but the environment was not loaded"
    ))
    .at(Some(location))
    .context(context)
    .help("pass --loadenv to expose environment variables as ENV_* to template files")
}
