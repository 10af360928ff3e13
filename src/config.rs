//! The validated configuration of a run, built once from the clap arguments (`arguments`):
//! the mode, every list split once, `-e` parsed once with its origins, the SSH options and
//! the host targeting. Nothing after this step reads raw arguments. Usage errors are typed
//! here ([`UsageError`], exit code 2).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::arguments::RunArgs;
use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::inventory::Inventory;
use crate::output::Format;
use crate::playbook::Vars;
use crate::runner::SshOptions;
use crate::summary::RunFormat;

/// A command line that parses but cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("ssh modes need --inventory DIR")]
    SshNeedsInventory,
    #[error(
        "local modes run on this machine only and take no --inventory; use `jetlike ssh` for inventory hosts"
    )]
    LocalTakesNoInventory,
    #[error("--persist keeps SSH connections: it applies to `jetlike ssh` and `check-ssh` only")]
    PersistNeedsSsh,
    #[error("--limit-hosts: no host named {0:?} in the inventory")]
    UnknownHost(String),
    #[error("--limit-groups: no group named {0:?} in the inventory")]
    UnknownGroup(String),
}

impl UsageError {
    /// Every usage error ends the process with this code.
    pub const EXIT_CODE: ExitCode = ExitCode::Usage;
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e.to_string())
    }
}

/// Where the playbooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// On this machine, as `localhost`.
    Local,
    /// On inventory hosts, over SSH.
    Ssh,
}

/// The run subcommand: where, and whether anything is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub transport: Transport,
    /// Check mode: show what would change, change nothing.
    pub check: bool,
}

impl Mode {
    pub fn is_ssh(self) -> bool {
        self.transport == Transport::Ssh
    }

    /// The subcommand's name, as the summary reports it.
    pub fn command_name(self) -> &'static str {
        match (self.transport, self.check) {
            (Transport::Local, false) => "local",
            (Transport::Local, true) => "check-local",
            (Transport::Ssh, false) => "ssh",
            (Transport::Ssh, true) => "check-ssh",
        }
    }
}

