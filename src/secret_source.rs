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

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::env_name::ENV_PREFIX;
use crate::error::{Diagnostic, Error, Location};
use crate::secret::Secret;
use crate::template::Dialect;

/// Providers that need no configuration.
pub const BUILTIN: &[&str] = &["env", "file"];

/// The default configuration file, looked for in the current directory.
pub const CONFIG_FILE: &str = "jetlike-secrets.yml";

/// The most a provider may print (a secret, not a file).
const MAX_OUTPUT: u64 = 1 << 20;

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

pub use crate::template::call_name;

/// A secret a template file uses: its template variable, the source when the template names
/// it (`{{secret "p" "k"}}`), and where.
#[derive(Debug, Clone)]
pub struct SecretUse {
    pub name: String,
    pub call: Option<Source>,
    pub line: usize,
    pub column: usize,
}

/// The `secret` calls of a template file: `Ok` with each call's use, or the positions of calls
/// whose provider and key are not two string literals (they cannot be checked before the run).
pub fn template_calls(dialect: Dialect, text: &str) -> (Vec<SecretUse>, Vec<(usize, usize)>) {
    let calls: Vec<crate::template::SecretCall> = match dialect {
        Dialect::Handlebars => crate::template::secret_calls(text),
        Dialect::Jinja => jinja_secret_calls(text),
    };
    let mut uses = vec![];
    let mut bad = vec![];
    for (p, k, (line, column)) in calls {
        match (p, k) {
            (Some(p), Some(k)) if valid_provider(&p) => uses.push(SecretUse {
                name: call_name(&p, &k),
                call: Some(Source::from_provider(&p, &k)),
                line,
                column,
            }),
            _ => bad.push((line, column)),
        }
    }
    (uses, bad)
}

fn valid_provider(p: &str) -> bool {
    !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `secret("p", "k")` calls in a Jinja text (a lexical scan): literal arguments, or `None`s.
fn jinja_secret_calls(text: &str) -> Vec<crate::template::SecretCall> {
    use std::sync::OnceLock;
    static CALL: OnceLock<regex::Regex> = OnceLock::new();
    static FULL: OnceLock<regex::Regex> = OnceLock::new();
    let call = CALL.get_or_init(|| regex::Regex::new(r"\bsecret\s*\(").unwrap());
    let full = FULL.get_or_init(|| {
        regex::Regex::new(
            r#"^secret\s*\(\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*,\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\)"#,
        )
        .unwrap()
    });
    static TAG: OnceLock<regex::Regex> = OnceLock::new();
    let tag = TAG.get_or_init(|| regex::Regex::new(r"(?s)\{\{.*?\}\}|\{%.*?%\}").unwrap());
    let mut out = vec![];
    // Only inside expression and statement tags: plain text ("rotate the secret (yearly)")
    // and comments are not calls.
    let starts = tag.find_iter(text).flat_map(|t| {
        call.find_iter(t.as_str())
            .map(move |m| t.start() + m.start())
    });
    for start in starts {
        let m = &text[start..];
        // Not `x.secret(`: only the global function.
        if text[..start].ends_with('.') {
            continue;
        }
        let (line, column) = line_col(text, start);
        match full.captures(m) {
            Some(c) => {
                let p = c.get(1).or(c.get(2)).map(|m| m.as_str().to_string());
                let k = c.get(3).or(c.get(4)).map(|m| m.as_str().to_string());
                out.push((p, k, (line, column)));
            }
            None => out.push((None, None, (line, column))),
        }
    }
    out
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, column)
}

/// A secret the run needs: its source, and the first place that uses it (for errors).
#[derive(Debug, Clone)]
pub struct Wanted {
    pub source: Source,
    pub at: Location,
}

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
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from(CONFIG_FILE);
                if !p.is_file() {
                    return Ok(Config::default());
                }
                p
            }
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

/// What resolution produced: a value for every secret that resolved (named by template
/// variable), and an error for each that did not.
pub struct Resolved {
    pub secrets: BTreeMap<String, Secret>,
    pub errors: Vec<Diagnostic>,
}

