//! `!zypper`: openSUSE / SLES. The installed version comes from `rpm -q` (Jet parses
//! `zypper search` tables); with `update: true`, `zypper list-updates` says whether an upgrade
//! exists. Changes through `zypper --non-interactive`.

use super::{parse_rpm, rpm_query, section, Manager, State};
use crate::connection::scripts::quote;

pub struct Zypper;

const ZYPPER: &str = "zypper --non-interactive --quiet";

impl Manager for Zypper {
    fn query(&self, pkg: &str, _version: Option<&str>, update: bool) -> String {
        let mut s = rpm_query(pkg);
        if update {
            s.push_str(&format!(
                "{}echo '--- updates'\nLC_ALL=C {ZYPPER} list-updates\n",
                super::require("zypper")
            ));
        }
        s
    }

    /// `list-updates` prints a table, `v | Repository | Name | Current | Available | Arch`:
    /// the package is upgradable when a row names it.
    fn parse(&self, pkg: &str, _version: Option<&str>, out: &str) -> Result<State, String> {
        let installed = parse_rpm(out)?;
        let upgradable = section(out, "--- updates").is_some_and(|rows| {
            rows.iter().any(|row| {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                cells.len() >= 5 && cells[0] == "v" && cells[2] == pkg
            })
        });
        Ok(State {
            installed,
            upgradable,
        })
    }

    fn install(&self, pkg: &str, version: Option<&str>) -> String {
        match version {
            None => format!("{ZYPPER} install {}", quote(pkg)),
            Some(v) => format!("{ZYPPER} install {}", quote(&format!("{pkg}={v}"))),
        }
    }

    fn set_version(&self, pkg: &str, version: &str) -> String {
        format!(
            "{ZYPPER} install --oldpackage {}",
            quote(&format!("{pkg}={version}"))
        )
    }

    fn upgrade(&self, pkg: &str) -> String {
        format!("{ZYPPER} update {}", quote(pkg))
    }

    fn remove(&self, pkg: &str) -> String {
        format!("{ZYPPER} remove {}", quote(pkg))
    }
}
