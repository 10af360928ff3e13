//! The process environment: what `--loadenv` reads as `ENV_*`, and the explicit, allowlisted
//! environment every child process gets, so a secret injected by `op run` never reaches a
//! `!shell` task, an `ssh` process (`SendEnv`) or a helper.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::secret::Secret;

/// The only variables passed to child processes. `SSH_AUTH_SOCK` lets `ssh` use the agent.
pub const CHILD_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "USER",
    "LOGNAME",
    "TERM",
    "TZ",
    "SSH_AUTH_SOCK",
];

static CHILD_ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// The environment for child processes, fixed at start-up.
pub fn child_env() -> &'static [(String, String)] {
    CHILD_ENV.get_or_init(snapshot_allowlist)
}

fn snapshot_allowlist() -> Vec<(String, String)> {
    CHILD_ALLOWLIST
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// Reads the environment once, at start-up and before any thread exists. With `loadenv`,
/// every variable becomes a `ENV_<NAME>` secret candidate and is removed from this process's
/// own environment (allowlisted ones are kept for children, unless a value is also a secret
/// some template uses: see `forget_secret_values`).
pub fn load(loadenv: bool) -> BTreeMap<String, Secret> {
    let _ = child_env();
    let mut out = BTreeMap::new();
    if !loadenv {
        return out;
    }
    for (k, v) in std::env::vars_os() {
        let (Some(k), v) = (k.to_str().map(str::to_owned), v) else {
            continue;
        };
        let name = format!("{}{k}", crate::policy::ENV_PREFIX);
        out.insert(
            name.clone(),
            Secret::new(name, v.as_encoded_bytes().to_vec()),
        );
        if !CHILD_ALLOWLIST.contains(&k.as_str()) {
            // SAFETY-free in edition 2021; called before the runtime starts any thread.
            std::env::remove_var(&k);
        }
    }
    out
}

/// Drops from the child environment any allowlisted variable whose value is a secret in use.
pub fn forget_secret_values(secrets: &[&Secret]) {
    let env = snapshot_allowlist()
        .into_iter()
        .filter(|(_, v)| !secrets.iter().any(|s| s.expose() == v.as_bytes()))
        .collect();
    let _ = CHILD_ENV.set(env);
}
