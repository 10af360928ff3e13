//! The command line: argument definitions and the thin driver that wires load → policy →
//! prepare → mask → run, and turns the result into an exit code.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::error::{exit, Diagnostic, Error, Result};
use crate::inventory::Inventory;
use crate::mask::Masker;
use crate::output::{Format, Output};
use crate::playbook::{load_playbooks, LoadedPlay, Vars};
use crate::runner::{RunOptions, Runner, SshOptions};
use crate::template::Engine;

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
}

/// Splits repeatable, `:`/`,`-separated list flags.
fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split([':', ',']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn main() -> i32 {
    // First, before any thread exists: copy the environment out of the original block and
    // wipe it (see `environment`).
    crate::environment::init();
    crate::output::install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    match cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut buf = vec![];
            clap_complete::generate(shell, &mut cmd, "jetlike", &mut buf);
            let out = Output::new(Format::Human, 0);
            out.text(&String::from_utf8_lossy(&buf));
            out.finish();
            exit::OK
        }
        Command::Man { dir } => {
            let out = Output::new(Format::Human, 0);
            let code = match crate::manpages::write_pages(&Cli::command(), &dir) {
                Ok(paths) => {
                    for p in paths {
                        out.text(&format!("{}\n", p.display()));
                    }
                    exit::OK
                }
                Err(e) => {
                    out.error(&format!("error: {e}\n"));
                    exit::TASK_FAILED
                }
            };
            out.finish();
            code
        }
        Command::Schema { kind } => {
            let out = Output::new(Format::Human, 0);
            out.text(&crate::schema::render(kind));
            out.finish();
            exit::OK
        }
        Command::ShowInventory(args) => {
            let _ = crate::environment::load(false);
            let out = Output::new(Format::Human, 0);
            let code = match show_inventory(&args, &out) {
                Ok(()) => exit::OK,
                Err(e) => {
                    out.error(&e.render());
                    e.exit_code()
                }
            };
            out.finish();
            code
        }
        Command::Lint(args) => {
            let _ = crate::environment::load(false);
            let out = Output::new(Format::Human, 0);
            let mut opts = crate::lint::Options {
                playbooks: split_list(&args.playbooks)
                    .into_iter()
                    .map(PathBuf::from)
                    .collect(),
                inventory: args.inventory.clone(),
                extra_vars: vec![],
                env_file: args.env_file.clone(),
                limit_hosts: split_list(&args.limit_hosts),
                limit_groups: split_list(&args.limit_groups),
            };
            for (i, e) in args.extra_vars.iter().enumerate() {
                match crate::var_precedence::parse_extra_vars(e) {
                    Ok(v) => {
                        // As the run names them: inline values by their position.
                        let origin = if e.starts_with('@') {
                            e.clone()
                        } else {
                            format!("#{}", i + 1)
                        };
                        opts.extra_vars.push((origin, v));
                    }
                    Err(err) => {
                        out.error(&err.render());
                        out.finish();
                        return err.exit_code();
                    }
                }
            }
            let report = crate::lint::lint(&opts);
            use crate::lint::annotations::LintFormat;
            if let Some(name) = &args.secret {
                let (plays, _) = crate::playbook::load_playbooks_lenient(&opts.playbooks);
                let (text, doc) = crate::lint::blast_radius(&report.flows, &plays, name);
                match args.format {
                    LintFormat::Json => out.text(&format!(
                        "{}\n",
                        serde_json::to_string_pretty(&doc).unwrap_or_default()
                    )),
                    _ => out.text(&text),
                }
                out.finish();
                return if report.errors() > 0 {
                    exit::INVALID
                } else {
                    exit::OK
                };
            }
            match args.format {
                LintFormat::Sarif => out.text(&crate::lint::sarif::render_sarif(&report)),
                LintFormat::Github => out.text(&crate::lint::annotations::render_github(&report)),
                LintFormat::Gitlab => out.text(&crate::lint::annotations::render_gitlab(
                    &report,
                    opts.playbooks
                        .first()
                        .map_or(std::path::Path::new("."), |p| p),
                )),
                LintFormat::Json => {
                    let doc = serde_json::json!({
                        "version": 1,
                        "errors": report.errors(),
                        "warnings": report.warnings(),
                        "findings": report.findings,
                        "flows": report.flows,
                    });
                    out.text(&format!(
                        "{}\n",
                        serde_json::to_string_pretty(&doc).unwrap_or_default()
                    ));
                }
                LintFormat::Human => out.text(&crate::lint::render_human(&report)),
            }
            out.finish();
            if report.errors() > 0 || (args.deny_warnings && report.warnings() > 0) {
                exit::INVALID
            } else {
                exit::OK
            }
        }
        Command::Local(a) => run(a, false, false),
        Command::CheckLocal(a) => run(a, false, true),
        Command::Ssh(a) => run(a, true, false),
        Command::CheckSsh(a) => run(a, true, true),
    }
}

