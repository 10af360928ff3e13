//! The shape of a play's `secrets:` declaration — one entry per secret, `provider` + `key` or
//! a `command` argv — and where each entry's value comes from. Below the playbook model (a
//! `Play` holds a [`Declaration`]); the checks over loaded plays live in `secret_decl.rs`.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::env_name::ENV_PREFIX;
use crate::secret_source::{Source, BUILTIN};

/// One declared secret: `provider` + `key`, or `command` (an argv run without a shell).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretDecl {
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Seconds the command may run (default 30).
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// Declared name (with or without `ENV_`) → where the value comes from.
pub type Declaration = IndexMap<String, SecretDecl>;

/// The template variable a declared name stands for: `DB_PASSWORD` → `ENV_DB_PASSWORD`.
pub fn var_name(declared: &str) -> String {
    if declared.starts_with(ENV_PREFIX) {
        declared.to_string()
    } else {
        format!("{ENV_PREFIX}{declared}")
    }
}

pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SecretDecl {
    /// Where the value comes from, or why the entry is malformed.
    pub fn source(&self) -> Result<Source, String> {
        match (&self.provider, &self.key, &self.command) {
            (Some(p), Some(k), None) => {
                if self.timeout.is_some() {
                    return Err("timeout goes with command (or in the provider's configuration in jetlike-secrets.yml)".into());
                }
                Ok(Source::from_provider(p, k))
            }
            (None, None, Some(argv)) => {
                if argv.is_empty() || argv[0].is_empty() {
                    return Err("command needs at least the program to run".into());
                }
                if self.timeout == Some(0) {
                    return Err("timeout must be at least 1 second".into());
                }
                Ok(Source::Command {
                    argv: argv.clone(),
                    timeout: self.timeout,
                })
            }
            _ => Err(format!(
                "give either provider and key ({}, or a provider configured in jetlike-secrets.yml), or command (an argv list)",
                BUILTIN.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sources() {
        assert_eq!(var_name("DB"), "ENV_DB");
        assert_eq!(var_name("ENV_DB"), "ENV_DB");
        assert!(valid_name("DB_PASSWORD") && !valid_name("db-password") && !valid_name("1X"));
        let d: SecretDecl = serde_yaml_ng::from_str("{provider: pass, key: prod/db}").unwrap();
        assert_eq!(
            d.source().unwrap(),
            Source::Named {
                provider: "pass".into(),
                key: "prod/db".into()
            }
        );
        let d: SecretDecl = serde_yaml_ng::from_str("{provider: file, key: /run/x}").unwrap();
        assert_eq!(d.source().unwrap(), Source::File("/run/x".into()));
        let d: SecretDecl =
            serde_yaml_ng::from_str("{command: [pass, show, a], timeout: 3}").unwrap();
        assert!(matches!(
            d.source().unwrap(),
            Source::Command {
                timeout: Some(3),
                ..
            }
        ));
        let d: SecretDecl = serde_yaml_ng::from_str("{provider: pass}").unwrap();
        assert!(d.source().is_err());
        let d: SecretDecl =
            serde_yaml_ng::from_str("{provider: pass, key: a, command: [x]}").unwrap();
        assert!(d.source().is_err());
        assert!(serde_yaml_ng::from_str::<SecretDecl>("{from: pass}").is_err());
    }
}
