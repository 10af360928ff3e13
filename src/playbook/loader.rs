//! Loading playbooks from disk: strict (run modes: all problems of a file, nothing runs) or
//! lenient (lint: every node that parses loads), roles and their task lists, `vars_files`, and
//! the load-time checks serde cannot express.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Diagnostic, Error, Location, Result};
use crate::field_path::FieldStep;
use crate::modules::Task;
use crate::playbook::lenient::{mapping_at, parse_node, parse_task_items, parse_value, untag};
use crate::playbook::load_report::LoadReport;
use crate::playbook::yaml_errors::{check_yaml_depth, yaml_error};
use crate::playbook::{
    merge, LoadedPlay, LoadedRole, LoadedTask, Origin, Play, RoleFile, RoleInvocation, Source, Vars,
};
use crate::yaml_spans;

/// Reads a project file through [`crate::input_file`], checking its YAML nesting depth.
fn read(path: &Path) -> Result<String> {
    let text = read_text(path)?;
    check_yaml_depth(path, &text)?;
    Ok(text)
}

/// A project file's text, through the one bounded reader.
fn read_text(path: &Path) -> Result<String> {
    crate::input_file::read_text(path).map_err(|e| Error::invalid(e.diagnostic()))
}

fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_yaml_ng::from_str(text).map_err(|e| Error::invalid(yaml_error(path, &e)))
}

pub fn load_vars_file(path: &Path) -> Result<Vars> {
    let text = read(path)?;
    parse_vars(path, &text)
}

/// Parses the text of a variables file (already read, and its depth checked, by [`read`]).
pub fn parse_vars(path: &Path, text: &str) -> Result<Vars> {
    if text.trim().is_empty() {
        return Ok(Vars::new());
    }
    let v: Value = parse_yaml(path, text)?;
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Vars::new()),
        _ => Err(Error::invalid(
            Diagnostic::new("a variables file must hold a YAML mapping (key: value)")
                .at(Some(Location::new(path, 1, 1))),
        )),
    }
}

/// How to load: stop at the first problem of a file (run modes), or parse every play, task
/// and handler on its own so that one bad node hides no other (lint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoadMode {
    Strict,
    Lenient,
}

fn load_task_list(
    path: &Path,
    role: &Arc<LoadedRole>,
    out: &mut Vec<LoadedTask>,
    report: &mut LoadReport,
    mode: LoadMode,
) -> bool {
    report.named_files.insert(path.to_path_buf());
    let text = match read_text(path) {
        Ok(t) => t,
        Err(e) => {
            report.push_all("missing-file", e, path);
            return false;
        }
    };
    if let Err(e) = check_yaml_depth(path, &text) {
        report.push_all("invalid-playbook", e, path);
        return false;
    }
    let source = Arc::new(Source {
        path: path.to_path_buf(),
        index: yaml_spans::index(&text),
    });
    let (tasks, complete): (Vec<(usize, Task)>, bool) = if text.trim().is_empty() {
        (vec![], true)
    } else {
        match serde_yaml_ng::from_str::<Vec<Task>>(&text) {
            Ok(t) => (t.into_iter().enumerate().collect(), true),
            Err(e) if mode == LoadMode::Strict => {
                report.push("invalid-playbook", yaml_error(path, &e));
                return false;
            }
            Err(_) => match parse_value(path, &text, report) {
                Some(v) => parse_task_items(Some(&v), &source, &[], report),
                None => (vec![], false),
            },
        }
    };
    for (i, task) in tasks {
        out.push(LoadedTask {
            task,
            origin: Origin {
                source: source.clone(),
                path: vec![FieldStep::Index(i)],
                role: Some(role.clone()),
            },
            number: 0,
        });
    }
    complete
}

/// `-r/--roles` directories, set once from the command line before loading.
static ROLE_PATHS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();

/// Sets the extra role directories (`-r/--roles`, `JET_ROLES_PATH`): each must be a
/// directory. Searched, in order, before the playbook's own `roles/`, as Jet does.
pub fn set_role_paths(paths: Vec<PathBuf>) -> Result<()> {
    if let Some(p) = paths.iter().find(|p| !p.is_dir()) {
        return Err(Error::invalid(
            Diagnostic::new(format!("roles directory not found: {}", p.display()))
                .help("-r/--roles (or JET_ROLES_PATH) takes directories holding roles, separated by ':' or ','"),
        ));
    }
    let _ = ROLE_PATHS.set(paths);
    Ok(())
}