fn selected_hosts(
    inv: &Inventory,
    limit_hosts: &[String],
    limit_groups: &[String],
) -> Result<BTreeSet<String>> {
    let all = inv.all_hosts();
    for h in limit_hosts {
        if !all.contains(h) {
            return Err(Error::Usage(format!(
                "--limit-hosts: no host named {h:?} in the inventory"
            )));
        }
    }
    for g in limit_groups {
        if !inv.has_group(g) {
            return Err(Error::Usage(format!(
                "--limit-groups: no group named {g:?} in the inventory"
            )));
        }
    }
    let mut hosts = all;
    if !limit_hosts.is_empty() {
        hosts.retain(|h| limit_hosts.contains(h));
    }
    if !limit_groups.is_empty() {
        let allowed: BTreeSet<String> = limit_groups.iter().flat_map(|g| inv.hosts_of(g)).collect();
        hosts.retain(|h| allowed.contains(h));
    }
    Ok(hosts)
}

fn show_inventory(args: &InventoryArgs, out: &Output) -> Result<()> {
    let inv = Inventory::load(&args.inventory)?;
    let hosts = selected_hosts(
        &inv,
        &split_list(&args.limit_hosts),
        &split_list(&args.limit_groups),
    )?;
    let mut s = String::from("groups:\n");
    let counts = inv.member_counts();
    for (name, g) in &inv.groups {
        let count = counts.get(name).copied().unwrap_or(0);
        s.push_str(&format!("  {name}: {count} host(s)"));
        if !g.subgroups.is_empty() {
            s.push_str(&format!(
                ", subgroups: {}",
                g.subgroups.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        s.push('\n');
    }
    s.push_str("hosts:\n");
    for h in hosts {
        let of = inv.groups_of(&h);
        let groups: Vec<&str> = of.iter().map(|(_, g)| g.as_str()).collect();
        s.push_str(&format!(
            "  {h}:\n    groups: {}\n    vars:\n",
            groups.join(", ")
        ));
        let vars = inv.host_variables(&h);
        for (k, v) in vars
            .iter()
            .filter(|(k, _)| !k.starts_with(crate::env_name::ENV_PREFIX))
        {
            s.push_str(&format!("      {k}: {v}\n"));
        }
    }
    out.text(&s);
    Ok(())
}

/// The play list with the hosts each play targets.
fn plan_hosts(
    plays: Vec<LoadedPlay>,
    inv: &Inventory,
    ssh: bool,
    args: &RunArgs,
) -> Result<Vec<(Arc<LoadedPlay>, Vec<String>)>> {
    if !ssh {
        return Ok(plays
            .into_iter()
            .map(|p| (Arc::new(p), vec!["localhost".to_string()]))
            .collect());
    }
    let selected = selected_hosts(
        inv,
        &split_list(&args.limit_hosts),
        &split_list(&args.limit_groups),
    )?;
    let mut errors = vec![];
    let mut out = vec![];
    for p in plays {
        let mut hosts = BTreeSet::new();
        for (gi, g) in p.play.groups.iter().enumerate() {
            if !inv.has_group(g) {
                use crate::playbook::FieldStep::{Index as I, Key as K};
                errors.push(
                    Diagnostic::new(format!(
                        "play {:?} targets group {g:?}, which the inventory does not define",
                        p.play.name
                    ))
                    .at(Some(p.source.locate(&[I(p.index), K("groups"), I(gi)])))
                    .help(format!(
                        "known groups: {}",
                        inv.groups.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                );
                continue;
            }
            hosts.extend(inv.hosts_of(g).into_iter().filter(|h| selected.contains(h)));
        }
        out.push((Arc::new(p), hosts.into_iter().collect()));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(errors))
    }
}

fn run(args: RunArgs, ssh: bool, check: bool) -> i32 {
    // Named secret providers: the variables some of them take from this environment
    // (`pass_env:`) are kept for them before the environment is scrubbed.
    let config = crate::secret_source::Config::load(args.secrets_config.as_deref());
    if let Ok(c) = &config {
        crate::environment::keep_for_providers(&c.pass_env_names());
    }
    // Read (and, with --loadenv, scrub) the environment before any thread exists.
    let env = crate::environment::load(args.loadenv);
    let out = Output::new(args.output, args.verbose);
    let code = match config
        .map_err(crate::secret_source::config_error)
        .and_then(|config| prepare_and_run(args, ssh, check, env, config, &out))
    {
        Ok(code) => code,
        Err(e) => {
            out.error(&e.render());
            e.exit_code()
        }
    };
    out.finish();
    code
}

fn prepare_and_run(
    args: RunArgs,
    ssh: bool,
    check: bool,
    env: std::collections::BTreeMap<String, crate::secret::Secret>,
    config: crate::secret_source::Config,
    out: &Arc<Output>,
) -> Result<i32> {
    let inventory = match (ssh, &args.inventory) {
        (true, Some(dir)) => Inventory::load(dir)?,
        (true, None) => return Err(Error::Usage("ssh modes need --inventory DIR".into())),
        (false, Some(_)) => {
            return Err(Error::Usage(
                "local modes run on this machine only and take no --inventory; use `jetlike ssh` for inventory hosts".into(),
            ))
        }
        (false, None) => Inventory::localhost(),
    };
    let paths: Vec<PathBuf> = split_list(&args.playbooks)
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let mut extra_layers = vec![];
    let mut extra = Vars::new();
    for (i, e) in args.extra_vars.iter().enumerate() {
        let v = crate::var_precedence::parse_extra_vars(e)?;
        crate::playbook::merge(&mut extra, &v);
        // Inline values are named by their position among the -e arguments.
        let origin = if e.starts_with('@') {
            e.clone()
        } else {
            format!("#{}", i + 1)
        };
        extra_layers.push((origin, v));
    }
    let plays = load_playbooks(&paths)?;
    let engine = Arc::new(Engine::new());
    let mut violations = crate::policy::check(&engine, &plays, &extra_layers, args.loadenv);
    violations.extend(crate::policy::check_inventory(&engine, &inventory));
    violations.extend(crate::secret_decl::check(&plays));
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    let plays = plan_hosts(plays, &inventory, ssh, &args)?;
    let refs: Vec<(&LoadedPlay, Vec<String>)> =
        plays.iter().map(|(p, h)| (p.as_ref(), h.clone())).collect();
    let prepared = crate::prepare::prepare(&engine, &refs, &inventory, &extra, args.loadenv, &env)?;

    // The secret set is known: children (providers included) get the allowlisted environment
    // minus the environment values in use; then every secret is read, once, before any host
    // is contacted, and every output byte is masked from here on.
    crate::environment::seal_child_env(&crate::secret_source::env_secrets_in_use(
        &prepared.secret_sources,
        &env,
    ));
    let resolved = crate::secret_source::resolve(&prepared.secret_sources, &env, &config);
    drop(env);
    let env = resolved.secrets;
    let kept = crate::environment::kept_for_providers();
    let masker = Arc::new(Masker::new(env.values().chain(kept.iter())));
    drop(kept);
    out.set_masker(masker.clone());
    if !resolved.errors.is_empty() {
        return Err(Error::Invalid(resolved.errors));
    }
    for name in masker.take_unwarned() {
        out.warn(&format!(
            "{name} is shorter than 4 bytes: it is used, but cannot be masked in output without destroying it"
        ));
    }

    let opts = RunOptions {
        check,
        diff: args.diff,
        diff_content: !args.no_diff_content,
        threads: args.threads,
        batch_size: args.batch_size,
        tags: split_list(&args.tags),
        sudo: args.sudo.clone(),
        ssh: ssh.then(|| SshOptions {
            user: args.user.clone(),
            port: args.port,
            config_file: args.ssh_config.clone(),
            accept_new_host_keys: args.accept_new_host_keys,
            connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
        }),
        extra_vars: extra,
        masker: masker.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the runtime: {e}")))?;
    let runner = Arc::new(
        Runner::new(
            engine,
            out.clone(),
            opts,
            Arc::new(inventory),
            Arc::new(prepared),
            Arc::new(env),
        )
        .map_err(|e| {
            Error::Runtime(format!(
                "cannot create a private directory for SSH control sockets: {e}"
            ))
        })?,
    );
    crate::signals::watch(runner.cancelled.clone(), out.clone());
    let collector = (args.format.is_some() || args.summary.is_some()).then(|| {
        let c = Arc::new(crate::summary::Collector::default());
        out.observe(c.clone());
        c
    });
    let loaded: Vec<Arc<LoadedPlay>> = plays.iter().map(|(p, _)| p.clone()).collect();
    let outcome = rt.block_on(async {
        let o = runner.run(plays).await;
        runner.shutdown().await;
        o
    });
    if let Some(c) = collector {
        if args.format == Some(crate::summary::RunFormat::Github) {
            let refs: Vec<&LoadedPlay> = loaded.iter().map(Arc::as_ref).collect();
            let text = c.github_annotations(&refs);
            match out.format() {
                Format::Json => out.text_err(&text),
                Format::Human => out.text(&text),
            }
        }
        if let Some(path) = &args.summary {
            let command = match (ssh, check) {
                (false, false) => "local",
                (false, true) => "check-local",
                (true, false) => "ssh",
                (true, true) => "check-ssh",
            };
            let md = masker.mask_str(&c.markdown(command));
            crate::summary::write_atomically(path, &md)
                .map_err(|e| Error::Runtime(e.to_string()))?;
        }
    }
    Ok(if outcome.interrupted {
        crate::signals::INTERRUPTED
    } else if outcome.failed {
        exit::TASK_FAILED
    } else if outcome.unreachable {
        exit::UNREACHABLE
    } else {
        exit::OK
    })
}