/// Splits repeatable, `:`/`,`-separated list flags.
pub fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split([':', ',']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `--playbooks`, split, as paths.
/// Role directories: `-r/--roles` (each must exist), then `JET_ROLES_PATH`'s that exist (as
/// Jet, which skips the others).
pub fn role_paths(values: &[String], env: Option<&String>) -> Vec<PathBuf> {
    let mut paths = playbook_paths(values);
    if let Some(env) = env {
        paths.extend(
            split_list(std::slice::from_ref(env))
                .into_iter()
                .map(PathBuf::from)
                .filter(|p| p.is_dir()),
        );
    }
    paths
}

pub fn playbook_paths(values: &[String]) -> Vec<PathBuf> {
    split_list(values).into_iter().map(PathBuf::from).collect()
}

/// The `-e` arguments, parsed once: each layer with the origin diagnostics name it by, and
/// their merge (later wins).
#[derive(Debug, Default)]
pub struct ExtraVars {
    pub merged: Vars,
    /// (origin, variables), lowest precedence first. An `@file` is named by its argument,
    /// an inline value by its position among the `-e` arguments (`#1`, `#2`, ...).
    pub layers: Vec<(String, Vars)>,
}

impl ExtraVars {
    pub fn parse(args: &[String]) -> Result<ExtraVars> {
        let mut parsed = ExtraVars::default();
        for (i, arg) in args.iter().enumerate() {
            let vars = crate::var_precedence::parse_extra_vars(arg)?;
            crate::playbook::merge(&mut parsed.merged, &vars);
            let origin = if arg.starts_with('@') {
                arg.clone()
            } else {
                format!("#{}", i + 1)
            };
            parsed.layers.push((origin, vars));
        }
        Ok(parsed)
    }
}

/// `--limit-hosts` and `--limit-groups`, split.
#[derive(Debug, Clone, Default)]
pub struct HostLimits {
    pub hosts: Vec<String>,
    pub groups: Vec<String>,
    /// `--shard K/N`: applied after the host and group limits.
    pub shard: Option<crate::shard::Shard>,
}

impl HostLimits {
    pub fn from_args(hosts: &[String], groups: &[String]) -> HostLimits {
        HostLimits {
            hosts: split_list(hosts),
            groups: split_list(groups),
            shard: None,
        }
    }

    /// The inventory's hosts these limits keep; a name the inventory lacks is an error.
    pub fn select(&self, inv: &Inventory) -> Result<BTreeSet<String>, UsageError> {
        let all = inv.all_hosts();
        if let Some(h) = self.hosts.iter().find(|h| !all.contains(*h)) {
            return Err(UsageError::UnknownHost(h.clone()));
        }
        if let Some(g) = self.groups.iter().find(|g| !inv.has_group(g)) {
            return Err(UsageError::UnknownGroup(g.clone()));
        }
        let mut hosts = all;
        if !self.hosts.is_empty() {
            hosts.retain(|h| self.hosts.contains(h));
        }
        if !self.groups.is_empty() {
            let allowed: BTreeSet<String> =
                self.groups.iter().flat_map(|g| inv.hosts_of(g)).collect();
            hosts.retain(|h| allowed.contains(h));
        }
        if let Some(shard) = self.shard {
            hosts.retain(|h| shard.holds(h));
        }
        Ok(hosts)
    }
}

/// What must be known before the environment is read and output starts, so before any
/// error can be reported: these settings cannot fail.
#[derive(Debug, Clone)]
pub struct StartupSettings {
    /// `--secrets-config`: named secret providers.
    pub secrets_config: Option<PathBuf>,
    /// `--loadenv`: expose the environment to template files as `ENV_<NAME>`.
    pub loadenv: bool,
    pub format: Format,
    pub verbosity: u8,
}

impl StartupSettings {
    pub fn from_args(args: &RunArgs) -> StartupSettings {
        StartupSettings {
            secrets_config: args.secrets_config.clone(),
            loadenv: args.loadenv,
            format: args.output,
            verbosity: args.verbose,
        }
    }
}

/// How file changes are shown.
#[derive(Debug, Clone, Copy)]
pub struct DiffSettings {
    /// `--diff`: content diffs when applying too (check modes always show them).
    pub when_applying: bool,
    /// `false` with `--no-diff-content`: diffs name files and attributes only.
    pub content: bool,
}

/// The CI reports beside the event stream.
#[derive(Debug, Clone, Default)]
pub struct CiReports {
    /// `--format github`: workflow-command annotations.
    pub format: Option<RunFormat>,
    /// `--summary FILE`: a Markdown summary.
    pub summary: Option<PathBuf>,
}

impl CiReports {
    pub fn wanted(&self) -> bool {
        self.format.is_some() || self.summary.is_some()
    }
}

/// A run (`local`, `check-local`, `ssh`, `check-ssh`), validated.
pub struct RunConfig {
    pub mode: Mode,
    /// The inventory, loaded (`localhost` alone in local modes).
    pub inventory: Inventory,
    pub playbooks: Vec<PathBuf>,
    pub extra_vars: ExtraVars,
    pub limits: HostLimits,
    pub tags: Vec<String>,
    pub threads: usize,
    pub batch_size: Option<usize>,
    pub sudo: Option<String>,
    /// `None` in local modes.
    pub ssh: Option<SshOptions>,
    pub loadenv: bool,
    pub diff: DiffSettings,
    pub reports: CiReports,
}

impl RunConfig {
    /// Validates `args` for `mode`. In this order, as error reports depend on it: the
    /// inventory flag against the mode, the inventory's loading, then each `-e`.
    pub fn from_args(args: RunArgs, mode: Mode) -> Result<RunConfig> {
        let inventory = match (mode.transport, &args.inventory) {
            (Transport::Ssh, Some(dir)) => Inventory::load(dir)?,
            (Transport::Ssh, None) => return Err(UsageError::SshNeedsInventory.into()),
            (Transport::Local, Some(_)) => return Err(UsageError::LocalTakesNoInventory.into()),
            (Transport::Local, None) => Inventory::localhost(),
        };
        let extra_vars = ExtraVars::parse(&args.extra_vars)?;
        crate::playbook::set_role_paths(role_paths(&args.roles, args.roles_env.as_ref()))?;
        let persist = match args.persist.filter(|s| *s > 0) {
            Some(_) if !mode.is_ssh() => return Err(UsageError::PersistNeedsSsh.into()),
            Some(secs) => Some(crate::persist::Persist {
                secs,
                dir: crate::persist::directory().map_err(Error::Runtime)?,
            }),
            None => None,
        };
        let ssh = mode.is_ssh().then(|| SshOptions {
            user: args.user.clone(),
            port: args.port,
            config_file: args.ssh_config.clone(),
            accept_new_host_keys: args.accept_new_host_keys,
            connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
            persist,
        });
        Ok(RunConfig {
            mode,
            inventory,
            playbooks: playbook_paths(&args.playbooks),
            extra_vars,
            limits: HostLimits {
                shard: args.shard,
                ..HostLimits::from_args(&args.limit_hosts, &args.limit_groups)
            },
            tags: split_list(&args.tags),
            threads: args.threads,
            batch_size: args.batch_size,
            sudo: args.sudo,
            ssh,
            loadenv: args.loadenv,
            diff: DiffSettings {
                when_applying: args.diff,
                content: !args.no_diff_content,
            },
            reports: CiReports {
                format: args.format,
                summary: args.summary,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_colons_and_commas() {
        let args = vec!["a:b".to_string(), " c , ,d".to_string()];
        assert_eq!(split_list(&args), ["a", "b", "c", "d"]);
    }

    #[test]
    fn mode_names_are_the_subcommands() {
        let name = |transport, check| Mode { transport, check }.command_name();
        assert_eq!(name(Transport::Local, false), "local");
        assert_eq!(name(Transport::Local, true), "check-local");
        assert_eq!(name(Transport::Ssh, false), "ssh");
        assert_eq!(name(Transport::Ssh, true), "check-ssh");
    }

    #[test]
    fn usage_errors_keep_their_messages() {
        assert_eq!(
            Error::from(UsageError::UnknownHost("web9".into())).exit_code(),
            UsageError::EXIT_CODE
        );
        assert_eq!(
            UsageError::UnknownGroup("db".into()).to_string(),
            "--limit-groups: no group named \"db\" in the inventory"
        );
    }
}
