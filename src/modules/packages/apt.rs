//! `!apt`: Debian and Ubuntu. The query is `apt-cache policy` (the installed version and the
//! candidate, read-only, no root needed); changes go through `apt-get`, non-interactive (no
//! debconf questions, conffile prompts answered with the defaults, waits for the dpkg lock).

use super::{Installed, Manager, State};
use crate::connection::scripts::quote;

pub struct Apt;

/// Every `apt-get` the module runs starts with this.
const APT_GET: &str = "DEBIAN_FRONTEND=noninteractive apt-get -y -q \
     -o DPkg::Lock::Timeout=300 \
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

impl Manager for Apt {
    fn query(&self, pkg: &str, _version: Option<&str>, _update: bool) -> String {
        format!(
            "{}LC_ALL=C apt-cache policy {}\n",
            super::require("apt-cache"),
            quote(pkg)
        )
    }

    /// `apt-cache policy` prints `Installed: 1.0-1` (`(none)` when not installed) and
    /// `Candidate: 2.0-1` for each package it knows, nothing for one it does not.
    fn parse(&self, _pkg: &str, _version: Option<&str>, out: &str) -> Result<State, String> {
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .map(str::trim)
                .filter(|v| *v != "(none)" && !v.is_empty())
        };
        let installed = field("Installed:");
        let candidate = field("Candidate:");
        Ok(State {
            installed: installed.map(Installed::exact),
            upgradable: matches!((installed, candidate), (Some(i), Some(c)) if i != c),
        })
    }

    fn install(&self, pkg: &str, version: Option<&str>) -> String {
        match version {
            None => format!("{APT_GET} install {}", quote(pkg)),
            Some(v) => format!("{APT_GET} install {}", quote(&format!("{pkg}={v}"))),
        }
    }

    fn set_version(&self, pkg: &str, version: &str) -> String {
        format!(
            "{APT_GET} --allow-downgrades install {}",
            quote(&format!("{pkg}={version}"))
        )
    }

    fn upgrade(&self, pkg: &str) -> String {
        format!("{APT_GET} --only-upgrade install {}", quote(pkg))
    }

    fn remove(&self, pkg: &str) -> String {
        format!("{APT_GET} remove {}", quote(pkg))
    }
}
