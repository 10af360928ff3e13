//! The program: start-up order, subcommand dispatch, and the run subcommands as named steps
//! (validate → load and check → target hosts → prepare → resolve secrets and mask → run →
//! CI reports), each error turned into its [`ExitCode`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use clap::{CommandFactory, Parser};

use crate::arguments::{Cli, Command, RunArgs};
use crate::config::{Mode, RunConfig, StartupSettings, Transport};
use crate::error::{Diagnostic, Error, Result};
use crate::exit_code::ExitCode;
use crate::lint_command::lint;
use crate::mask::Masker;
use crate::output::{Format, Output};
use crate::playbook::{load_playbooks, LoadedPlay};
use crate::prepare::Prepared;
use crate::runner::{Outcome, RunOptions, Runner};
use crate::secret::Secret;
use crate::show_inventory::show_inventory;
use crate::template::Engine;

/// Secret values by `ENV_` name.
type Secrets = BTreeMap<String, Secret>;

/// Each play with the hosts it targets.
type TargetedPlays = Vec<(Arc<LoadedPlay>, Vec<String>)>;

/// `jetlike`'s entry point; returns the process exit status.
pub fn main() -> i32 {
    // First, before any thread exists: copy the environment out of the original block and
    // wipe it (see `environment`).
    crate::environment::init();
    crate::output::install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // `--help` and `--version` come here too, on stdout.
            return if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            }
            .code();
        }
    };
    dispatch(cli.command).code()
}

fn dispatch(command: Command) -> ExitCode {
    let run_mode = |transport, check| Mode { transport, check };
    match command {
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => man(&dir),
        Command::Schema { kind } => with_output(|out| {
            out.text(&crate::schema::render(kind));
            Ok(ExitCode::Ok)
        }),
        Command::ShowInventory(args) => {
            let _ = crate::environment::load(false);
            with_output(|out| show_inventory(&args, out).map(|()| ExitCode::Ok))
        }
        Command::Disconnect(args) => {
            let _ = crate::environment::load(false);
            with_output(|out| disconnect(&args, out))
        }
        Command::Lint(args) => {
            let _ = crate::environment::load(false);
            with_output(|out| lint(&args, out))
        }
        Command::Local(a) => run(a, run_mode(Transport::Local, false)),
        Command::CheckLocal(a) => run(a, run_mode(Transport::Local, true)),
        Command::Ssh(a) => run(a, run_mode(Transport::Ssh, false)),
        Command::CheckSsh(a) => run(a, run_mode(Transport::Ssh, true)),
    }
}

/// Runs a subcommand that prints plain text, reporting its error if it has one.
fn with_output(command: impl FnOnce(&Output) -> Result<ExitCode>) -> ExitCode {
    let out = Output::new(Format::Human, 0);
    let code = command(&out).unwrap_or_else(|e| report(&e, &out));
    out.finish();
    code
}

/// Prints `e` and gives its exit code.
fn report(e: &Error, out: &Output) -> ExitCode {
    out.error(&e.render());
    e.exit_code()
}

/// `jetlike disconnect`: closes persisted masters (all, or those of an inventory's hosts).
fn disconnect(args: &crate::arguments::DisconnectArgs, out: &Output) -> Result<ExitCode> {
    let dir = crate::persist::directory().map_err(Error::Runtime)?;
    let hosts = match &args.inventory {
        Some(inv) => Some(crate::inventory::Inventory::load(inv)?.all_hosts()),
        None => None,
    };
    let closed = crate::persist::disconnect(&dir, hosts.as_ref());
    let s = if closed == 1 { "" } else { "s" };
    out.text(&format!("closed {closed} persisted SSH connection{s}\n"));
    Ok(ExitCode::Ok)
}

fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = Cli::command();
    let mut buf = vec![];
    clap_complete::generate(shell, &mut cmd, "jetlike", &mut buf);
    with_output(|out| {
        out.text(&String::from_utf8_lossy(&buf));
        Ok(ExitCode::Ok)
    })
}

