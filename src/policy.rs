//! The secrets policy, checked before any host is contacted: `ENV_` variables may be referenced
//! only by the contents of template files; any other templated string that names one is a
//! violation, wherever it sits (false conditions, handlers, roles, vars, `--extra-vars`).

use crate::error::{Diagnostic, Location};
use crate::inventory::Inventory;
use crate::playbook::{
    collect_strings, field_path_string, FieldStep, LoadedPlay, LoadedTask, Source, Vars,
};
use crate::template::{Dialect, Engine};

pub use crate::env_name::ENV_PREFIX;

/// Maps an optional (string, byte offset) inside a field to a source location.
type Locator<'a> = &'a dyn Fn(Option<(&str, usize)>) -> Location;

fn violation(var: &str, location: Location, context: String, loadenv: bool) -> Diagnostic {
    let _ = loadenv;
    Diagnostic::new(format!(
        "{var} is referenced outside a template file; ENV_ variables reach the !template module's file contents only"
    ))
    .at(Some(location))
    .context(context)
    .help("render the value into a file with a !template task (src: a file under templates/) and let other tasks use that file")
}

/// A variable defined under an `ENV_` name would pass for an environment value in templates
/// (and hide the real one): those names belong to `--loadenv`.
fn reserved_name(name: &str, location: Location, context: &str) -> Diagnostic {
    Diagnostic::new(format!(
        "variable {name} is defined in {context}; names starting with ENV_ are reserved for environment values loaded with --loadenv"
    ))
    .at(Some(location))
    .context(context.to_string())
    .help("rename the variable (for example drop the ENV_ prefix)")
}

