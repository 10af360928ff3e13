//! `jetlike lint`: every check that needs no connection and no secret value, plus a report of
//! where secrets flow (which template gets which ENV_ variable, written where, with what mode),
//! hard-coded secret detection and shell hygiene warnings.
//!
//! Loading is lenient (see [`crate::playbook::load_playbooks_lenient`]): a play, task or
//! handler that does not parse is reported and the rest is still checked, and every file is
//! scanned for secrets as raw text whether it parses or not.

//!
//! This file holds the orchestration only ([`lint`]); the checks live beside it: `report`
//! (the document), `linter` (state and caches), `play` (per-play and per-task checks),
//! `undefined`, `flow` (where secrets go), `hygiene`, `literals` (hard-coded secrets),
//! `secrets` (declarations), `envfile`, and the renderers `render`, `sarif`, `annotations`.

pub mod annotations;
mod envfile;
mod flow;
mod hygiene;
mod linter;
mod literals;
mod play;
mod render;
mod report;
pub mod rules;
pub mod sarif;
pub mod scan;
mod secrets;
mod undefined;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::rc::Rc;

use crate::error::{Diagnostic, DiagnosticCode};
use crate::inventory::Inventory;
use crate::playbook::Vars;
use crate::template::Engine;

pub use crate::credentials::ALLOW_COMMENT;
use linter::Linter;
pub use literals::scan_text;
use literals::{scan_file, scan_tree};
pub use render::render_human;
pub use report::{Finding, PlayFlow, Report, ResolvedDest, Severity, TemplateFlow};

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

pub use secrets::blast_radius;

/// Lints playbooks (and the inventory if given). Load errors become findings, not failures.
///
/// The order of the passes: scan, load, policy, declarations, plays, then the cross-play
/// checks; each pass is a call.
pub fn lint(opts: &Options) -> Report {
    let mut report = Report::default();
    let mut scanned = BTreeSet::new();
    for p in &opts.playbooks {
        scan_file(p, &mut report, &mut scanned);
    }
    let (inv, inventory_ok) = load_inventory(opts, &mut report, &mut scanned);
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
    policy_and_declarations(opts, &plays, inv.as_ref(), &mut report);
    let selected = inv.as_ref().map(|i| check_limits(i, opts, &mut report));
    let mut l = Linter::new(opts, &plays, report, scanned);
    l.check_vars = inventory_ok;
    l.has_inventory = inv.is_some();
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
    sort_findings(&mut report);
    report
}

/// Loads the inventory leniently, its problems as findings, and scans its variable files;
/// the inventory (if it loaded at all) and whether it loaded without an error.
fn load_inventory(
    opts: &Options,
    report: &mut Report,
    scanned: &mut BTreeSet<PathBuf>,
) -> (Option<Inventory>, bool) {
    let inventory_hint = "fix this inventory file: groups/NAME holds `hosts: [...]` and `subgroups: [...]`; group_vars/ and host_vars/ files hold a mapping of variables";
    let mut inventory_ok = true;
    let inv = match opts.inventory.as_deref().map(Inventory::load_lenient) {
        None => None,
        Some(Ok((inv, errors))) => {
            inventory_ok = errors.is_empty();
            for d in errors {
                report.push_diagnostic("invalid-inventory", d, inventory_hint);
            }
            for d in &inv.warnings {
                if let Some(at) = d.location.clone() {
                    let hint = d.help.clone().unwrap_or_default();
                    report.warn("host-vars-unused", d.message.clone(), at, hint);
                }
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
            scan_tree(&dir.join(sub), report, scanned, 0);
        }
    }
    (inv, inventory_ok)
}

/// The run's pre-run policy over the plays and the inventory, and the secret declarations.
fn policy_and_declarations(
    opts: &Options,
    plays: &[crate::playbook::LoadedPlay],
    inv: Option<&Inventory>,
    report: &mut Report,
) {
    let engine = Engine::new();
    let mut violations = crate::policy::check_plays(&engine, plays, &opts.extra_vars);
    if let Some(inv) = inv {
        violations.extend(crate::policy::check_inventory(&engine, inv));
    }
    for d in violations {
        push_policy_diagnostic(report, d);
    }
    secrets::check(&engine, plays, report);
}

impl<'p> Linter<'p> {
    /// A linter for `plays`, taking over the report and the files scanned so far; variables
    /// are checked and no inventory is known until the caller says otherwise.
    fn new(
        opts: &Options,
        plays: &'p [crate::playbook::LoadedPlay],
        report: Report,
        scanned: BTreeSet<PathBuf>,
    ) -> Self {
        let mut extra = Vars::new();
        for (_, v) in &opts.extra_vars {
            crate::playbook::merge(&mut extra, v);
        }
        let saved = plays
            .iter()
            .flat_map(|p| p.tasks.iter().chain(p.handlers.iter()))
            .flat_map(|t| t.task.fields().saved_names())
            .collect::<BTreeSet<String>>();
        Linter {
            engine: Engine::new(),
            report,
            scanned,
            templates: HashMap::new(),
            field_refs: HashMap::new(),
            renders: HashMap::new(),
            resolved: HashMap::new(),
            extra,
            check_vars: true,
            has_inventory: false,
            saved: Rc::new(saved),
            undefined: BTreeMap::new(),
            secret_dests: vec![],
            shells: vec![],
            audiences: BTreeMap::new(),
            env_uses: BTreeMap::new(),
        }
    }
}

/// Findings in file and position order, without duplicates.
fn sort_findings(report: &mut Report) {
    report.findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.code, &a.message)
            .cmp(&(&b.file, b.line, b.column, b.code, &b.message))
    });
    report.findings.dedup_by(|a, b| {
        (&a.file, a.line, a.column, a.code, &a.message)
            == (&b.file, b.line, b.column, b.code, &b.message)
    });
}

/// A policy diagnostic as a finding, its code taken from the diagnostic's
/// [`DiagnosticCode`] (policy classifies every diagnostic it creates; an unclassified one
/// is an `ENV_` use outside a template, the policy's own rule).
fn push_policy_diagnostic(report: &mut Report, d: Diagnostic) {
    let code = d.code.unwrap_or(DiagnosticCode::EnvOutsideTemplate);
    let hint = match code {
        DiagnosticCode::TemplateSyntax => "fix the {{ }} expression",
        DiagnosticCode::EnvReservedName => "rename the variable",
        _ => "ENV_ variables may be used only inside template files",
    };
    report.push_diagnostic(code.as_str(), d, hint);
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