fn man(dir: &Path) -> ExitCode {
    let out = Output::new(Format::Human, 0);
    let code = match crate::manpages::write_pages(&Cli::command(), dir) {
        Ok(paths) => {
            for p in paths {
                out.text(&format!("{}\n", p.display()));
            }
            ExitCode::Ok
        }
        Err(e) => {
            out.error(&format!("error: {e}\n"));
            ExitCode::TaskFailed
        }
    };
    out.finish();
    code
}

/// A run subcommand, in start-up order: the named secret providers' configuration (the
/// environment variables some of them take, `pass_env:`, are kept before the environment is
/// scrubbed), the environment (read, and with --loadenv scrubbed, before any thread exists),
/// the output, then the validated configuration and the run.
fn run(args: RunArgs, mode: Mode) -> ExitCode {
    let startup = StartupSettings::from_args(&args);
    let providers = crate::secret_source::Config::load(startup.secrets_config.as_deref());
    if let Ok(c) = &providers {
        crate::environment::keep_for_providers(&c.pass_env_names());
    }
    let env = crate::environment::load(startup.loadenv);
    let out = Output::new(startup.format, startup.verbosity);
    let code = providers
        .map_err(crate::secret_source::config_error)
        .and_then(|providers| {
            let config = RunConfig::from_args(args, mode)?;
            prepare_and_run(config, env, &providers, &out)
        })
        .unwrap_or_else(|e| report(&e, &out));
    out.finish();
    code
}

fn prepare_and_run(
    config: RunConfig,
    env: Secrets,
    providers: &crate::secret_source::Config,
    out: &Arc<Output>,
) -> Result<ExitCode> {
    if config.mode.is_ssh() {
        crate::fd_limit::ensure(config.threads).map_err(Error::Runtime)?;
    }
    for w in &config.inventory.warnings {
        out.warn(&w.message);
    }
    let engine = Arc::new(Engine::new());
    let plays = load_checked_plays(&engine, &config)?;
    let plays = target_hosts(plays, &config)?;
    let refs: Vec<(&LoadedPlay, Vec<String>)> =
        plays.iter().map(|(p, h)| (p.as_ref(), h.clone())).collect();
    let prepared = crate::prepare::prepare(
        &engine,
        &refs,
        &config.inventory,
        &config.extra_vars.merged,
        config.loadenv,
        &env,
    )?;
    let (secrets, masker) = resolve_secrets(&prepared, env, providers, out)?;
    // Templates render on these threads: give them the main thread's 8 MiB (untouched
    // pages cost no memory), so a template within the nesting limits of `depth` renders in
    // any build, not only where 2 MiB happens to suffice.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the runtime: {e}")))?;
    let (mode, reports) = (config.mode, config.reports.clone());
    let runner = start_runner(engine, config, prepared, secrets, masker.clone(), out)?;
    let collector = reports.wanted().then(|| {
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
        write_ci_reports(&c, &reports, mode, &loaded, &masker, out)?;
    }
    Ok(outcome_code(outcome))
}

/// The playbooks, loaded, with every policy checked: the `ENV_` rule on plays, `-e` and the
/// inventory, and the plays' secret declarations.
fn load_checked_plays(engine: &Engine, config: &RunConfig) -> Result<Vec<LoadedPlay>> {
    let plays = load_playbooks(&config.playbooks)?;
    let mut violations =
        crate::policy::check(engine, &plays, &config.extra_vars.layers, config.loadenv);
    violations.extend(crate::policy::check_inventory(engine, &config.inventory));
    violations.extend(crate::secret_decl::check(&plays));
    if violations.is_empty() {
        Ok(plays)
    } else {
        Err(Error::Invalid(violations))
    }
}

/// The play list with the hosts each play targets: `localhost` in local modes, else the
/// members of the play's groups that the limits keep.
fn target_hosts(plays: Vec<LoadedPlay>, config: &RunConfig) -> Result<TargetedPlays> {
    if !config.mode.is_ssh() {
        return Ok(plays
            .into_iter()
            .map(|p| (Arc::new(p), vec!["localhost".to_string()]))
            .collect());
    }
    let inv = &config.inventory;
    let selected = config.limits.select(inv)?;
    let mut errors = vec![];
    let mut out = vec![];
    for p in plays {
        let mut hosts = std::collections::BTreeSet::new();
        for (gi, g) in p.play.groups.iter().enumerate() {
            if inv.has_group(g) {
                hosts.extend(inv.hosts_of(g).into_iter().filter(|h| selected.contains(h)));
            } else {
                errors.push(unknown_group(&p, gi, g, inv));
            }
        }
        out.push((Arc::new(p), hosts.into_iter().collect()));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(errors))
    }
}