/// Checks one templated string; pushes a diagnostic per `ENV_` reference.
fn check_string(
    engine: &Engine,
    text: &str,
    locate: Locator<'_>,
    context: &str,
    loadenv: bool,
    out: &mut Vec<Diagnostic>,
) {
    if !text.contains("{{") {
        return;
    }
    match engine.references(Dialect::Handlebars, text) {
        Ok(refs) => {
            for r in refs.iter().filter(|r| r.name.starts_with(ENV_PREFIX)) {
                let offset = byte_offset(text, r.line, r.column);
                out.push(violation(
                    &r.name,
                    locate(Some((text, offset))),
                    context.to_string(),
                    loadenv,
                ));
            }
            for (_, _, (line, column)) in crate::template::secret_calls(text) {
                let offset = byte_offset(text, line, column);
                out.push(
                    Diagnostic::new(
                        "{{secret ...}} is used outside a template file; secrets reach the !template module's file contents only",
                    )
                    .at(Some(locate(Some((text, offset)))))
                    .context(context.to_string())
                    .help("render the value into a file with a !template task (src: a file under templates/) and let other tasks use that file"),
                );
            }
            for u in engine.unknown_names(Dialect::Handlebars, text) {
                let offset = byte_offset(text, u.line, u.column);
                out.push(
                    Diagnostic::new(u.to_string())
                        .at(Some(locate(Some((text, offset)))))
                        .context(context.to_string())
                        .help(crate::template::UNKNOWN_NAME_HELP),
                );
            }
            for (line, column) in crate::template::dynamic_lookups(text) {
                let offset = byte_offset(text, line, column);
                out.push(
                    Diagnostic::new(
                        "lookup with a computed key outside a template file: the variable it reads cannot be checked before the run, and could be an ENV_ variable",
                    )
                    .at(Some(locate(Some((text, offset)))))
                    .context(context.to_string())
                    .help("name the variable directly ({{name}}) or give lookup a literal key ({{lookup this \"name\"}})"),
                );
            }
        }
        Err(e) => out.push(
            Diagnostic::new(format!("invalid template syntax: {e}"))
                .at(Some(locate(None)))
                .context(context.to_string())
                .help("fix the {{ }} expression"),
        ),
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

fn check_vars(
    engine: &Engine,
    vars: &Vars,
    source: &Source,
    base: &[FieldStep],
    what: &str,
    loadenv: bool,
    out: &mut Vec<Diagnostic>,
) {
    for name in vars.keys().filter(|k| k.starts_with(ENV_PREFIX)) {
        let mut full = base.to_vec();
        full.push(FieldStep::Name(name.clone()));
        out.push(reserved_name(name, source.locate_in(&full, None), what));
    }
    let value = serde_json::Value::Object(vars.clone());
    let mut strings = vec![];
    collect_strings(&value, vec![], &mut strings);
    for (path, text) in strings {
        let mut full = base.to_vec();
        full.extend(path.iter().cloned());
        let context = format!("{what}, variable {}", field_path_string(&path));
        check_string(
            engine,
            text,
            &|s| source.locate_in(&full, s),
            &context,
            loadenv,
            out,
        );
    }
}

/// Walks every templated string of every play and `--extra-vars`; returns all violations.
pub fn check(
    engine: &Engine,
    plays: &[LoadedPlay],
    extra_vars: &[(String, Vars)],
    loadenv: bool,
) -> Vec<Diagnostic> {
    use FieldStep::{Index as I, Key as K};
    let mut out = vec![];
    for play in plays {
        let pi = play.index;
        let ctx = format!("play {:?}", play.play.name);
        for (key, vars) in [("vars", &play.play.vars), ("defaults", &play.play.defaults)] {
            if let Some(v) = vars {
                check_vars(
                    engine,
                    v,
                    &play.source,
                    &[I(pi), K(key)],
                    &format!("{ctx}, {key}"),
                    loadenv,
                    &mut out,
                );
            }
        }
        for f in &play.play.vars_files {
            let path = play.dir.join(f);
            if let Ok(v) = crate::playbook::load_vars_file(&path) {
                let text = crate::input_file::read_text(&path).unwrap_or_default();
                let src = Source {
                    path: path.clone(),
                    index: crate::yaml_spans::index(&text),
                };
                check_vars(
                    engine,
                    &v,
                    &src,
                    &[],
                    &format!("{ctx}, vars_files {f}"),
                    loadenv,
                    &mut out,
                );
            }
        }
        for (key, v) in [
            ("sudo", &play.play.sudo),
            ("sudo_template", &play.play.sudo_template),
        ] {
            if let Some(text) = v {
                let path = [I(pi), K(key)];
                check_string(
                    engine,
                    text,
                    &|s| play.source.locate_in(&path, s),
                    &format!("{ctx}, field {key}"),
                    loadenv,
                    &mut out,
                );
            }
        }
        let mut roles_seen = std::collections::BTreeSet::new();
        for (kind, list) in [("task", &play.tasks), ("handler", &play.handlers)] {
            for task in list {
                if let Some(role) = &task.origin.role {
                    if roles_seen.insert(role.dir.clone()) {
                        let rctx = format!("{ctx}, role {:?}", role.name);
                        check_vars(
                            engine,
                            &role.defaults,
                            &role.source,
                            &[K("defaults")],
                            &format!("{rctx}, defaults"),
                            loadenv,
                            &mut out,
                        );
                        check_vars(
                            engine,
                            &role.vars,
                            &play.source,
                            &[I(pi), K("roles")],
                            &format!("{rctx}, vars"),
                            loadenv,
                            &mut out,
                        );
                    }
                }
                for (field, text) in task.task.templated_fields() {
                    let context = task_context(play, task, kind, &field);
                    let template = crate::playbook::field_as_template(&field, text);
                    let exact = matches!(template, std::borrow::Cow::Borrowed(_));
                    check_string(
                        engine,
                        &template,
                        &|s| task.field_location(&field, s.filter(|_| exact)),
                        &context,
                        loadenv,
                        &mut out,
                    );
                }
            }
        }
    }
    for (origin, vars) in extra_vars {
        for name in vars.keys().filter(|k| k.starts_with(ENV_PREFIX)) {
            out.push(reserved_name(
                name,
                Location::new(format!("--extra-vars {origin}"), 0, 0),
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
            check_string(
                engine,
                text,
                &|s| match &src {
                    Some(src) => src.locate_in(&path, s),
                    // Inline: the argument's position, e.g. `--extra-vars #2`.
                    None => Location::new(format!("--extra-vars {origin}"), 0, 0),
                },
                &context,
                loadenv,
                &mut out,
            );
        }
    }
    out
}

/// Inventory variables (`group_vars/`, `host_vars/`, `all` included) follow the play-vars
/// rule: no `ENV_` reference in a value, no variable named `ENV_*`.
pub fn check_inventory(engine: &Engine, inventory: &Inventory) -> Vec<Diagnostic> {
    let mut out = vec![];
    let Some(dir) = &inventory.dir else {
        return out;
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
        check_vars(
            engine,
            vars,
            &source,
            &[],
            &format!("inventory {sub}/{name}"),
            true,
            &mut out,
        );
    }
    out
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
