//! Per-play checks: the play's groups, then every task and handler on every host class and
//! item: sources found and readable, templates loaded, variables defined, destinations of
//! secret-bearing files. Each template task's flow is added to the report.

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use serde_json::Value;

use super::flow::WORLD_READABLE_DIRS;
use super::linter::{paths_list, HostClass, Linter, PlayScope, ShellUse, TaskFlow};
use super::literals::scan_file;
use super::undefined::task_what;
use super::{scan, PlayFlow, TemplateFlow};
use crate::env_name::ENV_PREFIX;
use crate::error::Location;
use crate::inventory::Inventory;
use crate::playbook::{FieldStep, FileTask, LoadedPlay, LoadedRole, LoadedTask, Task, Vars};
use crate::source::{Resolved, SourceKind};
use crate::template::Reference;

/// A task's variables per (host class, role): they depend on nothing else, so each is
/// computed once per play.
type Bases = HashMap<(usize, *const LoadedRole), Rc<Value>>;

/// One item of a task on one host class: what its fields are rendered and checked with.
struct ItemRun<'a> {
    class: &'a HostClass,
    ctx: &'a Value,
    known: &'a dyn Fn(&str) -> bool,
    /// Undefined-variable checks apply (every variable source loaded, the class is real).
    check_vars: bool,
}

impl<'p> Linter<'p> {
    pub(super) fn lint_play(
        &mut self,
        pi: usize,
        play: &'p LoadedPlay,
        inv: Option<&Inventory>,
        selected: Option<&BTreeSet<String>>,
        incomplete: bool,
    ) {
        if let Some(inv) = inv {
            self.play_groups(play, inv);
        }
        let (classes, hosts) = Self::host_classes(play, inv, selected);
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
        let scope = PlayScope {
            pi,
            play,
            classes: &classes,
            all_hosts: &all_hosts,
        };
        // Per host class: directories earlier shell tasks of this play closed to others.
        let mut private: Vec<Vec<String>> = vec![vec![]; classes.len()];
        let mut bases = Bases::new();
        for t in play.tasks.iter().chain(play.handlers.iter()) {
            if let Some(f) = self.lint_task(&scope, t, &mut private, &mut bases) {
                flow.templates.push(f);
            }
        }
        self.report.flows.push(flow);
    }

    /// Groups the play targets that the inventory does not define.
    fn play_groups(&mut self, play: &LoadedPlay, inv: &Inventory) {
        use FieldStep::{Index as I, Key as K};
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

    /// One task or handler on every host class; its flow if it is a template task.
    fn lint_task(
        &mut self,
        scope: &PlayScope<'_>,
        t: &'p LoadedTask,
        private: &mut [Vec<String>],
        bases: &mut Bases,
    ) -> Option<TemplateFlow> {
        if let Task::Shell(s) = &t.task {
            self.shell_hygiene(t, &s.cmd, s.unsafe_);
        }
        self.isdefined_quoted(t);
        let mut acc = TaskFlow::default();
        for (ci, class) in scope.classes.iter().enumerate() {
            let base = self.task_base(scope.play, t.origin.role.as_deref(), ci, class, bases);
            self.task_on_class(scope, t, class, &base, &mut acc, &mut private[ci]);
        }
        match &t.task {
            Task::Shell(s) => {
                acc.shell_cmds.push(s.cmd.clone());
                acc.shell_cmds.sort();
                acc.shell_cmds.dedup();
                self.shells.push(ShellUse {
                    task: t,
                    cmds: acc.shell_cmds,
                });
                None
            }
            Task::Template(f) => Some(self.template_flow(scope, t, f, acc)),
            _ => None,
        }
    }

    /// The variables of a task of `role` on host class `ci`, from `bases` when known.
    fn task_base(
        &self,
        play: &LoadedPlay,
        role: Option<&LoadedRole>,
        ci: usize,
        class: &HostClass,
        bases: &mut Bases,
    ) -> Rc<Value> {
        let role_key = role.map_or(std::ptr::null(), std::ptr::from_ref);
        bases
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
            .clone()
    }

    /// One task on one host class: each of its items, rendered with the class's variables.
    // Until a second module without a source file or a command exists.
    #[allow(clippy::match_wildcard_for_single_variants)]
    fn task_on_class(
        &mut self,
        scope: &PlayScope<'_>,
        t: &LoadedTask,
        class: &HostClass,
        base: &Rc<Value>,
        acc: &mut TaskFlow,
        private: &mut Vec<String>,
    ) {
        let Value::Object(base_vars) = base.as_ref() else {
            return;
        };
        let Some(items) = crate::prepare::items_for_checks(&t.task, base_vars, &self.engine) else {
            self.items_undefined(scope, t, class, base_vars);
            return;
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
            let delegated = crate::prepare::delegates(&t.task);
            let known = |n: &str| {
                vars.contains_key(n)
                    || saved.contains(n)
                    || (has_items && n == "item")
                    || (delegated && n == crate::prepare::DELEGATE_HOST)
            };
            let check_vars = self.check_vars && class.check_vars;
            if check_vars {
                self.field_undefined(t, &known, class, scope.all_hosts);
            }
            let run = ItemRun {
                class,
                ctx: ctx.as_ref(),
                known: &known,
                check_vars,
            };
            match &t.task {
                Task::Shell(s) => {
                    if let Ok(c) = self.render(&s.cmd, run.ctx) {
                        private.extend(scan::private_dirs(&c));
                        acc.shell_cmds.push(c);
                    }
                }
                Task::Copy(f) => self.copy_item(scope.play, t, f, &run, acc),
                Task::Template(f) => self.template_item(scope, t, f, &run, acc, private),
                // Other modules: lint sees them through their templated fields.
                _ => {}
            }
        }
    }

    /// `items: NAME` naming no variable (or no list): the run would fail on it.
    fn items_undefined(
        &mut self,
        scope: &PlayScope<'_>,
        t: &LoadedTask,
        class: &HostClass,
        base_vars: &Vars,
    ) {
        use FieldStep::Key as K;
        let Some(crate::playbook::Items::Var(name)) = t.task.with().and_then(|w| w.items.as_ref())
        else {
            return;
        };
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
            self.note_undefined(vec![r], &|_| at.clone(), &what, class, scope.all_hosts);
        }
    }

