//! `jetlike show-inventory`: the inventory's groups, then each selected host with its groups
//! and resolved variables (`ENV_` names left out).

use std::fmt::Write as _;

use crate::arguments::InventoryArgs;
use crate::config::HostLimits;
use crate::error::Result;
use crate::inventory::Inventory;
use crate::output::Output;

/// Loads the inventory `args` names and prints the report.
pub fn show_inventory(args: &InventoryArgs, out: &Output) -> Result<()> {
    let inv = Inventory::load(&args.inventory)?;
    for w in &inv.warnings {
        out.warn(&w.message);
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
