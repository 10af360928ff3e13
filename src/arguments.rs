//! The command line as clap sees it: the argument structs and their help text, nothing else.
//! Validation into a `RunConfig` happens in `config`; the help text of every
//! flag is the doc comment of its field, so those comments are user-facing text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

const AFTER_HELP: &str = "\
Exit codes:
  0    all tasks succeeded on every host
  1    a task failed on some host
  2    usage error (bad flags or arguments)
  3    invalid playbook, inventory, template, or policy violation: nothing was run
  4    some host was unreachable (and no task failed)
  130  interrupted (Ctrl-C): in-flight work finished, nothing new started

Secrets: only with --loadenv are environment variables exposed, as ENV_<NAME>, and only to the
contents of template files. Any other reference to ENV_ is rejected before anything runs.
A play's `secrets:` declares secrets from other providers (file, command, or one named in
jetlike-secrets.yml / --secrets-config), also as ENV_<NAME>; template files may also use
{{secret \"provider\" \"key\"}}. Every byte jetlike prints is masked against the secret values
templates use.";

#[derive(Parser, Debug)]
#[command(name = "jetlike", version, about = "Run Jet-style YAML playbooks locally or over SSH, without leaking secrets", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
// The doc comments are the `--help` text: backticks would be printed as they are.
#[allow(clippy::doc_markdown)]
pub enum Command {
    /// Run playbooks on this machine.
    Local(RunArgs),
    /// Show what `local` would change, changing nothing.
    CheckLocal(RunArgs),
    /// Run playbooks on inventory hosts over SSH.
    Ssh(RunArgs),
    /// Show what `ssh` would change on each host, changing nothing.
    CheckSsh(RunArgs),
    /// Print the inventory's groups, hosts and each host's resolved variables.
    ShowInventory(InventoryArgs),
    /// Review playbooks without connecting anywhere or reading secrets: every static check,
    /// a secret-flow report, hard-coded secrets and shell hygiene.
    Lint(LintArgs),
    /// Close the SSH connections earlier runs kept up with --persist: all of yours, or those
    /// of one inventory's hosts.
    Disconnect(DisconnectArgs),
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Write man pages (jetlike.1 and jetlike-SUBCOMMAND.1) into DIR.
    Man {
        /// Directory to write into (created if missing).
        #[arg(default_value = ".", value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print the JSON Schema of playbooks, task files, role files or inventory group files,
    /// for editors (yaml-language-server).
    Schema {
        /// Which kind of file.
        #[arg(value_enum)]
        kind: crate::schema::SchemaKind,
    },
}

#[derive(Args, Debug, Clone)]
// One bool per on/off flag (clap `--flag`); the doc comments are the `--help` text, where
// backticks would be printed as they are.
#[allow(clippy::struct_excessive_bools, clippy::doc_markdown)]
pub struct RunArgs {
    /// Playbook files; repeat the flag or separate with ':' or ','.
    #[arg(
        short = 'p',
        long = "playbooks",
        visible_alias = "playbook",
        required = true,
        value_name = "FILES"
    )]
    pub playbooks: Vec<String>,
    /// More directories to find roles in (as Jet: `-r a:b`, repeatable; also
    /// `JET_ROLES_PATH`), searched before `roles/` beside the playbook and in its parent.
    #[arg(short = 'r', long = "roles", value_name = "DIRS")]
    pub roles: Vec<String>,
    /// `JET_ROLES_PATH`, read with the command line (the environment is scrubbed after it);
    /// its directories that do not exist are skipped, as in Jet.
    #[arg(long = "jet-roles-path", env = "JET_ROLES_PATH", hide = true)]
    pub roles_env: Option<String>,
    /// Inventory directory (groups/, group_vars/, host_vars/); required for ssh modes.
    #[arg(short = 'i', long, value_name = "DIR")]
    pub inventory: Option<PathBuf>,
    /// Extra variables, highest precedence: inline JSON/YAML or @file; repeatable, later wins.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Run only tasks with one of these tags (':' or ',' separated).
    #[arg(long, value_name = "TAGS")]
    pub tags: Vec<String>,
    /// Only these hosts (':' or ',' separated); unknown names are errors.
    #[arg(long = "limit-hosts", value_name = "HOSTS")]
    pub limit_hosts: Vec<String>,
    /// Only hosts in these groups (':' or ',' separated); unknown names are errors.
    #[arg(long = "limit-groups", value_name = "GROUPS")]
    pub limit_groups: Vec<String>,
    /// Only shard K of N (e.g. 2/8): hosts are assigned to shards by a hash of their name,
    /// so N runs with K = 1..N (a CI job matrix) cover the fleet exactly once.
    #[arg(long, value_name = "K/N", value_parser = crate::shard::Shard::parse)]
    pub shard: Option<crate::shard::Shard>,
    /// Hosts in flight at once (1 to 10000).
    #[arg(short = 't', long, default_value_t = 20, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub threads: usize,
    /// SSH user (default: JET_SSH_USER, then ~/.ssh/config, then the local user).
    #[arg(short = 'u', long, env = "JET_SSH_USER", value_name = "USER")]
    pub user: Option<String>,
    /// SSH port (default: JET_SSH_PORT, then ~/.ssh/config, then 22).
    #[arg(long, env = "JET_SSH_PORT", value_name = "PORT")]
    pub port: Option<u16>,
    /// Run tasks as this user through sudo (play `sudo:` and task `with: sudo:` override it).
    #[arg(long, value_name = "USER")]
    pub sudo: Option<String>,
    /// Hosts per batch: a batch finishes a play before the next starts.
    #[arg(long = "batch-size", value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub batch_size: Option<usize>,
    /// -v: commands and transfers; -vv: more; -vvv: command output.
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Expose environment variables to template files as ENV_<NAME> (and nowhere else).
    #[arg(long)]
    pub loadenv: bool,
    /// Named secret providers (default: jetlike-secrets.yml in the current directory, if any).
    #[arg(long = "secrets-config", value_name = "FILE")]
    pub secrets_config: Option<PathBuf>,
    /// Output format: human (default) or json (one JSON object per line).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub output: Format,
    /// Also print content diffs when applying (check modes always do).
    #[arg(long)]
    pub diff: bool,
    /// Diffs say which files change and which attributes, never their content (as `diff:
    /// false` on every file task): for reviews whose logs must not hold file contents.
    #[arg(long = "no-diff-content")]
    pub no_diff_content: bool,
    /// An ssh_config file to use instead of ~/.ssh/config.
    #[arg(long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Trust and record host keys seen for the first time (changed keys are still refused).
    #[arg(long = "accept-new-host-keys")]
    pub accept_new_host_keys: bool,
    /// Seconds to wait for an SSH connection before declaring the host unreachable.
    #[arg(long = "connect-timeout", default_value_t = 10, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub connect_timeout: u64,
    /// Keep each host's SSH connection up SECS seconds after the run (0: close it, the
    /// default), so the next run skips the handshake; `jetlike disconnect` closes them.
    /// Masters live in ${TMPDIR:-/tmp}/jetlike-UID (0700): one per host, so the number of
    /// ssh processes is bounded by the fleet, not --threads.
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=604_800))]
    pub persist: Option<u64>,
    /// CI output beside --output: `github` adds workflow commands (::error) for failed tasks
    /// and unreachable hosts, on stdout (on stderr with --output json).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<crate::summary::RunFormat>,
    /// Write a Markdown summary to FILE (e.g. "$GITHUB_STEP_SUMMARY"): per host, the files
    /// that change, the secret names that rotate and diff stats; never a value.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
