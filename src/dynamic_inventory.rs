//! Dynamic inventory: an executable given as `--inventory` is run (no arguments, stdin closed)
//! and prints JSON, the format Jet reads (Ansible's): an object whose keys are group names,
//! each `{hosts: [...], children: [...], vars: {...}, hostvars: {host: {...}}}`, every field
//! optional and no other allowed. `_meta` is the group `all` (so `_meta.hostvars` sets host
//! variables); other names starting with `_` are ignored. As in Jet, `group_vars/` and
//! `host_vars/` beside the script then apply as in the directory form.
//!
//! Unlike Jet, the script runs with a time limit and bounded output, and a script that fails
//! (non-zero exit, killed, no JSON) is an error, never an empty inventory. Its stderr is not
//! shown: it runs with the caller's environment, secrets included.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Diagnostic, Location};
use crate::vars::{merge, Vars};

/// What a script printed, in the inventory's terms; `inventory` turns it into groups (so this
/// module knows nothing of `Inventory`).
#[derive(Debug, Default)]
pub struct Printed {
    pub groups: BTreeMap<String, PrintedGroup>,
    pub host_vars: BTreeMap<String, Vars>,
}

#[derive(Debug, Default)]
pub struct PrintedGroup {
    pub hosts: BTreeSet<String>,
    pub subgroups: BTreeSet<String>,
    pub vars: Vars,
}

/// How long the script may run.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// How much JSON it may print.
pub const MAX_OUTPUT: u64 = 64 * 1024 * 1024;

/// One group of the script's output.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    children: Vec<String>,
    #[serde(default)]
    vars: Map<String, Value>,
    #[serde(default)]
    hostvars: Map<String, Value>,
}

/// Whether `path` is a file the inventory should run rather than read.
pub fn is_script(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn problem(path: &Path, message: String, help: &str) -> Diagnostic {
    Diagnostic::new(format!("dynamic inventory {}: {message}", path.display()))
        .at(Some(Location::new(path, 0, 0)))
        .help(help.to_string())
}

/// Runs the script at `path` and returns what it printed, with `_meta` read as group `all`.
pub fn load(path: &Path, all: &str) -> Result<Printed, Diagnostic> {
    let out = run(path)?;
    let mut printed = Printed::default();
    parse(path, &out, all, &mut printed)?;
    Ok(printed)
}

/// The script's stdout, once it exited successfully within [`TIMEOUT`].
fn run(path: &Path) -> Result<Vec<u8>, Diagnostic> {
    const HELP: &str =
        "run the script yourself: it must print the inventory as JSON on stdout and exit 0";
    let mut child = Command::new(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| problem(path, format!("cannot run it: {e}"), HELP))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![];
        let read = (&mut stdout).take(MAX_OUTPUT + 1).read_to_end(&mut buf);
        let _ = tx.send(read.map(|_| buf));
        // Drain the rest so the script never blocks on a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });
    let start = Instant::now();
    let timed_out = || {
        problem(
            path,
            format!("still running after {}s: stopped", TIMEOUT.as_secs()),
            HELP,
        )
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(timed_out());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(problem(path, format!("cannot wait for it: {e}"), HELP)),
        }
    };
    // The output ends when every writer has closed it: a background process the script left
    // holding stdout gets what remains of the time limit.
    let buf = rx
        .recv_timeout(TIMEOUT.saturating_sub(start.elapsed()))
        .map_err(|_| timed_out())?
        .map_err(|e| problem(path, format!("cannot read its output: {e}"), HELP))?;
    if !status.success() {
        let how = status.code().map_or_else(
            || "was killed by a signal".to_string(),
            |c| format!("exited with status {c}"),
        );
        return Err(problem(
            path,
            format!("{how} (its stderr is not shown)"),
            HELP,
        ));
    }
    if buf.len() as u64 > MAX_OUTPUT {
        return Err(problem(
            path,
            format!("printed more than {} MiB", MAX_OUTPUT / (1024 * 1024)),
            HELP,
        ));
    }
    Ok(buf)
}

/// Fills `inv` from the script's JSON output.
fn parse(path: &Path, out: &[u8], all: &str, inv: &mut Printed) -> Result<(), Diagnostic> {
    const HELP: &str = "print an object of groups: {\"web\": {\"hosts\": [...], \"children\": [...], \"vars\": {...}}, \"_meta\": {\"hostvars\": {\"host\": {...}}}}";
    let text = std::str::from_utf8(out)
        .map_err(|_| problem(path, "its output is not UTF-8".into(), HELP))?;
    crate::depth::check_yaml(text).map_err(|e| problem(path, e.to_string(), HELP))?;
    let groups: std::collections::BTreeMap<String, Entry> =
        serde_json::from_str(text).map_err(|e| {
            problem(
                path,
                format!("its output is not the inventory JSON expected: {e}"),
                HELP,
            )
        })?;
    for (name, entry) in groups {
        let name = if name == "_meta" {
            all.to_string()
        } else {
            name
        };
        if name.starts_with('_') {
            continue;
        }
        if name.is_empty() {
            return Err(problem(path, "a group has an empty name".into(), HELP));
        }
        let group = inv.groups.entry(name.clone()).or_default();
        group.hosts.extend(entry.hosts);
        group.hosts.extend(entry.hostvars.keys().cloned());
        group
            .subgroups
            .extend(entry.children.into_iter().filter(|c| *c != name));
        merge(&mut group.vars, &entry.vars);
        for (host, vars) in entry.hostvars {
            match vars {
                Value::Object(v) => merge(inv.host_vars.entry(host).or_default(), &v),
                Value::Null => {}
                _ => {
                    return Err(problem(
                        path,
                        format!("hostvars of {host:?} in group {name:?} is not an object"),
                        HELP,
                    ))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jet_format() {
        let mut inv = Printed::default();
        let json = br#"{"web": {"hosts": ["w1"], "vars": {"port": 80}, "children": ["edge"]},
            "edge": {"hosts": ["e1"]},
            "_meta": {"hostvars": {"w1": {"role": "web"}}},
            "_other": {"hosts": ["x"]}}"#;
        parse(Path::new("inv.sh"), json, "all", &mut inv).unwrap();
        assert!(inv.groups["web"].hosts.contains("w1"));
        assert!(inv.groups["web"].subgroups.contains("edge"));
        assert_eq!(inv.groups["web"].vars["port"], 80);
        assert!(inv.groups["all"].hosts.contains("w1"));
        assert_eq!(inv.host_vars["w1"]["role"], "web");
        assert!(!inv.groups.contains_key("_other"));
        let bad = parse(
            Path::new("inv.sh"),
            br#"{"web": {"host": []}}"#,
            "all",
            &mut inv,
        );
        assert!(bad.unwrap_err().message.contains("unknown field"));
        assert!(parse(Path::new("inv.sh"), b"[1]", "all", &mut inv).is_err());
    }
}
