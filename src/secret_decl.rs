//! A play's `secrets:` declaration: the secrets its template files may use, each with its
//! source. Every secret reaches templates as an `ENV_` variable (the one secret namespace, see
//! README "Secrets"), so one policy covers every source: template files only, masked, least
//! privilege per template.
//!
//! ```yaml
//! - name: database
//!   groups: [db]
//!   secrets:
//!     DB_PASSWORD: {provider: pass, key: prod/db}        # a provider from jetlike-secrets.yml
//!     API_TOKEN: {provider: file, key: /run/secrets/api} # built in: a file, mode 0600 or stricter
//!     SMTP_PASSWORD: {provider: env, key: SMTP_PASSWORD} # built in: the environment (--loadenv)
//!     SIGNING_KEY: {command: [sops, -d, --extract, '["signing"]', secrets.enc.yaml]}
//! ```
//!
//! Templates use `{{ENV_DB_PASSWORD}}` (the `ENV_` prefix may also be written in the
//! declaration). With a declaration, a template naming an undeclared `ENV_` variable (or a
//! `{{secret "provider" "key"}}` call matching no declared entry) is an error before the run.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::env_name::ENV_PREFIX;
use crate::error::Diagnostic;
use crate::playbook::{FieldStep, LoadedPlay};
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

fn valid_name(name: &str) -> bool {
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

/// The declared source of template variable `var` in `play`, if the play declares secrets:
/// `Some(None)` when it declares secrets but not this one.
pub fn lookup(play: &LoadedPlay, var: &str) -> Option<Option<Source>> {
    let decl = play.play.secrets.as_ref()?;
    Some(
        decl.iter()
            .find(|(k, _)| var_name(k) == var)
            .and_then(|(_, d)| d.source().ok()),
    )
}

/// Whether `play` declares an entry with this source (for `{{secret "p" "k"}}` calls).
pub fn declares_source(play: &LoadedPlay, source: &Source) -> Option<bool> {
    let decl = play.play.secrets.as_ref()?;
    Some(
        decl.values()
            .any(|d| d.source().ok().as_ref() == Some(source)),
    )
}

/// Shape errors of every play's declaration, located at the entry.
pub fn check(plays: &[LoadedPlay]) -> Vec<Diagnostic> {
    use FieldStep::{Index as I, Key as K};
    let mut out = vec![];
    for play in plays {
        let Some(decl) = &play.play.secrets else {
            continue;
        };
        let mut seen = std::collections::BTreeSet::new();
        for (name, d) in decl {
            let at =
                play.source
                    .locate(&[I(play.index), K("secrets"), FieldStep::Name(name.clone())]);
            let ctx = format!("play {:?}, secrets", play.play.name);
            if !valid_name(name) {
                out.push(
                    Diagnostic::new(format!("secret name {name:?} is not a variable name"))
                        .at(Some(at.clone()))
                        .context(ctx.clone())
                        .help("use letters, digits and _ (templates see it as ENV_<NAME>)"),
                );
            } else if !seen.insert(var_name(name)) {
                out.push(
                    Diagnostic::new(format!("secret {} is declared twice", var_name(name)))
                        .at(Some(at.clone()))
                        .context(ctx.clone())
                        .help("declare each secret once (NAME and ENV_NAME are the same secret)"),
                );
            }
            if let Err(e) = d.source() {
                out.push(
                    Diagnostic::new(format!("secret {name}: {e}"))
                        .at(Some(at))
                        .context(ctx)
                        .help("for example DB_PASSWORD: {provider: pass, key: prod/db}"),
                );
            }
        }
    }
    out
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