/// A provider process's failure, kept until every value is known so its stderr can be masked
/// against all of them.
struct Failure {
    name: String,
    at: Location,
    error: SourceError,
    stderr: Zeroizing<Vec<u8>>,
    stdout: Zeroizing<Vec<u8>>,
}

/// Resolves every wanted secret once (secrets with the same source share one read), before any
/// host is contacted. `env` is what `--loadenv` loaded (`ENV_<NAME>` → value).
pub fn resolve(
    wanted: &BTreeMap<String, Wanted>,
    env: &BTreeMap<String, Secret>,
    config: &Config,
) -> Resolved {
    let mut by_source: BTreeMap<Source, Option<Zeroizing<Vec<u8>>>> = BTreeMap::new();
    let mut failures: Vec<Failure> = vec![];
    for (name, w) in wanted {
        if by_source.contains_key(&w.source) {
            continue;
        }
        let got = read(name, &w.source, env, config);
        match got {
            Ok(v) => {
                by_source.insert(w.source.clone(), Some(v));
            }
            Err(failed) => {
                let (error, stdout, stderr) = *failed;
                by_source.insert(w.source.clone(), None);
                failures.push(Failure {
                    name: name.clone(),
                    at: w.at.clone(),
                    error,
                    stderr,
                    stdout,
                });
            }
        }
    }
    let mut secrets = BTreeMap::new();
    for (name, w) in wanted {
        if let Some(Some(v)) = by_source.get(&w.source) {
            secrets.insert(name.clone(), Secret::new(name.clone(), v.to_vec()));
        }
    }
    // Stderr is masked against every value known to this run, the failing process's own stdout
    // included (a provider may print the value, then fail).
    let mut maskables: Vec<Secret> = secrets.values().cloned().collect();
    maskables.extend(env.values().cloned());
    maskables.extend(crate::environment::kept_for_providers());
    for f in &failures {
        let out = trim_newline(&f.stdout);
        if !out.is_empty() {
            maskables.push(Secret::new(f.name.clone(), out.to_vec()));
        }
        // Each line too (a multi-line value printed line by line), within reason.
        let lines: std::collections::BTreeSet<&[u8]> = f
            .stdout
            .split(|b| *b == b'\n')
            .filter(|l| l.len() >= 4)
            .take(256)
            .collect();
        for line in lines {
            maskables.push(Secret::new(f.name.clone(), line.to_vec()));
        }
    }
    let masker = crate::mask::Masker::new(maskables.iter());
    let errors = failures
        .into_iter()
        .map(|f| {
            let mut message = f.error.to_string();
            let shown = masked_tail(&masker, &f.stderr);
            if !shown.is_empty() {
                message.push_str(&format!("; its stderr (masked): {shown}"));
            }
            Diagnostic::new(message)
                .at(Some(f.at))
                .help(help_for(&f.error))
        })
        .collect();
    Resolved { secrets, errors }
}

fn help_for(e: &SourceError) -> String {
    match e {
        SourceError::Unknown { .. } => format!(
            "configure it in {CONFIG_FILE} (or --secrets-config FILE): providers: {{NAME: {{command: [prog, arg, \"{{key}}\"]}}}}"
        ),
        SourceError::FileMode { path, .. } => {
            format!("chmod 600 {} (secret files must be readable by their owner only)", path.display())
        }
        SourceError::Timeout { .. } => {
            "raise the provider's timeout (timeout: SECONDS), or check that it does not wait for input (it gets no terminal and no stdin)".into()
        }
        SourceError::NotUtf8 { .. } => {
            "templates render text: store the value as UTF-8 (base64-encode binary data)".into()
        }
        _ => "check the provider by running it yourself".into(),
    }
}

/// The last lines of a provider's stderr, masked, at most 400 characters, one line.
fn masked_tail(masker: &crate::mask::Masker, stderr: &[u8]) -> String {
    let masked = masker.mask(stderr);
    let text = String::from_utf8_lossy(&masked);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    let mut out: String = tail.chars().filter(|c| !c.is_control()).collect();
    if out.chars().count() > 400 {
        out = out.chars().take(400).collect::<String>() + "…";
    }
    out
}

