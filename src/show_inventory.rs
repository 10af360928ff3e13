//! `jetlike show-inventory`: the inventory's groups, then each selected host with its groups
//! and resolved variables (`ENV_` names left out); with `--show-hosts`/`--show-groups`, Jet's
//! reports on those hosts and groups instead.

use std::fmt::Write as _;

use crate::arguments::InventoryArgs;
use crate::config::{split_list, HostLimits};
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::output::Output;

/// Loads the inventory `args` names and prints the report.
pub fn show_inventory(args: &InventoryArgs, out: &Output) -> Result<()> {
    let inv = Inventory::load(&args.inventory)?;
    for w in &inv.warnings {
        out.warn(&w.message);
    }
    let (show_hosts, show_groups) = (split_list(&args.show_hosts), split_list(&args.show_groups));
    if !show_hosts.is_empty() || !show_groups.is_empty() {
        let all = inv.all_hosts();
        if let Some(h) = show_hosts.iter().find(|h| !all.contains(*h)) {
            return Err(Error::Usage(format!(
                "--show-hosts: no host named {h:?} in the inventory"
            )));
        }
        if let Some(g) = show_groups.iter().find(|g| !inv.has_group(g)) {
            return Err(Error::Usage(format!(
                "--show-groups: no group named {g:?} in the inventory"
            )));
        }
        let mut s = String::new();
        for g in &show_groups {
            group_report(&inv, g, &mut s);
        }
        for h in &show_hosts {
            host_report(&inv, h, &mut s);
        }
        out.text(&s);
        return Ok(());
    }
    let hosts = HostLimits::from_args(&args.limit_hosts, &args.limit_groups).select(&inv)?;
    let mut s = String::from("groups:\n");
    let counts = inv.member_counts();
    for (name, g) in &inv.groups {
        let count = counts.get(name).copied().unwrap_or(0);
        let _ = write!(s, "  {name}: {count} host(s)");
        if !g.subgroups.is_empty() {
            let subgroups: Vec<&str> = g.subgroups.iter().map(String::as_str).collect();
            let _ = write!(s, ", subgroups: {}", subgroups.join(", "));
        }
        s.push('\n');
    }
    s.push_str("hosts:\n");
    for h in hosts {
        let of = inv.groups_of(&h);
        let groups: Vec<&str> = of.iter().map(|(_, g)| g.as_str()).collect();
        let _ = write!(s, "  {h}:\n    groups: {}\n    vars:\n", groups.join(", "));
        let vars = inv.host_variables(&h);
        for (k, v) in vars
            .iter()
            .filter(|(k, _)| !k.starts_with(crate::env_name::ENV_PREFIX))
        {
            let _ = writeln!(s, "      {k}: {v}");
        }
    }
    out.text(&s);
    Ok(())
}

/// Names joined with commas; `-` for none.
fn joined<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let s = names
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// Variables as YAML under a caption, `ENV_` names left out.
fn variables(vars: &crate::vars::Vars, s: &mut String) {
    let shown: crate::vars::Vars = vars
        .iter()
        .filter(|(k, _)| !k.starts_with(crate::env_name::ENV_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    s.push_str("  variables:\n");
    if shown.is_empty() {
        return;
    }
    let yaml = serde_yaml_ng::to_string(&shown).unwrap_or_default();
    for line in yaml.lines() {
        let _ = writeln!(s, "    {line}");
    }
}

/// `--show-groups G`: what Jet's group report holds — related groups, hosts (all below the
/// group, and its own) and the variables the group gives its hosts.
fn group_report(inv: &Inventory, group: &str, s: &mut String) {
    let g = &inv.groups[group];
    let all_hosts = inv.hosts_of(group);
    let _ = writeln!(s, "group: {group}");
    let _ = writeln!(
        s,
        "  all descendants: {}",
        joined(&inv.descendants_of(group))
    );
    let _ = writeln!(s, "  children: {}", joined(&g.subgroups));
    let _ = writeln!(s, "  all ancestors: {}", joined(&inv.ancestors_of(group)));
    let _ = writeln!(s, "  parents: {}", joined(&inv.parents_of(group)));
    let _ = writeln!(
        s,
        "  all hosts ({}): {}",
        all_hosts.len(),
        joined(&all_hosts)
    );
    let _ = writeln!(
        s,
        "  direct hosts ({}): {}",
        g.hosts.len(),
        joined(&g.hosts)
    );
    variables(&inv.group_variables(group), s);
}

/// `--show-hosts H`: what Jet's host report holds — the host's groups (all, and those naming
/// it) and its resolved variables.
fn host_report(inv: &Inventory, host: &str, s: &mut String) {
    let groups: std::collections::BTreeSet<String> =
        inv.groups_of(host).into_iter().map(|(_, g)| g).collect();
    let direct: Vec<&String> = inv
        .groups
        .iter()
        .filter(|(_, g)| g.hosts.contains(host))
        .map(|(n, _)| n)
        .collect();
    let _ = writeln!(s, "host: {host}");
    let _ = writeln!(s, "  all groups: {}", joined(&groups));
    let _ = writeln!(s, "  direct groups: {}", joined(direct));
    variables(&inv.host_variables(host), s);
}
