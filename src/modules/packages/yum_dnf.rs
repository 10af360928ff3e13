//! `!dnf` and `!yum` (one module, as in Jet: both use dnf when the host has it, else yum).
//! The installed version comes from `rpm -q`; with `update: true`, `check-update` says whether
//! an upgrade exists (exit 100). Changes: `install`, `upgrade`, `remove`, with `-y`.

use super::{parse_rpm, rpm_query, section, Manager, State};
use crate::connection::scripts::quote;

pub struct YumDnf;

/// Picks dnf, else yum, into `$pm`, or fails.
const PICK: &str = "pm=$(command -v dnf || command -v yum) || { echo 'neither dnf nor yum found on this host' >&2; exit 127; }\n";

impl Manager for YumDnf {
    fn query(&self, pkg: &str, _version: Option<&str>, update: bool) -> String {
        let mut s = format!("{PICK}{}", rpm_query(pkg));
        if update {
            s.push_str(&format!(
                "echo '--- check-update'\nLC_ALL=C \"$pm\" -q check-update {} >/dev/null 2>&1\necho \"rc $?\"\n",
                quote(pkg)
            ));
        }
        s
    }

    fn parse(&self, _pkg: &str, _version: Option<&str>, out: &str) -> Result<State, String> {
        let installed = parse_rpm(out)?;
        let upgradable = match section(out, "--- check-update") {
            None => false,
            Some(lines) => match lines.first().map(|l| l.trim()) {
                Some("rc 100") => true,
                Some("rc 0") => false,
                other => {
                    return Err(format!(
                        "check-update failed ({})",
                        other.unwrap_or("no exit code")
                    ))
                }
            },
        };
        Ok(State {
            installed,
            upgradable,
        })
    }

    /// dnf's `install NAME-VERSION` also upgrades or downgrades an installed package.
    fn install(&self, pkg: &str, version: Option<&str>) -> String {
        let spec = match version {
            None => pkg.to_string(),
            Some(v) => format!("{pkg}-{v}"),
        };
        format!("{PICK}\"$pm\" -y install {}", quote(&spec))
    }

    fn upgrade(&self, pkg: &str) -> String {
        format!("{PICK}\"$pm\" -y upgrade {}", quote(pkg))
    }

    fn remove(&self, pkg: &str) -> String {
        format!("{PICK}\"$pm\" -y remove {}", quote(pkg))
    }
}