/// One trailing newline (`\n` or `\r\n`) removed.
fn trim_newline(v: &[u8]) -> &[u8] {
    if let Some(v) = v.strip_suffix(b"\r\n") {
        return v;
    }
    v.strip_suffix(b"\n").unwrap_or(v)
}

/// The error, and the failing process's stdout and stderr (for masking).
type ReadError = Box<(SourceError, Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>)>;

fn plain(e: SourceError) -> ReadError {
    Box::new((e, Zeroizing::new(vec![]), Zeroizing::new(vec![])))
}

fn read(
    name: &str,
    source: &Source,
    env: &BTreeMap<String, Secret>,
    config: &Config,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let value = match source {
        Source::Env(var) => {
            let key = format!("{ENV_PREFIX}{var}");
            let s = env.get(&key).ok_or_else(|| {
                plain(SourceError::Provider {
                    name: name.into(),
                    via: source.describe(),
                    reason: format!("{var} is not set in the environment loaded with --loadenv"),
                })
            })?;
            Zeroizing::new(s.expose().to_vec())
        }
        Source::File(path) => read_file(name, path)?,
        Source::Command { argv, timeout } => run_command(
            name,
            &source.describe(),
            argv,
            &IndexMap::new(),
            timeout.unwrap_or(DEFAULT_TIMEOUT),
        )?,
        Source::Named { provider, key } => {
            let p = config.providers.get(provider).ok_or_else(|| {
                plain(SourceError::Unknown {
                    name: name.into(),
                    provider: provider.clone(),
                    where_: match &config.path {
                        Some(p) => format!("not in {}", p.display()),
                        None => format!(
                            "no {CONFIG_FILE} in the current directory and no --secrets-config"
                        ),
                    },
                })
            })?;
            if let Some(template) = &p.file {
                read_file(name, Path::new(&template.replace("{key}", key)))?
            } else {
                if key.starts_with('-') {
                    return Err(plain(SourceError::Provider {
                        name: name.into(),
                        via: source.describe(),
                        reason: "a key may not start with '-' (it would read as an option)".into(),
                    }));
                }
                let mut extra: IndexMap<String, String> = p.env.clone();
                let kept = crate::environment::kept_for_providers();
                for var in &p.pass_env {
                    let value = kept
                        .iter()
                        .find(|s| s.name() == var)
                        .and_then(|s| s.expose_str().map(str::to_string));
                    match value {
                        Some(v) => {
                            extra.insert(var.clone(), v);
                        }
                        None => {
                            return Err(plain(SourceError::Provider {
                                name: name.into(),
                                via: source.describe(),
                                reason: format!(
                                    "it needs {var} (pass_env), which is not set (as UTF-8) in jetlike's environment"
                                ),
                            }))
                        }
                    }
                }
                let argv: Vec<String> = p
                    .command
                    .iter()
                    .flatten()
                    .map(|a| a.replace("{key}", key))
                    .collect();
                let got = run_command(
                    name,
                    &source.describe(),
                    &argv,
                    &extra,
                    p.timeout.unwrap_or(DEFAULT_TIMEOUT),
                );
                // The pass_env copies (tokens) are wiped.
                for v in extra.values_mut() {
                    zeroize::Zeroize::zeroize(v);
                }
                got?
            }
        }
    };
    let trimmed = Zeroizing::new(match source {
        Source::Env(_) => value.to_vec(),
        _ => trim_newline(&value).to_vec(),
    });
    if std::str::from_utf8(&trimmed).is_err() {
        return Err(plain(SourceError::NotUtf8 {
            name: name.into(),
            via: source.describe(),
        }));
    }
    Ok(trimmed)
}

