//! `--env-file FILE`: the file a secret injector reads (`op run --env-file FILE -- jetlike ...`)
//! compared with the `ENV_` variables template files use. Only the names are kept: the text is
//! held in a zeroizing buffer while it is split, and values are never stored or printed.

use std::collections::BTreeMap;
use std::path::Path;

use zeroize::Zeroizing;

use super::Report;
use crate::env_name::ENV_PREFIX;
use crate::error::Location;

/// The variable names a `.env` file defines, with their 1-based line: `NAME=value`,
/// `export NAME=value`; blank lines and `#` comments are skipped.
pub fn names(text: &str) -> Vec<(String, usize)> {
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").map_or(l, str::trim_start);
        let Some((name, _)) = l.split_once('=') else {
            continue;
        };
        let name = name.trim_end();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            out.push((name.to_string(), i + 1));
        }
    }
    out
}

/// `loaded_whole`: every playbook and role loaded, so a name no template uses is really
/// unused (otherwise `env-unused` is not reported).
pub fn check(
    path: &Path,
    uses: &BTreeMap<String, Vec<Location>>,
    loaded_whole: bool,
    report: &mut Report,
) {
    let text = match crate::input_file::read_bytes_limited(path, crate::input_file::TEXT_LIMIT) {
        Ok(b) => {
            let b = Zeroizing::new(b);
            Zeroizing::new(String::from_utf8_lossy(&b).into_owned())
        }
        Err(e) => {
            let help = if matches!(e, crate::input_file::InputError::Io { .. }) {
                "pass the file your secret injector reads, e.g. the one given to `op run --env-file`".into()
            } else {
                e.help()
            };
            report.error(
                "missing-file",
                format!("cannot read the env file: {e}"),
                Location::new(path, 0, 0),
                help,
            );
            return;
        }
    };
    let defined = names(&text);
    drop(text);
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, line) in &defined {
        by_name.entry(n.as_str()).or_insert(*line);
    }
    for (name, line) in &by_name {
        let env = format!("{ENV_PREFIX}{name}");
        if loaded_whole && !uses.contains_key(&env) {
            report.warn(
                "env-unused",
                format!("{name} is defined here, but no template uses {env}"),
                Location::new(path, *line, 1),
                format!("remove {name} from the env file (least privilege: inject only what templates use), or use {{{{{env}}}}} in the template that needs it"),
            );
        }
    }
    for (env, locations) in uses {
        let name = &env[ENV_PREFIX.len()..];
        if by_name.contains_key(name) {
            continue;
        }
        for at in locations {
            report.error(
                "env-undefined",
                format!(
                    "{env} is used, but {name} is not defined in {}",
                    path.display()
                ),
                at.clone(),
                format!("add `{name}=...` to {} (for op run, a reference such as op://vault/item/field), or fix the name", path.display()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_file_names() {
        let text = "# comment\n\nDB_PASSWORD=op://vault/db/password\nexport API_TOKEN = \"x\"\nnot a line\n9BAD=1\n";
        assert_eq!(
            super::names(text),
            [("DB_PASSWORD".to_string(), 3), ("API_TOKEN".to_string(), 4)]
        );
    }
}
