//! `!pacman`: Arch Linux. `package` may name a repository (`extra/nginx`, as in Jet): the
//! query and removal use the bare name. The query is `pacman -Q` (and `pacman -Qu`, against
//! the local sync database, with `update: true`: the plan never refreshes it). As in Jet,
//! an upgrade is `pacman -Syu` (Arch supports no partial upgrades).

use super::{section, Installed, Manager, State};
use crate::connection::scripts::quote;

pub struct Pacman;

const FLAGS: &str = "--noconfirm --noprogressbar";

/// `extra/nginx` → `nginx`.
fn bare(pkg: &str) -> &str {
    pkg.rsplit('/').next().unwrap_or(pkg)
}

impl Manager for Pacman {
    fn query(&self, pkg: &str, _version: Option<&str>, update: bool) -> String {
        let name = quote(bare(pkg));
        let mut s = format!(
            "{}echo '--- installed'\nLC_ALL=C pacman -Q {name} 2>/dev/null || true\n",
            super::require("pacman")
        );
        if update {
            s.push_str(&format!(
                "echo '--- upgrades'\nLC_ALL=C pacman -Qu {name} 2>/dev/null || true\n"
            ));
        }
        s
    }

    /// `pacman -Q nginx` prints `nginx 1.24.0-1`; `pacman -Qu` prints `nginx 1.24.0-1 ->
    /// 1.26.1-1` when an upgrade is known.
    fn parse(&self, pkg: &str, _version: Option<&str>, out: &str) -> Result<State, String> {
        let name = bare(pkg);
        let lines = section(out, "--- installed").ok_or("no `--- installed` section")?;
        let installed = lines.iter().find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(name)).then(|| words.next()).flatten()
        });
        let upgradable = section(out, "--- upgrades").is_some_and(|rows| {
            rows.iter()
                .any(|l| l.split_whitespace().next() == Some(name) && l.contains("->"))
        });
        Ok(State {
            installed: installed.map(Installed::exact),
            upgradable,
        })
    }

    fn install(&self, pkg: &str, version: Option<&str>) -> String {
        let spec = match version {
            None => pkg.to_string(),
            Some(v) => format!("{pkg}={v}"),
        };
        format!("pacman -S {FLAGS} --needed {}", quote(&spec))
    }

    fn upgrade(&self, pkg: &str) -> String {
        format!("pacman -Syu {FLAGS} --needed {}", quote(pkg))
    }

    fn remove(&self, pkg: &str) -> String {
        format!("pacman -R {FLAGS} {}", quote(bare(pkg)))
    }
}
