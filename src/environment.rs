//! The process environment: what `--loadenv` reads as `ENV_*`, and the explicit, allowlisted
//! environment every child process gets, so a secret injected by `op run` never reaches a
//! `!shell` task, an `ssh` process (`SendEnv`, `ProxyCommand`) or a helper.
//!
//! The life of the environment, in order (all before any thread exists):
//! 1. [`init`], first thing in `main`: every variable is copied into jetlike's own zeroizing
//!    memory; the C environment is rebuilt on the heap with only the allowlist and the few
//!    settings jetlike reads itself (`JET_SSH_USER`, `JET_SSH_PORT`, `JET_ROLES_PATH`,
//!    `NO_COLOR`); the original
//!    environment block that the kernel set up at `execve` is overwritten with zeros, so
//!    `/proc/<pid>/environ` shows nothing of it; and the process is made non-dumpable
//!    (`PR_SET_DUMPABLE` 0), so other processes of the same uid cannot read its
//!    `/proc/<pid>/{environ,mem}` nor attach a debugger. (Root still can read its memory.)
//! 2. [`load`], after the command line is parsed: with `--loadenv` the copied variables become
//!    `ENV_<NAME>` secret candidates; in every case the process environment is scrubbed down to
//!    the allowlist, so `ssh` (which inherits it) sees nothing else.
//! 3. [`seal_child_env`], once the secret set is known: the child environment is computed,
//!    once, as the allowlist minus every variable whose value is a secret in use (for example
//!    `TZ` when a template uses `{{ENV_TZ}}`); those are removed from the process environment
//!    too.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::sync::{Mutex, Once, OnceLock};

use zeroize::{Zeroize, Zeroizing};

use crate::secret::Secret;

/// The only variables passed to child processes (and kept in jetlike's own environment), plus
/// every `LC_*`. `SSH_AUTH_SOCK` lets `ssh` use the agent; `KRB5CCNAME` lets it use GSSAPI;
/// `TMPDIR` is where jetlike (its SSH control sockets) and `mktemp` put temporary files.
pub const CHILD_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "USER",
    "LOGNAME",
    "TERM",
    "TZ",
    "TMPDIR",
    "SSH_AUTH_SOCK",
    "KRB5CCNAME",
];

/// Settings jetlike reads itself before [`load`] (clap's `env =` flags, colours); never passed
/// to children.
const OWN_SETTINGS: &[&str] = &["JET_SSH_USER", "JET_SSH_PORT", "JET_ROLES_PATH", "NO_COLOR"];

/// Whether a variable may reach child processes: the allowlist and every `LC_*` locale one.
pub fn allowlisted(name: &str) -> bool {
    CHILD_ALLOWLIST.contains(&name) || (name.len() > 3 && name.starts_with("LC_"))
}

type Copied = Vec<(OsString, Zeroizing<Vec<u8>>)>;

/// Every variable as it was at start-up, in zeroizing memory, until [`load`] takes it.
static ORIGINAL: Mutex<Option<Copied>> = Mutex::new(None);
/// The allowlisted variables, waiting for the secret set (see [`seal_child_env`]).
static ALLOWED: Mutex<Option<Vec<(String, String)>>> = Mutex::new(None);
static NO_COLOR: OnceLock<bool> = OnceLock::new();
static CHILD_ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();
static INIT: Once = Once::new();

/// The environment for child processes, computed once by [`seal_child_env`]. Before that it
/// is empty: nothing may start a child before the secret set is known.
pub fn child_env() -> &'static [(String, String)] {
    CHILD_ENV.get().map_or(&[], Vec::as_slice)
}

/// Whether `NO_COLOR` was set (non-empty) when jetlike started.
pub fn no_color() -> bool {
    *NO_COLOR.get_or_init(|| std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()))
}

/// Start-up, before anything else runs and before any thread exists (see the module docs).
/// Idempotent.
pub fn init() {
    INIT.call_once(init_once);
}

fn init_once() {
    let _ = no_color();
    // The original block's bounds, and the strings the original `environ` points at, read
    // before anything changes.
    let bounds = original_env_bounds();
    let originals = original_strings();
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let copied: Copied = vars
        .iter()
        .map(|(k, v)| (k.clone(), Zeroizing::new(v.as_encoded_bytes().to_vec())))
        .collect();
    // SAFETY: single-threaded at this point (called first in main); clearenv frees nothing
    // we still use: `vars` holds owned copies.
    unsafe {
        libc::clearenv();
    }
    for (k, v) in &vars {
        let name = k.to_string_lossy();
        if allowlisted(&name) || OWN_SETTINGS.contains(&name.as_ref()) {
            // Heap copies (setenv), no longer pointing into the original block.
            std::env::set_var(k, v);
        }
    }
    for (k, v) in vars.drain(..) {
        k.into_encoded_bytes().zeroize();
        v.into_encoded_bytes().zeroize();
    }
    // SAFETY: each pointer is a NUL-terminated string of the original block (captured above),
    // which nothing references any more; the block [start, end) is the kernel's copy of the
    // environment strings, writable stack memory of this process.
    unsafe {
        for (p, len) in originals {
            std::ptr::write_bytes(p, 0, len);
        }
        if let Some((start, end)) = bounds {
            std::ptr::write_bytes(start as *mut u8, 0, end - start);
        }
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    *ORIGINAL.lock().unwrap() = Some(copied);
}

/// `env_start` and `env_end` (fields 50 and 51 of `/proc/self/stat`), if they look sane: the
/// original `environ` strings must lie inside.
fn original_env_bounds() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 2 (comm) may hold spaces and parentheses: count from the last ')', field 3 on.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let start: usize = fields.get(50 - 3)?.parse().ok()?;
    let end: usize = fields.get(51 - 3)?.parse().ok()?;
    if start == 0 || end <= start || end - start > 64 << 20 {
        return None;
    }
    let inside = original_strings()
        .iter()
        .all(|(p, len)| *p as usize >= start && *p as usize + *len <= end);
    inside.then_some((start, end))
}

