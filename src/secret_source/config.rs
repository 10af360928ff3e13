//! The named providers of `jetlike-secrets.yml` (or `--secrets-config FILE`), validated when
//! loaded, and the errors of configuration and providers.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use crate::error::{Diagnostic, Error};

use super::calls::valid_provider;
use super::{BUILTIN, CONFIG_FILE};

/// One configured provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// An argv template: `{key}` is replaced inside single elements.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// A path template: `{key}` is replaced.
    #[serde(default)]
    pub file: Option<String>,
    /// Seconds the command may run (default 30).
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Settings added to the command's environment (not secrets: they are in this file).
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Variables of jetlike's own environment passed to this command only (a token such as
    /// `OP_SERVICE_ACCOUNT_TOKEN` or `VAULT_TOKEN`); their values are masked like secrets.
    #[serde(default)]
    pub pass_env: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    providers: IndexMap<String, ProviderConfig>,
}

/// The named providers, and the file they came from.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub providers: IndexMap<String, ProviderConfig>,
}

/// Errors of the secrets configuration file and of providers. Messages name the secret, the
/// provider and the file, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read the secrets configuration {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("secret {name}: provider {provider:?} is not configured ({where_})")]
    Unknown {
        name: String,
        provider: String,
        where_: String,
    },
    #[error("secret {name}: {via}: {reason}")]
    Provider {
        name: String,
        via: String,
        reason: String,
    },
    #[error("secret {name}: {via} did not finish within {secs}s; it was stopped")]
    Timeout {
        name: String,
        via: String,
        secs: u64,
    },
    #[error("secret {name}: {via} gave a value that is not valid UTF-8")]
    NotUtf8 { name: String, via: String },
    #[error("secret {name}: file {path} is readable by group or others (mode {mode:04o})")]
    FileMode {
        name: String,
        path: PathBuf,
        mode: u32,
    },
}

impl Config {
    /// Every variable some provider takes from jetlike's environment (`pass_env:`).
    pub fn pass_env_names(&self) -> Vec<String> {
        self.providers
            .values()
            .flat_map(|p| p.pass_env.iter().cloned())
            .collect()
    }

    /// `explicit` (`--secrets-config`), else `jetlike-secrets.yml` in the current directory if
    /// there is one, else no named providers.
    pub fn load(explicit: Option<&Path>) -> Result<Config, SourceError> {
        let path = if let Some(p) = explicit {
            p.to_path_buf()
        } else {
            let p = PathBuf::from(CONFIG_FILE);
            if !p.is_file() {
                return Ok(Config::default());
            }
            p
        };
        let err = |reason: String| SourceError::Config {
            path: path.clone(),
            reason,
        };
        let text = crate::input_file::read_text(&path).map_err(|e| err(e.to_string()))?;
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            serde_yaml_ng::from_str(&text)
                .map_err(|e| err(crate::error::sanitize_value_message(&e.to_string())))?
        };
        for (name, p) in &file.providers {
            if BUILTIN.contains(&name.as_str()) {
                return Err(err(format!(
                    "provider {name:?} is built in and cannot be configured"
                )));
            }
            if !valid_provider(name) {
                return Err(err(format!(
                    "provider name {name:?}: use letters, digits, _ and -"
                )));
            }
            match (&p.command, &p.file) {
                (Some(argv), None) if !argv.is_empty() && !argv[0].is_empty() => {}
                (None, Some(_))
                    if p.timeout.is_none() && p.env.is_empty() && p.pass_env.is_empty() => {}
                _ => {
                    return Err(err(format!(
                        "provider {name:?}: give either command (an argv list, with optional timeout and env) or file (a path)"
                    )))
                }
            }
            if p.timeout == Some(0) {
                return Err(err(format!(
                    "provider {name:?}: timeout must be at least 1"
                )));
            }
        }
        Ok(Config {
            path: Some(path),
            providers: file.providers,
        })
    }
}

/// Turns a configuration error into the run's error type (exit 3).
pub fn config_error(e: SourceError) -> Error {
    Error::Invalid(vec![Diagnostic::new(e.to_string()).help(
        "fix the file: providers: {NAME: {command: [prog, \"{key}\"], timeout: 30, env: {}}} or {NAME: {file: \"/run/secrets/{key}\"}}",
    )])
}
