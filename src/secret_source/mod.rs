//! Where secret values come from, and their resolution before any host is contacted.
//!
//! Sources: `env` (the environment loaded with `--loadenv`), `file` (a file readable by its
//! owner only), `command` (an argv run without a shell), and named providers configured in
//! `jetlike-secrets.yml` (or `--secrets-config FILE`):
//!
//! ```yaml
//! providers:
//!   pass:
//!     command: [pass, show, "{key}"]
//!   vault_prod:
//!     command: [vault, kv, get, "-field=password", "secret/{key}"]
//!     env: {VAULT_ADDR: "https://vault.example.com:8200"}
//!     timeout: 20
//!   docker:
//!     file: "/run/secrets/{key}"
//! ```
//!
//! `{key}` is replaced inside single argv elements: a key never becomes more than one
//! argument, and no shell ever sees it. A provider process gets the allowlisted environment
//! (plus the provider's own `env:` settings), stdin from /dev/null, no controlling terminal
//! (a session of its own), and a timeout; its stdout is the value, with one trailing newline
//! (`\n` or `\r\n`) removed; its stderr is shown only in errors, masked. Values live in
//! [`Secret`]s (zeroized) and are never written to disk by jetlike.
//!
//! This file owns the [`Source`] of a value and what a run wants; the rooms: [`calls`] (the
//! `secret` calls of a template file), [`config`] (`jetlike-secrets.yml`), [`resolve`] (reading
//! every wanted value once, errors masked) and [`command`] (running a provider process).

mod calls;
mod command;
mod config;
mod resolve;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::env_name::ENV_PREFIX;
use crate::error::Location;
use crate::secret::Secret;

pub use crate::template::call_name;
pub use calls::{template_calls, SecretUse};
pub use config::{config_error, Config, ProviderConfig, SourceError};
pub use resolve::{resolve, Resolved};

/// Providers that need no configuration.
pub const BUILTIN: &[&str] = &["env", "file"];

/// The default configuration file, looked for in the current directory.
pub const CONFIG_FILE: &str = "jetlike-secrets.yml";

/// Seconds a provider command may run unless configured otherwise.
pub const DEFAULT_TIMEOUT: u64 = 30;

/// Where one secret value comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// An environment variable (needs `--loadenv`).
    Env(String),
    /// A file readable by its owner only.
    File(PathBuf),
    /// A provider configured in the secrets configuration file.
    Named { provider: String, key: String },
    /// An argv, run without a shell.
    Command {
        argv: Vec<String>,
        timeout: Option<u64>,
    },
}

impl Source {
    pub fn from_provider(provider: &str, key: &str) -> Source {
        match provider {
            "env" => Source::Env(key.to_string()),
            "file" => Source::File(PathBuf::from(key)),
            _ => Source::Named {
                provider: provider.to_string(),
                key: key.to_string(),
            },
        }
    }

    /// For messages: names and keys are not secret, values never appear.
    pub fn describe(&self) -> String {
        match self {
            Source::Env(v) => format!("provider env, variable {v}"),
            Source::File(p) => format!("provider file, {}", p.display()),
            Source::Named { provider, key } => format!("provider {provider}, key {key:?}"),
            Source::Command { argv, .. } => format!("command `{}`", argv.join(" ")),
        }
    }
}

/// A secret the run needs: its source, and the first place that uses it (for errors).
#[derive(Debug, Clone)]
pub struct Wanted {
    pub source: Source,
    pub at: Location,
}

/// The environment values `--loadenv` loaded that the run uses, for sealing the child
/// environment before any provider runs.
pub fn env_secrets_in_use<'a>(
    wanted: &BTreeMap<String, Wanted>,
    env: &'a BTreeMap<String, Secret>,
) -> Vec<&'a Secret> {
    wanted
        .values()
        .filter_map(|w| match &w.source {
            Source::Env(var) => env.get(&format!("{ENV_PREFIX}{var}")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::calls::jinja_secret_calls;
    use super::command::run_command;
    use super::resolve::trim_newline;
    use super::*;
    use crate::template::Dialect;
    use indexmap::IndexMap;
    use std::time::{Duration, Instant};

    #[test]
    fn one_trailing_newline_is_trimmed() {
        assert_eq!(trim_newline(b"abc\n"), b"abc");
        assert_eq!(trim_newline(b"abc\r\n"), b"abc");
        assert_eq!(trim_newline(b"abc\n\n"), b"abc\n");
        assert_eq!(trim_newline(b"abc"), b"abc");
    }

    #[test]
    fn jinja_calls_need_literals() {
        let calls = jinja_secret_calls(
            "a {{ secret(\"pass\", 'prod/db') }}\n{{ secret(p, \"k\") }} {{ x.secret(1) }}",
        );
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].0.as_deref(), Some("pass"));
        assert_eq!(calls[0].1.as_deref(), Some("prod/db"));
        assert_eq!(calls[0].2, (1, 6));
        assert_eq!(calls[1], (None, None, (2, 4)));
    }

    #[test]
    fn handlebars_calls() {
        let (uses, bad) = template_calls(
            Dialect::Handlebars,
            "x={{secret \"vault_prod\" \"db/password\"}}\ny={{secret name \"k\"}}",
        );
        assert_eq!(uses.len(), 1);
        assert_eq!(uses[0].name, "ENV_secret:vault_prod:db/password");
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn commands_time_out_and_fail_without_their_value() {
        let argv: Vec<String> = ["sleep", "5"].iter().map(ToString::to_string).collect();
        let t = Instant::now();
        let Err(failed) = run_command("ENV_X", "command", &argv, &IndexMap::new(), 1) else {
            panic!("sleep 5 with a 1s timeout must fail");
        };
        let e = failed.0;
        assert!(t.elapsed() < Duration::from_secs(4));
        assert!(
            e.to_string().contains("ENV_X") && e.to_string().contains("1s"),
            "{e}"
        );
        let argv: Vec<String> = ["sh", "-c", "tty; test -t 0 && echo tty0; exit 0"]
            .iter()
            .map(ToString::to_string)
            .collect();
        let out = run_command("ENV_X", "command", &argv, &IndexMap::new(), 5).unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("not a tty") && !out.contains("tty0"), "{out}");
    }
}
