//! `!homebrew`: macOS (and Linuxbrew). A `version` names a versioned formula, as Jet's
//! `brew install name@version` does: the formula managed is `name@version`, and any installed
//! version of it matches. The query is `brew list --versions` (and `brew outdated` with
//! `update: true`); brew never auto-updates itself here (`HOMEBREW_NO_AUTO_UPDATE=1`).

use super::{section, Installed, Manager, State};
use crate::connection::scripts::quote;

pub struct Homebrew;

const BREW: &str = "HOMEBREW_NO_AUTO_UPDATE=1 HOMEBREW_NO_ENV_HINTS=1 NONINTERACTIVE=1 brew";

/// The formula: `name`, or `name@version`.
fn formula(pkg: &str, version: Option<&str>) -> String {
    match version {
        None => pkg.to_string(),
        Some(v) => format!("{pkg}@{v}"),
    }
}

/// `homebrew/core/wget` is listed as `wget`.
fn short(formula: &str) -> &str {
    formula.rsplit('/').next().unwrap_or(formula)
}

impl Manager for Homebrew {
    fn query(&self, pkg: &str, version: Option<&str>, update: bool) -> String {
        let f = quote(&formula(pkg, version));
        let mut s = format!(
            "{}echo '--- installed'\n{BREW} list --versions {f} 2>/dev/null || true\n",
            super::require("brew")
        );
        if update {
            s.push_str(&format!(
                "echo '--- outdated'\n{BREW} outdated --quiet {f} 2>/dev/null || true\n"
            ));
        }
        s
    }

    /// `brew list --versions wget` prints `wget 1.21.3 1.21.4` (every installed version,
    /// the newest last), nothing when it is not installed; `brew outdated --quiet wget`
    /// prints `wget` when an upgrade exists.
    fn parse(&self, pkg: &str, version: Option<&str>, out: &str) -> Result<State, String> {
        let f = formula(pkg, version);
        let name = short(&f);
        let lines = section(out, "--- installed").ok_or("no `--- installed` section")?;
        let installed = lines.iter().find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.split_first() {
                Some((first, versions)) if *first == name && !versions.is_empty() => {
                    Some(Installed {
                        version: versions[versions.len() - 1].to_string(),
                        spellings: versions.iter().map(|v| (*v).to_string()).collect(),
                    })
                }
                _ => None,
            }
        });
        let upgradable = section(out, "--- outdated").is_some_and(|rows| {
            rows.iter().any(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|w| short(w) == name)
            })
        });
        Ok(State {
            installed,
            upgradable,
        })
    }

    fn install(&self, pkg: &str, version: Option<&str>) -> String {
        format!("{BREW} install {}", quote(&formula(pkg, version)))
    }

    fn upgrade(&self, pkg: &str) -> String {
        format!("{BREW} upgrade {}", quote(pkg))
    }

    fn remove(&self, pkg: &str) -> String {
        format!("{BREW} uninstall {}", quote(pkg))
    }

    /// The formula is `name@version` already: any installed version of it will do.
    fn version_matches(&self, _installed: &Installed, _version: &str) -> bool {
        true
    }
}