fn find_role(play_dir: &Path, name: &str) -> std::result::Result<PathBuf, Vec<PathBuf>> {
    let mut tried: Vec<PathBuf> = ROLE_PATHS
        .get()
        .into_iter()
        .flatten()
        .map(|p| p.join(name))
        .collect();
    tried.push(play_dir.join("roles").join(name));
    if let Some(p) = play_dir.parent() {
        tried.push(p.join("roles").join(name));
    }
    tried
        .iter()
        // `exists`, not `is_file`: a role.yml that is a FIFO or device is found, then refused
        // by the reader with a precise error rather than reported missing.
        .find(|d| d.join("role.yml").exists())
        .cloned()
        .ok_or(tried)
}

fn load_role(
    play_dir: &Path,
    inv: &RoleInvocation,
    at: Location,
    report: &mut LoadReport,
    mode: LoadMode,
) -> Option<(Arc<LoadedRole>, RoleFile)> {
    let dir = match find_role(play_dir, &inv.role) {
        Ok(d) => d,
        Err(tried) => {
            report.push(
                "missing-role",
                Diagnostic::new(format!("role {:?} not found", inv.role))
                    .at(Some(at))
                    .help(format!(
                        "create roles/{}/role.yml; searched: {}",
                        inv.role,
                        tried
                            .iter()
                            .map(|p| p.join("role.yml").display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
            );
            return None;
        }
    };
    report.role_dirs.insert(dir.clone());
    let role_path = dir.join("role.yml");
    let text = match read(&role_path) {
        Ok(t) => t,
        Err(e) => {
            report.push_all("missing-role", e, &role_path);
            return None;
        }
    };
    let index = yaml_spans::index(&text);
    let file: RoleFile = match serde_yaml_ng::from_str(&text) {
        Ok(f) => f,
        Err(e) if mode == LoadMode::Strict => {
            report.push("invalid-playbook", yaml_error(&role_path, &e));
            return None;
        }
        Err(_) => {
            let v = parse_value(&role_path, &text, report)?;
            let src = Source {
                path: role_path.clone(),
                index: index.clone(),
            };
            parse_node::<RoleFile>(&v, &src, &[], report)?
        }
    };
    let role = Arc::new(LoadedRole {
        name: file.name.clone(),
        dir: dir.clone(),
        defaults: file.defaults.clone().unwrap_or_default(),
        vars: inv.vars.clone().unwrap_or_default(),
        tags: inv.tags.clone(),
        source: Arc::new(Source {
            index,
            path: role_path,
        }),
    });
    Some((role, file))
}

/// Loads every playbook, collecting all problems instead of stopping at the first.
pub fn load_playbooks(paths: &[PathBuf]) -> Result<Vec<LoadedPlay>> {
    let (plays, report) = load(paths, LoadMode::Strict);
    if report.problems.is_empty() {
        Ok(plays)
    } else {
        Err(Error::Invalid(
            report.problems.into_iter().map(|(_, d)| d).collect(),
        ))
    }
}

/// Loads what can be loaded, for `jetlike lint`: a play, task or handler that does not parse is
/// reported and left out, and every other node still loads (with its true position), so one
/// problem hides no other.
pub fn load_playbooks_lenient(paths: &[PathBuf]) -> (Vec<LoadedPlay>, LoadReport) {
    load(paths, LoadMode::Lenient)
}

fn playbook_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Loads each playbook: strict parses the whole file at once; lenient (on a parse error)
/// takes the plays apart and parses each play, task list and handler list on its own.
fn load(paths: &[PathBuf], mode: LoadMode) -> (Vec<LoadedPlay>, LoadReport) {
    let mut plays = vec![];
    let mut report = LoadReport::default();
    for path in paths {
        let text = match read_text(path) {
            Ok(t) => t,
            Err(e) => {
                report.push_all("missing-file", e, path);
                continue;
            }
        };
        if let Err(e) = check_yaml_depth(path, &text) {
            report.push_all("invalid-playbook", e, path);
            continue;
        }
        let source = Arc::new(Source {
            path: path.clone(),
            index: yaml_spans::index(&text),
        });
        let dir = playbook_dir(path);
        match serde_yaml_ng::from_str::<Vec<Play>>(&text) {
            Ok(parsed) if parsed.is_empty() => report.push(
                "invalid-playbook",
                Diagnostic::new(format!("playbook {} has no plays", path.display()))
                    .at(Some(Location::new(path, 1, 1)))
                    .help("a playbook is a list of plays: - name: ...\n  groups: [all]\n  tasks: [...]"),
            ),
            Ok(parsed) => {
                for (pi, play) in parsed.into_iter().enumerate() {
                    let (nt, nh) = (play.tasks.len(), play.handlers.len());
                    let idx = ((0..nt).collect(), (0..nh).collect());
                    plays.push(load_play(play, pi, &source, &dir, &mut report, mode, idx));
                }
            }
            Err(e) if mode == LoadMode::Strict => {
                report.push("invalid-playbook", yaml_error(path, &e));
            }
            Err(e) => {
                let Some(doc) = parse_value(path, &text, &mut report) else {
                    continue;
                };
                let serde_yaml_ng::Value::Sequence(items) = untag(&doc) else {
                    report.push("invalid-playbook", yaml_error(path, &e));
                    continue;
                };
                for (pi, item) in items.iter().enumerate() {
                    plays.extend(lenient_play(item, pi, &source, &dir, &mut report));
                }
            }
        }
    }
    (plays, report)
}

/// The play `item` (the `pi`th of its file) parsed node by node: the play without its task
/// lists, then each task and handler on its own. A play whose task or handler list lost a
/// node is marked incomplete; one whose own fields do not parse is left out.
fn lenient_play(
    item: &serde_yaml_ng::Value,
    pi: usize,
    source: &Arc<Source>,
    dir: &Path,
    report: &mut LoadReport,
) -> Option<LoadedPlay> {
    use FieldStep::{Index as I, Key as K};
    let mut stripped = item.clone();
    let (mut tasks_v, mut handlers_v) = (None, None);
    if let Some(m) = mapping_at(&mut stripped, &[]) {
        tasks_v = m.remove("tasks");
        handlers_v = m.remove("handlers");
    }
    let play = parse_node::<Play>(&stripped, source, &[I(pi)], report);
    let (tasks, t_ok) = parse_task_items(tasks_v.as_ref(), source, &[I(pi), K("tasks")], report);
    let (handlers, h_ok) =
        parse_task_items(handlers_v.as_ref(), source, &[I(pi), K("handlers")], report);
    if !(t_ok && h_ok) {
        report.incomplete.insert((source.path.clone(), pi));
    }
    let mut play = play?;
    let (ti, tv): (Vec<usize>, Vec<Task>) = tasks.into_iter().unzip();
    let (hi, hv): (Vec<usize>, Vec<Task>) = handlers.into_iter().unzip();
    play.tasks = tv;
    play.handlers = hv;
    Some(load_play(
        play,
        pi,
        source,
        dir,
        report,
        LoadMode::Lenient,
        (ti, hi),
    ))
}

/// Load-time checks of single task fields that serde cannot express, as each module declares
/// them (`ModuleFields::check_fields`: file modes, `save:` names, `save_limit:` sizes).
fn check_task_fields(t: &LoadedTask, report: &mut LoadReport) {
    let written = |field: &[FieldStep]| {
        let mut path = t.origin.path.clone();
        path.extend(field.iter().cloned());
        t.origin.source.plain_source(&path)
    };
    for problem in t.task.fields().check_fields(&written) {
        report.push(
            problem.code,
            Diagnostic::new(problem.message)
                .at(Some(t.field_location(&problem.field, None)))
                .help(problem.help),
        );
    }
}

/// `positions`: the YAML index of each of `play.tasks` and `play.handlers` (lenient loading
/// leaves out the ones that did not parse).
fn load_play(
    play: Play,
    pi: usize,
    source: &Arc<Source>,
    dir: &Path,
    report: &mut LoadReport,
    mode: LoadMode,
    positions: (Vec<usize>, Vec<usize>),
) -> LoadedPlay {
    use FieldStep::{Index as I, Key as K};
    if play.batch_size == Some(0) {
        report.push(
            "invalid-playbook",
            Diagnostic::new("`batch_size: 0` would run no host")
                .at(Some(source.locate(&[I(pi), K("batch_size")])))
                .help("set batch_size to 1 or more, or leave it out to run every host at once"),
        );
    }
    let vars = load_play_vars(&play, pi, source, dir, report);
    let (mut tasks, mut handlers) = load_roles(&play, pi, source, dir, report, mode);
    let (task_pos, handler_pos) = positions;
    for (list, key, pos, out) in [
        (&play.tasks, "tasks", &task_pos, &mut tasks),
        (&play.handlers, "handlers", &handler_pos, &mut handlers),
    ] {
        for (ti, task) in list.iter().enumerate() {
            out.push(LoadedTask {
                task: task.clone(),
                origin: Origin {
                    source: source.clone(),
                    path: vec![I(pi), K(key), I(pos.get(ti).copied().unwrap_or(ti))],
                    role: None,
                },
                number: 0,
            });
        }
    }
    check_play_tasks(&mut tasks, &mut handlers, report);
    LoadedPlay {
        play,
        index: pi,
        source: source.clone(),
        dir: dir.to_path_buf(),
        vars,
        tasks,
        handlers,
    }
}

/// The play's `vars` merged with its `vars_files`, in order; a missing or invalid file is
/// reported where the playbook names it.
fn load_play_vars(
    play: &Play,
    pi: usize,
    source: &Source,
    dir: &Path,
    report: &mut LoadReport,
) -> Vars {
    use FieldStep::{Index as I, Key as K};
    let mut vars = play.vars.clone().unwrap_or_default();
    for (fi, f) in play.vars_files.iter().enumerate() {
        let p = dir.join(f);
        report.named_files.insert(p.clone());
        let at_field = source.locate(&[I(pi), K("vars_files"), I(fi)]);
        if !p.exists() {
            report.push(
                "missing-file",
                Diagnostic::new(format!("vars file {f:?} not found"))
                    .at(Some(at_field))
                    .help(format!(
                        "vars_files are relative to the playbook's directory: {}",
                        p.display()
                    )),
            );
            continue;
        }
        match load_vars_file(&p) {
            Ok(v) => merge(&mut vars, &v),
            Err(Error::Invalid(ds)) => {
                for d in ds {
                    // A file that cannot be read (line 0) is shown where the playbook names it.
                    let at = match &d.location {
                        Some(l) if l.line > 0 => Some(l.clone()),
                        _ => Some(at_field.clone()),
                    };
                    report.push("invalid-playbook", d.at(at));
                }
            }
            Err(_) => {}
        }
    }
    vars
}

/// The tasks and handlers of the play's roles, in order; a play with a role that did not
/// load completely is marked incomplete in the report.
fn load_roles(
    play: &Play,
    pi: usize,
    source: &Source,
    dir: &Path,
    report: &mut LoadReport,
    mode: LoadMode,
) -> (Vec<LoadedTask>, Vec<LoadedTask>) {
    use FieldStep::{Index as I, Key as K};
    let mut tasks = vec![];
    let mut handlers = vec![];
    let mut complete = true;
    for (ri, inv) in play.roles.iter().enumerate() {
        let at = source.locate(&[I(pi), K("roles"), I(ri)]);
        let Some((role, file)) = load_role(dir, inv, at, report, mode) else {
            complete = false;
            continue;
        };
        for (sub, files, out) in [
            ("tasks", &file.tasks, &mut tasks),
            ("handlers", &file.handlers, &mut handlers),
        ] {
            for f in files {
                complete &= load_task_list(&role.dir.join(sub).join(f), &role, out, report, mode);
            }
        }
    }
    if !complete {
        report.incomplete.insert((source.path.clone(), pi));
    }
    (tasks, handlers)
}

/// Numbers tasks and handlers (1-based), then the checks across a play's lists: every handler
/// subscribes to something, no task does, and each task's own field checks.
fn check_play_tasks(
    tasks: &mut [LoadedTask],
    handlers: &mut [LoadedTask],
    report: &mut LoadReport,
) {
    use FieldStep::Key as K;
    for (i, t) in tasks.iter_mut().enumerate() {
        t.number = i + 1;
    }
    for (i, h) in handlers.iter_mut().enumerate() {
        h.number = i + 1;
        if h.task.with().and_then(|w| w.subscribe.as_ref()).is_none() {
            report.push(
                "invalid-playbook",
                Diagnostic::new(format!(
                    "handler {:?} has no `with: {{subscribe: EVENT}}`, so nothing could ever run it",
                    h.task.display_name()
                ))
                .at(Some(h.location()))
                .help("add `with: {subscribe: EVENT}` and `and: {notify: EVENT}` to the task that should trigger it"),
            );
        }
    }
    for t in tasks.iter().chain(handlers.iter()) {
        check_task_fields(t, report);
    }
    for t in tasks.iter() {
        if t.task.with().and_then(|w| w.subscribe.as_ref()).is_some() {
            report.push(
                "invalid-playbook",
                Diagnostic::new("`subscribe` is only valid on handlers")
                    .at(Some(t.field_location(&[K("with"), K("subscribe")], None)))
                    .help("move this task under `handlers:`, or use `condition:`"),
            );
        }
    }
}