/// The strings the C `environ` array points at, with their lengths (NUL excluded).
fn original_strings() -> Vec<(*mut u8, usize)> {
    extern "C" {
        static mut environ: *const *mut libc::c_char;
    }
    let mut out = vec![];
    // SAFETY: single-threaded; `environ` is a NULL-terminated array of C strings.
    unsafe {
        let mut p = environ;
        if p.is_null() {
            return out;
        }
        while !(*p).is_null() {
            out.push(((*p).cast::<u8>(), libc::strlen(*p)));
            p = p.add(1);
        }
    }
    out
}

/// Values kept for secret providers (see [`keep_for_providers`]).
static KEPT: Mutex<Vec<(String, Zeroizing<Vec<u8>>)>> = Mutex::new(Vec::new());

/// Before [`load`]: keeps the start-up values of `names` for the secret providers configured
/// to receive them (`pass_env:`, e.g. `OP_SERVICE_ACCOUNT_TOKEN` for `op`). They reach those
/// provider processes only (never tasks, `ssh` or other children) and are masked like secrets.
pub fn keep_for_providers(names: &[String]) {
    init();
    let original = ORIGINAL.lock().unwrap();
    let Some(copied) = original.as_ref() else {
        return;
    };
    let mut kept = KEPT.lock().unwrap();
    for (k, v) in copied {
        if let Some(k) = k.to_str() {
            if names.iter().any(|n| n == k) && !kept.iter().any(|(n, _)| n == k) {
                kept.push((k.to_string(), v.clone()));
            }
        }
    }
}

/// The values kept by [`keep_for_providers`], as secrets named by their variable.
pub fn kept_for_providers() -> Vec<Secret> {
    KEPT.lock()
        .unwrap()
        .iter()
        .map(|(k, v)| Secret::new(k.clone(), v.to_vec()))
        .collect()
}

/// Reads the environment copied at start-up. With `loadenv`, every variable becomes a
/// `ENV_<NAME>` secret candidate. In every case the process environment is scrubbed down to
/// the allowlist, which [`seal_child_env`] narrows further once the secret set is known.
/// Called after the command line is parsed (clap reads `JET_SSH_USER`/`JET_SSH_PORT` first).
pub fn load(loadenv: bool) -> BTreeMap<String, Secret> {
    init();
    let copied = ORIGINAL.lock().unwrap().take().unwrap_or_else(|| {
        std::env::vars_os()
            .map(|(k, v)| (k, Zeroizing::new(v.into_encoded_bytes())))
            .collect()
    });
    let present: Vec<OsString> = std::env::vars_os().map(|(k, _)| k).collect();
    for k in present {
        if !allowlisted(&k.to_string_lossy()) {
            std::env::remove_var(&k);
        }
    }
    let mut allowed = ALLOWED.lock().unwrap();
    if allowed.is_none() {
        *allowed = Some(
            copied
                .iter()
                .filter_map(|(k, v)| {
                    let k = k.to_str()?;
                    let v = std::str::from_utf8(v).ok()?;
                    allowlisted(k).then(|| (k.to_string(), v.to_string()))
                })
                .collect(),
        );
    }
    let mut out = BTreeMap::new();
    if !loadenv {
        return out;
    }
    for (k, mut v) in copied {
        let Some(k) = k.to_str() else {
            continue;
        };
        let name = format!("{}{k}", crate::env_name::ENV_PREFIX);
        out.insert(name.clone(), Secret::new(name, std::mem::take(&mut *v)));
    }
    out
}

/// Computes the child environment, once, now that the secret set is known: the allowlisted
/// variables, minus any whose value is a secret in use or which is itself loaded as one
/// (`TZ` when a template uses `ENV_TZ`). Those are removed from this process's environment
/// too, since `ssh` inherits it. Later calls change nothing.
pub fn seal_child_env(secrets: &[&Secret]) {
    let allowed = ALLOWED.lock().unwrap().take().unwrap_or_default();
    let (keep, drop): (Vec<_>, Vec<_>) = allowed.into_iter().partition(|(k, v)| {
        let as_secret = format!("{}{k}", crate::env_name::ENV_PREFIX);
        !secrets
            .iter()
            .any(|s| s.name() == as_secret || s.expose() == v.as_bytes())
    });
    for (k, mut v) in drop {
        std::env::remove_var(OsStr::new(&k));
        v.zeroize();
    }
    let _ = CHILD_ENV.set(keep);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_covers_every_locale_variable() {
        for k in [
            "PATH",
            "LC_ALL",
            "LC_TIME",
            "LC_NUMERIC",
            "KRB5CCNAME",
            "SSH_AUTH_SOCK",
            "TMPDIR",
        ] {
            assert!(allowlisted(k), "{k}");
        }
        for k in [
            "LC_",
            "LCX",
            "AWS_SECRET_ACCESS_KEY",
            "JET_SSH_USER",
            "NO_COLOR",
        ] {
            assert!(!allowlisted(k), "{k}");
        }
    }
}
