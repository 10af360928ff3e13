//! `jetlike lint`: the lint options built from its arguments, and the report printed in the
//! format asked for. The checks themselves are `lint`'s.

use std::path::Path;

use crate::arguments::LintArgs;
use crate::config::{playbook_paths, ExtraVars, HostLimits};
use crate::error::Result;
use crate::exit_code::ExitCode;
use crate::lint::annotations::LintFormat;
use crate::lint::Report;
use crate::output::Output;

/// Lints what `args` names, printing to `out`.
pub fn lint(args: &LintArgs, out: &Output) -> Result<ExitCode> {
    let opts = options(args)?;
    let report = crate::lint::lint(&opts);
    if let Some(name) = &args.secret {
        print_blast_radius(&report, &opts, name, args.format, out);
    } else {
        print_report(&report, &opts, args.format, out);
    }
    // The blast radius ignores --deny-warnings: its exit status is the findings' errors.
    let denied = args.secret.is_none() && args.deny_warnings && report.warnings() > 0;
    Ok(if report.errors() > 0 || denied {
        ExitCode::Invalid
    } else {
        ExitCode::Ok
    })
}

fn options(args: &LintArgs) -> Result<crate::lint::Options> {
    let limits = HostLimits::from_args(&args.limit_hosts, &args.limit_groups);
    crate::playbook::set_role_paths(crate::config::role_paths(
        &args.roles,
        args.roles_env.as_ref(),
    ))?;
    Ok(crate::lint::Options {
        playbooks: playbook_paths(&args.playbooks),
        inventory: args.inventory.clone(),
        // As the run names them: inline values by their position.
        extra_vars: ExtraVars::parse(&args.extra_vars)?.layers,
        env_file: args.env_file.clone(),
        limit_hosts: limits.hosts,
        limit_groups: limits.groups,
    })
}

/// `--secret NAME`: where one secret goes, instead of the findings.
fn print_blast_radius(
    report: &Report,
    opts: &crate::lint::Options,
    name: &str,
    format: LintFormat,
    out: &Output,
) {
    let (plays, _) = crate::playbook::load_playbooks_lenient(&opts.playbooks);
    let (text, doc) = crate::lint::blast_radius(&report.flows, &plays, name);
    match format {
        LintFormat::Json => out.text(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        )),
        _ => out.text(&text),
    }
}

fn print_report(report: &Report, opts: &crate::lint::Options, format: LintFormat, out: &Output) {
    match format {
        LintFormat::Sarif => out.text(&crate::lint::sarif::render_sarif(report)),
        LintFormat::Github => out.text(&crate::lint::annotations::render_github(report)),
        LintFormat::Gitlab => out.text(&crate::lint::annotations::render_gitlab(
            report,
            opts.playbooks.first().map_or(Path::new("."), |p| p),
        )),
        LintFormat::Json => {
            let doc = serde_json::json!({
                "version": 1,
                "errors": report.errors(),
                "warnings": report.warnings(),
                "findings": report.findings,
                "flows": report.flows,
            });
            out.text(&format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            ));
        }
        LintFormat::Human => out.text(&crate::lint::render_human(report)),
    }
}