    /// A copy source for one item: found, regular and scanned for secrets; or reported.
    fn copy_item(
        &mut self,
        play: &LoadedPlay,
        t: &LoadedTask,
        f: &FileTask,
        run: &ItemRun<'_>,
        acc: &mut TaskFlow,
    ) {
        use FieldStep::Key as K;
        let Ok(src) = self.render(&f.src, run.ctx) else {
            return;
        };
        match self.resolve(SourceKind::Files, play, t.origin.role.as_deref(), &src) {
            Resolved::Found(p) => {
                if let Err(e) = crate::input_file::check_regular(&p) {
                    self.report.error(
                        "missing-file",
                        format!("copy source: {e}"),
                        t.field_location(&[K("src")], None),
                        e.help(),
                    );
                }
                scan_file(&p, &mut self.report, &mut self.scanned);
            }
            Resolved::Kernel(bad) => self.kernel_source(t, &src, &bad),
            Resolved::Missing(tried) => {
                if acc.srcs_missing.insert(src.clone()) {
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

    /// A template task for one item: its file loaded and checked, the variables and `ENV_`
    /// names it uses, and where it is written.
    fn template_item(
        &mut self,
        scope: &PlayScope<'_>,
        t: &LoadedTask,
        f: &FileTask,
        run: &ItemRun<'_>,
        acc: &mut TaskFlow,
        private: &[String],
    ) {
        let Ok(src) = self.render(&f.src, run.ctx) else {
            return;
        };
        let Some(path) = self.template_path(scope.play, t, &src, acc) else {
            return;
        };
        let Some(info) = self.template_info(&path, t) else {
            return;
        };
        if run.check_vars {
            let refs =
                crate::prepare::filter_undefined(&info.refs, info.dialect, &info.text, run.known);
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
                run.class,
                scope.all_hosts,
            );
        }
        let env: Vec<String> = info
            .refs
            .iter()
            .filter(|r| r.name.starts_with(ENV_PREFIX))
            .map(|r| r.name.clone())
            .collect();
        acc.vars.extend(
            info.refs
                .iter()
                .filter(|r| r.top_level && !r.name.starts_with(ENV_PREFIX))
                .map(|r| r.name.clone()),
        );
        acc.loaded = true;
        self.template_dest(f, run, acc, private, !env.is_empty());
        acc.env.extend(env);
    }

    /// Where a template task's rendered `src` is found; a source under /proc, /sys or /dev,
    /// or one not found (once per spelling), is a finding.
    fn template_path(
        &mut self,
        play: &LoadedPlay,
        t: &LoadedTask,
        src: &str,
        acc: &mut TaskFlow,
    ) -> Option<std::path::PathBuf> {
        let role = t.origin.role.as_deref();
        match self.resolve(SourceKind::Templates, play, role, src) {
            Resolved::Found(p) => Some(p),
            Resolved::Kernel(bad) => {
                self.kernel_source(t, src, &bad);
                None
            }
            Resolved::Missing(tried) => {
                if acc.srcs_missing.insert(src.to_string()) {
                    self.report.error(
                        "missing-template",
                        format!("template source {src:?} not found"),
                        t.field_location(&[FieldStep::Key("src")], None),
                        format!("searched: {}", paths_list(&tried)),
                    );
                }
                None
            }
        }
    }

    /// A template task's destination for one item: the hosts it is written on, and whether a
    /// file with secrets lands in a world-readable directory the play did not close.
    fn template_dest(
        &mut self,
        f: &FileTask,
        run: &ItemRun<'_>,
        acc: &mut TaskFlow,
        private: &[String],
        has_secrets: bool,
    ) {
        let dest = match self.render(&f.dest, run.ctx) {
            Ok(d) => {
                acc.dests
                    .entry(d.clone())
                    .or_default()
                    .extend(run.class.hosts.iter().cloned());
                d
            }
            Err(_) => f.dest.clone(),
        };
        if has_secrets {
            let in_shared = WORLD_READABLE_DIRS.iter().any(|d| dest.starts_with(d));
            let in_private = private.iter().any(|d| {
                dest.strip_prefix(d.as_str())
                    .is_some_and(|r| r.starts_with('/'))
            });
            if in_shared && !in_private {
                acc.shared.insert(dest.clone());
            }
        }
    }
}
