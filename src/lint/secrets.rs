//! Secret declarations in lint: malformed `secrets:` entries, secrets a play's template files
//! use without declaring them (`secret-undeclared`), declared secrets no template uses
//! (`secret-unused`), and `lint --secret NAME`: every host, file, mode and owner that would
//! receive a secret (the blast radius of a rotation).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{PlayFlow, Report};
use crate::env_name::ENV_PREFIX;
use crate::error::Location;
use crate::playbook::{FieldStep, LoadedPlay, Task};
use crate::secret_decl::var_name;
use crate::secret_source::Source;
use crate::source::{resolve_source, Resolved, SourceKind};
use crate::template::{Dialect, Engine};

/// The declaration checks, for every play.
pub fn check(engine: &Engine, plays: &[LoadedPlay], report: &mut Report) {
    for d in crate::secret_decl::check(plays) {
        report.push_diagnostic(
            "secret-declaration",
            d,
            "see the secrets: format in README.md",
        );
    }
    check_providers(plays, report);
    check_source_conflicts(engine, plays, report);
    for play in plays {
        let Some(decl) = &play.play.secrets else {
            continue;
        };
        // A template that could not be read or whose path is computed might use any of them.
        if let Some(used) = declared_uses(engine, play, decl, report) {
            unused_declarations(play, decl, &used, report);
        }
    }
}

/// Named providers (declared or in `{{secret}}` calls) against jetlike-secrets.yml.
fn check_providers(plays: &[LoadedPlay], report: &mut Report) {
    // Named providers against jetlike-secrets.yml in the current directory (a run may name
    // another file with --secrets-config: hence warnings).
    let config = crate::secret_source::Config::load(None);
    if let Err(e) = &config {
        report.push_diagnostic(
            "secret-config",
            crate::error::Diagnostic::new(e.to_string()),
            "fix the file: providers: {NAME: {command: [prog, \"{key}\"]}} or {NAME: {file: \"/run/secrets/{key}\"}}",
        );
    }
    let config = config.ok();
    let unknown = |provider: &str, at: Location, report: &mut Report| {
        let Some(c) = &config else { return };
        if !c.providers.contains_key(provider) {
            report.warn(
                "secret-provider-unknown",
                format!(
                    "provider {provider:?} is not configured in {}",
                    c.path
                        .as_ref()
                        .map_or(crate::secret_source::CONFIG_FILE.to_string(), |p| p
                            .display()
                            .to_string())
                ),
                at,
                format!(
                    "configure it in {} (providers: {{{provider}: {{command: [prog, \"{{key}}\"]}}}}) or pass --secrets-config FILE to the run",
                    crate::secret_source::CONFIG_FILE
                ),
            );
        }
    };
    for play in plays {
        for (k, d) in play.play.secrets.iter().flatten() {
            if let Ok(Source::Named { provider, .. }) = d.source() {
                let at = play.source.locate(&[
                    FieldStep::Index(play.index),
                    FieldStep::Key("secrets"),
                    FieldStep::Name(k.clone()),
                ]);
                unknown(&provider, at, report);
            }
        }
        for (path, text) in templates_of(play) {
            let dialect = Dialect::of_path(&path.to_string_lossy());
            let (calls, _) = crate::secret_source::template_calls(dialect, &text);
            for c in calls {
                if let Some(Source::Named { provider, .. }) = &c.call {
                    unknown(provider, Location::new(&path, c.line, c.column), report);
                }
            }
        }
    }
}

