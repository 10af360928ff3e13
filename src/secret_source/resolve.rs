//! Resolution: every wanted secret read once from its source before any host is contacted,
//! and the errors of those that failed, with the provider's stderr masked against every value
//! the run knows.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use indexmap::IndexMap;
use zeroize::Zeroizing;

use crate::env_name::ENV_PREFIX;
use crate::error::{Diagnostic, Location};
use crate::secret::Secret;

use super::command::run_command;
use super::{Config, Source, SourceError, Wanted, CONFIG_FILE, DEFAULT_TIMEOUT};

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
pub(super) fn trim_newline(v: &[u8]) -> &[u8] {
    if let Some(v) = v.strip_suffix(b"\r\n") {
        return v;
    }
    v.strip_suffix(b"\n").unwrap_or(v)
}

/// The error, and the failing process's stdout and stderr (for masking).
pub(super) type ReadError = Box<(SourceError, Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>)>;

/// Boxed on purpose: the error with two buffers is large, and it travels in every `Result`
/// of the read path.
#[allow(clippy::unnecessary_box_returns)]
pub(super) fn plain(e: SourceError) -> ReadError {
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
        Source::Named { provider, key } => read_named(name, source, provider, key, config)?,
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

/// Reads a secret from a provider configured in `jetlike-secrets.yml`: its file, or its
/// command with `{key}` substituted and the `pass_env` tokens it needs.
fn read_named(
    name: &str,
    source: &Source,
    provider: &str,
    key: &str,
    config: &Config,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let p = config.providers.get(provider).ok_or_else(|| {
        plain(SourceError::Unknown {
            name: name.into(),
            provider: provider.to_string(),
            where_: match &config.path {
                Some(p) => format!("not in {}", p.display()),
                None => {
                    format!("no {CONFIG_FILE} in the current directory and no --secrets-config")
                }
            },
        })
    })?;
    if let Some(template) = &p.file {
        return read_file(name, Path::new(&template.replace("{key}", key)));
    }
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
    got
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
    let mut buf = Zeroizing::new(Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0)));
    f.read_to_end(&mut buf).map_err(|e| fail(e.to_string()))?;
    Ok(buf)
}