fn read_file(name: &str, path: &Path) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let fail = |reason: String| {
        plain(SourceError::Provider {
            name: name.into(),
            via: format!("provider file, {}", path.display()),
            reason,
        })
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o044 != 0 {
        return Err(plain(SourceError::FileMode {
            name: name.into(),
            path: path.to_path_buf(),
            mode,
        }));
    }
    let mut f = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut buf = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    f.read_to_end(&mut buf).map_err(|e| fail(e.to_string()))?;
    Ok(buf)
}

/// Runs `argv` without a shell: allowlisted environment plus `extra`, stdin from /dev/null, a
/// session of its own (no controlling terminal), killed with its process group after
/// `timeout_secs`. Returns stdout; on failure, the error with stdout and stderr for masking.
fn run_command(
    name: &str,
    describe: &str,
    argv: &[String],
    extra: &IndexMap<String, String>,
    timeout_secs: u64,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let fail = |reason: String| {
        plain(SourceError::Provider {
            name: name.into(),
            via: describe.into(),
            reason,
        })
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .envs(crate::environment::child_env().iter().map(|(k, v)| (k, v)))
        .envs(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start {}: {e}", argv[0])))?;
    let pid = child.id() as i32;
    let reader = |pipe: Box<dyn Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Room up front: a growing buffer would leave unwiped copies behind.
            let mut buf = Zeroizing::new(Vec::with_capacity(64 * 1024));
            // At most MAX_OUTPUT (+1, to tell that it was more).
            let _ = pipe.take(MAX_OUTPUT + 1).read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    };
    let out_rx = reader(Box::new(child.stdout.take().expect("piped")));
    let err_rx = reader(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(fail(format!("cannot wait for it: {e}"))),
        }
    };
    let kill_group = || {
        // SAFETY: signals the process group the child leads (its own session).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    };
    let Some(status) = status else {
        kill_group();
        let _ = child.wait();
        // What it printed so far: stdout is kept (only) to mask stderr with.
        let stdout = out_rx
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        let stderr = err_rx
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        return Err(Box::new((
            SourceError::Timeout {
                name: name.into(),
                via: describe.into(),
                secs: timeout_secs,
            },
            stdout,
            stderr,
        )));
    };
    // A daemon it started (gpg-agent) may hold the pipes open: wait a little, then go on.
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(500));
    let stdout = out_rx.recv_timeout(left);
    let stderr = err_rx
        .recv_timeout(Duration::from_millis(500))
        .unwrap_or_default();
    let Ok(stdout) = stdout else {
        // Never a partial (or empty) value in place of the real one.
        return Err(Box::new((
            SourceError::Provider {
                name: name.into(),
                via: describe.into(),
                reason: "it exited, but its output stayed open (a background process it started holds it)".into(),
            },
            Zeroizing::new(vec![]),
            stderr,
        )));
    };
    if stdout.len() as u64 > MAX_OUTPUT {
        return Err(Box::new((
            SourceError::Provider {
                name: name.into(),
                via: describe.into(),
                reason: format!("its output is larger than {MAX_OUTPUT} bytes"),
            },
            // Not a secret value: too large to be one, and to mask stderr with.
            Zeroizing::new(vec![]),
            stderr,
        )));
    }
    if !status.success() {
        let how = match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".into(),
        };
        return Err(Box::new((
            SourceError::Provider {
                name: name.into(),
                via: describe.into(),
                reason: how,
            },
            stdout,
            stderr,
        )));
    }
    Ok(stdout)
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

/// Turns a configuration error into the run's error type (exit 3).
pub fn config_error(e: SourceError) -> Error {
    Error::Invalid(vec![Diagnostic::new(e.to_string()).help(
        "fix the file: providers: {NAME: {command: [prog, \"{key}\"], timeout: 30, env: {}}} or {NAME: {file: \"/run/secrets/{key}\"}}",
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let argv: Vec<String> = ["sleep", "5"].iter().map(|s| s.to_string()).collect();
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
            .map(|s| s.to_string())
            .collect();
        let out = run_command("ENV_X", "command", &argv, &IndexMap::new(), 5).unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("not a tty") && !out.contains("tty0"), "{out}");
    }
}