// The doc comments are the `--help` text: backticks would be printed as they are.
#[allow(clippy::doc_markdown)]
pub struct LintArgs {
    /// Playbook files; repeat the flag or separate with ':' or ','.
    #[arg(
        short = 'p',
        long = "playbooks",
        visible_alias = "playbook",
        required = true,
        value_name = "FILES"
    )]
    pub playbooks: Vec<String>,
    /// More directories to find roles in (as Jet: `-r a:b`, repeatable; also
    /// `JET_ROLES_PATH`), searched before `roles/` beside the playbook and in its parent.
    #[arg(short = 'r', long = "roles", value_name = "DIRS")]
    pub roles: Vec<String>,
    /// `JET_ROLES_PATH`, read with the command line (the environment is scrubbed after it);
    /// its directories that do not exist are skipped, as in Jet.
    #[arg(long = "jet-roles-path", env = "JET_ROLES_PATH", hide = true)]
    pub roles_env: Option<String>,
    /// Inventory directory: enables group and host checks, and checks variables for every
    /// targeted host (without it, as `jetlike local` sees them: no inventory variables).
    #[arg(short = 'i', long, value_name = "DIR")]
    pub inventory: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::lint::annotations::LintFormat::Human)]
    pub format: crate::lint::annotations::LintFormat,
    /// Count warnings as errors for the exit status.
    #[arg(long = "deny-warnings")]
    pub deny_warnings: bool,
    /// Extra variables, as the run will get them: inline JSON/YAML or @file; repeatable.
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// The env file your secret injector reads (`op run --env-file FILE`): names defined there
    /// that no template uses, and template ENV_ variables it lacks, are reported. Only names
    /// are read; values are never stored or printed.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Print the blast radius of one secret instead of the findings: every host, file, mode and
    /// owner that would receive it (NAME or ENV_NAME; a {{secret "p" "k"}} call is
    /// ENV_secret:p:k). Exit status as without it.
    #[arg(long = "secret", value_name = "NAME")]
    pub secret: Option<String>,
    /// Only these hosts (':' or ',' separated); unknown names are findings. Needs --inventory.
    #[arg(long = "limit-hosts", value_name = "HOSTS", requires = "inventory")]
    pub limit_hosts: Vec<String>,
    /// Only hosts in these groups (':' or ',' separated); unknown names are findings. Needs
    /// --inventory.
    #[arg(long = "limit-groups", value_name = "GROUPS", requires = "inventory")]
    pub limit_groups: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct InventoryArgs {
    /// Inventory directory.
    #[arg(short = 'i', long, required = true, value_name = "DIR")]
    pub inventory: PathBuf,
    /// Only these hosts.
    #[arg(long = "limit-hosts", value_name = "HOSTS")]
    pub limit_hosts: Vec<String>,
    /// Only hosts in these groups.
    #[arg(long = "limit-groups", value_name = "GROUPS")]
    pub limit_groups: Vec<String>,
    /// Report on these hosts (as Jet): their groups and resolved variables.
    #[arg(long = "show-hosts", value_name = "HOSTS")]
    pub show_hosts: Vec<String>,
    /// Report on these groups (as Jet): related groups, hosts and the group's variables.
    #[arg(long = "show-groups", value_name = "GROUPS")]
    pub show_groups: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DisconnectArgs {
    /// Only the connections to this inventory's hosts (default: every persisted connection).
    #[arg(short = 'i', long, value_name = "DIR")]
    pub inventory: Option<PathBuf>,
}