/// One name, one source across the run's plays.
fn check_source_conflicts(engine: &Engine, plays: &[LoadedPlay], report: &mut Report) {
    // One name, one source in a run (as the run checks): name → (source, play, first use).
    let mut sources: std::collections::BTreeMap<String, (Source, String)> =
        std::collections::BTreeMap::default();
    for play in plays {
        for (path, text) in templates_of(play) {
            let dialect = Dialect::of_path(&path.to_string_lossy());
            let Ok(refs) = engine.references(dialect, &text) else {
                continue;
            };
            for r in refs.iter().filter(|r| r.name.starts_with(ENV_PREFIX)) {
                let source = match crate::secret_decl::lookup(play, &r.name) {
                    Some(Some(s)) => s,
                    Some(None) => continue,
                    None => Source::Env(r.name.trim_start_matches(ENV_PREFIX).to_string()),
                };
                match sources.get(&r.name) {
                    None => {
                        sources.insert(r.name.clone(), (source, play.play.name.clone()));
                    }
                    Some((prev, prev_play)) if *prev != source => report.error(
                        "secret-source-conflict",
                        format!(
                            "{} comes from {} in play {:?}, but from {} in play {prev_play:?}",
                            r.name,
                            source.describe(),
                            play.play.name,
                            prev.describe()
                        ),
                        Location::new(&path, r.line, r.column),
                        "one name, one source in a run: rename one of the secrets".into(),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
}

/// The secrets a declaring play's templates use (undeclared uses reported); `None` when a
/// template could not be read or its path is computed, so the set is incomplete.
fn declared_uses(
    engine: &Engine,
    play: &LoadedPlay,
    decl: &crate::secret_decl::Declaration,
    report: &mut Report,
) -> Option<BTreeSet<String>> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut complete = true;
    for task in play.tasks.iter().chain(play.handlers.iter()) {
        let Task::Template(f) = &task.task else {
            continue;
        };
        if f.src.contains("{{") {
            complete = false;
            continue;
        }
        let role = task.origin.role.as_deref();
        let Resolved::Found(path) = resolve_source(SourceKind::Templates, play, role, &f.src)
        else {
            complete = false;
            continue;
        };
        let Ok(text) = crate::input_file::read_text(&path) else {
            complete = false;
            continue;
        };
        let dialect = Dialect::of_path(&path.to_string_lossy());
        let Ok(refs) = engine.references(dialect, &text) else {
            complete = false;
            continue;
        };
        for r in refs.iter().filter(|r| r.name.starts_with(ENV_PREFIX)) {
            used.insert(r.name.clone());
            if crate::secret_decl::lookup(play, &r.name) == Some(None) {
                report.error(
                    "secret-undeclared",
                    format!(
                        "{} is used by this template, but play {:?} does not declare it in secrets:",
                        r.name, play.play.name
                    ),
                    Location::new(&path, r.line, r.column),
                    format!(
                        "declare it ({}: {{provider: env, key: {}}}, or another provider) or stop using it",
                        r.name.trim_start_matches(ENV_PREFIX),
                        r.name.trim_start_matches(ENV_PREFIX)
                    ),
                );
            }
        }
        let (calls, _) = crate::secret_source::template_calls(dialect, &text);
        for c in calls {
            let Some(src) = &c.call else { continue };
            let declared: Vec<&String> = decl
                .iter()
                .filter(|(_, d)| d.source().ok().as_ref() == Some(src))
                .map(|(k, _)| k)
                .collect();
            if declared.is_empty() {
                report.error(
                    "secret-undeclared",
                    format!(
                        "this template uses {}, which play {:?} does not declare",
                        src.describe(),
                        play.play.name
                    ),
                    Location::new(&path, c.line, c.column),
                    "add it to the play's secrets: (NAME: {provider: ..., key: ...}) or remove the call".into(),
                );
            }
            used.extend(declared.into_iter().map(|k| var_name(k)));
        }
    }
    complete.then_some(used)
}

/// Declared secrets no template of the play uses.
fn unused_declarations(
    play: &LoadedPlay,
    decl: &crate::secret_decl::Declaration,
    used: &BTreeSet<String>,
    report: &mut Report,
) {
    for name in decl.keys() {
        if !used.contains(&var_name(name)) {
            report.warn(
                "secret-unused",
                format!(
                    "secret {} is declared by play {:?} but no template of the play uses it",
                    var_name(name),
                    play.play.name
                ),
                play.source.locate(&[
                    FieldStep::Index(play.index),
                    FieldStep::Key("secrets"),
                    FieldStep::Name(name.clone()),
                ]),
                "remove the declaration (least privilege: a play reads only the secrets it uses)"
                    .into(),
            );
        }
    }
}

/// The template files of a play whose `src` is literal and found: (path, text).
fn templates_of(play: &LoadedPlay) -> Vec<(std::path::PathBuf, String)> {
    let mut out = vec![];
    for task in play.tasks.iter().chain(play.handlers.iter()) {
        let Task::Template(f) = &task.task else {
            continue;
        };
        if f.src.contains("{{") {
            continue;
        }
        let role = task.origin.role.as_deref();
        if let Resolved::Found(path) = resolve_source(SourceKind::Templates, play, role, &f.src) {
            if let Ok(text) = crate::input_file::read_text(&path) {
                out.push((path, text));
            }
        }
    }
    out
}

/// Every destination that would receive `name` (with or without `ENV_`; a
/// `{{secret "p" "k"}}` call is named `ENV_secret:p:k`): as text and as JSON.
pub fn blast_radius(flows: &[PlayFlow], plays: &[LoadedPlay], name: &str) -> (String, Value) {
    let want = var_name(name);
    let names = secret_names(plays, &want);
    let rows = receivers(flows, &names);
    let others: Vec<&str> = names
        .iter()
        .filter(|n| **n != want)
        .map(String::as_str)
        .collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(" (also named {})", others.join(", "))
    };
    let mut text = format!("{want}{also}: {} file(s) would receive it\n", rows.len());
    for r in &rows {
        text.push_str(&receiver_line(r));
    }
    (
        text,
        json!({"secret": want, "names": names, "receivers": rows}),
    )
}

/// `want` and the same secret under its other names: a declared NAME and the
/// `{{secret "p" "k"}}` call of the same provider and key.
fn secret_names(plays: &[LoadedPlay], want: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [want.to_string()].into();
    for play in plays {
        for (k, d) in play.play.secrets.iter().flatten() {
            let Ok(src) = d.source() else { continue };
            let call = call_name_of(&src);
            if var_name(k) == want || call.as_deref() == Some(want) {
                names.insert(var_name(k));
                names.extend(call);
            }
        }
    }
    names
}

/// One JSON row per file a template using any of `names` writes.
fn receivers(flows: &[PlayFlow], names: &BTreeSet<String>) -> Vec<Value> {
    let mut rows = vec![];
    for flow in flows {
        for t in &flow.templates {
            if !t.env.iter().any(|e| names.contains(e)) {
                continue;
            }
            let dests: Vec<String> = if t.resolved_dest.is_empty() {
                vec![t.dest.clone()]
            } else {
                t.resolved_dest.iter().map(|d| d.path.clone()).collect()
            };
            for dest in dests {
                rows.push(json!({
                    "play": flow.play,
                    "groups": flow.groups,
                    "hosts": flow.hosts,
                    "file": dest,
                    "template": t.src,
                    "mode": t.mode,
                    "owner": t.owner,
                    "group": t.group,
                }));
            }
        }
    }
    rows
}

/// A receiver row of [`receivers`] as a line of the text report.
fn receiver_line(r: &Value) -> String {
    let strings = |v: &Value| {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    let hosts = match strings(&r["hosts"]) {
        Some(h) => h,
        None => format!("groups {}", strings(&r["groups"]).unwrap_or_default()),
    };
    format!(
        "  {} (play {:?}, template {}): hosts {hosts}; mode {}; owner {}; group {}\n",
        r["file"].as_str().unwrap_or_default(),
        r["play"].as_str().unwrap_or_default(),
        r["template"].as_str().unwrap_or_default(),
        r["mode"].as_str().unwrap_or_default(),
        r["owner"].as_str().unwrap_or("(unchanged)"),
        r["group"].as_str().unwrap_or("(unchanged)"),
    )
}

/// The `{{secret "p" "k"}}` name of a source, if it has one (commands do not).
fn call_name_of(src: &Source) -> Option<String> {
    match src {
        Source::Env(k) => Some(crate::secret_source::call_name("env", k)),
        Source::File(p) => Some(crate::secret_source::call_name(
            "file",
            &p.to_string_lossy(),
        )),
        Source::Named { provider, key } => Some(crate::secret_source::call_name(provider, key)),
        Source::Command { .. } => None,
    }
}