fn unknown_group(
    p: &LoadedPlay,
    index: usize,
    group: &str,
    inv: &crate::inventory::Inventory,
) -> Diagnostic {
    use crate::playbook::FieldStep::{Index as I, Key as K};
    let known: Vec<&str> = inv.groups.keys().map(String::as_str).collect();
    Diagnostic::new(format!(
        "play {:?} targets group {group:?}, which the inventory does not define",
        p.play.name
    ))
    .at(Some(p.source.locate(&[I(p.index), K("groups"), I(index)])))
    .help(format!("known groups: {}", known.join(", ")))
}

/// The secret set is known: children (providers included) get the allowlisted environment
/// minus the environment values in use; then every secret is read, once, before any host is
/// contacted, and every output byte is masked from here on.
fn resolve_secrets(
    prepared: &Prepared,
    env: Secrets,
    providers: &crate::secret_source::Config,
    out: &Output,
) -> Result<(Secrets, Arc<Masker>)> {
    crate::environment::seal_child_env(&crate::secret_source::env_secrets_in_use(
        &prepared.secret_sources,
        &env,
    ));
    let resolved = crate::secret_source::resolve(&prepared.secret_sources, &env, providers);
    drop(env);
    let secrets = resolved.secrets;
    let kept = crate::environment::kept_for_providers();
    let masker = Arc::new(Masker::new(secrets.values().chain(kept.iter())));
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
    Ok((secrets, masker))
}

/// The runner for `config`, with the signal watcher that cancels it.
fn start_runner(
    engine: Arc<Engine>,
    config: RunConfig,
    prepared: Prepared,
    secrets: Secrets,
    masker: Arc<Masker>,
    out: &Arc<Output>,
) -> Result<Arc<Runner>> {
    let opts = RunOptions {
        check: config.mode.check,
        diff: config.diff.when_applying,
        diff_content: config.diff.content,
        threads: config.threads,
        batch_size: config.batch_size,
        tags: config.tags,
        sudo: config.sudo,
        ssh: config.ssh,
        extra_vars: config.extra_vars.merged,
        masker,
    };
    let runner = Runner::new(
        engine,
        out.clone(),
        opts,
        Arc::new(config.inventory),
        Arc::new(prepared),
        Arc::new(secrets),
    )
    .map_err(|e| {
        Error::Runtime(format!(
            "cannot create a private directory for SSH control sockets: {e}"
        ))
    })?;
    let runner = Arc::new(runner);
    crate::signals::watch(runner.cancelled.clone(), out.clone());
    Ok(runner)
}

/// `--format github` annotations and the `--summary` file, from what the collector saw.
fn write_ci_reports(
    collector: &crate::summary::Collector,
    reports: &crate::config::CiReports,
    mode: Mode,
    loaded: &[Arc<LoadedPlay>],
    masker: &Masker,
    out: &Output,
) -> Result<()> {
    if reports.format == Some(crate::summary::RunFormat::Github) {
        let refs: Vec<&LoadedPlay> = loaded.iter().map(Arc::as_ref).collect();
        let text = collector.github_annotations(&refs);
        match out.format() {
            Format::Json => out.text_err(&text),
            Format::Human => out.text(&text),
        }
    }
    if let Some(path) = &reports.summary {
        let md = masker.mask_str(&collector.markdown(mode.command_name()));
        crate::summary::write_atomically(path, &md).map_err(|e| Error::Runtime(e.to_string()))?;
    }
    Ok(())
}

/// The exit code of a finished run: an interruption first, then failures, then
/// unreachable hosts.
fn outcome_code(outcome: Outcome) -> ExitCode {
    if outcome.interrupted {
        ExitCode::Interrupted
    } else if outcome.failed {
        ExitCode::TaskFailed
    } else if outcome.unreachable {
        ExitCode::Unreachable
    } else {
        ExitCode::Ok
    }
}
