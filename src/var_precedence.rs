//! Variable precedence, lowest first: play `defaults`, role defaults, inventory (group vars
//! from shallow to deep, siblings by name, then host vars), saved facts (`save:`), play `vars`
//! and `vars_files`, role invocation vars, `--extra-vars`. `ENV_*` is added only by the
//! template module, for the names its file uses. Mappings deep-merge and lists extend, as in Jet
//! ([`crate::vars::merge`]).
//!
//! This file owns the layering over loaded plays and roles and the `--extra-vars` argument;
//! the `Vars` type and the merge rule are below the playbook model, in `vars.rs`.

use serde_json::Value;

use std::path::Path;

use crate::error::{Diagnostic, Error, Location};
use crate::playbook::{check_yaml_depth, yaml_error, LoadedPlay, LoadedRole};
use crate::vars::{merge, Vars};

/// The variables a task of `play` (in `role`, if any) sees, layered in the order above.
pub fn task_vars(
    play: &LoadedPlay,
    role: Option<&LoadedRole>,
    inventory: &Vars,
    facts: &Vars,
    extra: &Vars,
) -> Vars {
    let mut v = Vars::new();
    if let Some(d) = &play.play.defaults {
        merge(&mut v, d);
    }
    if let Some(r) = role {
        merge(&mut v, &r.defaults);
    }
    merge(&mut v, inventory);
    merge(&mut v, facts);
    merge(&mut v, &play.vars);
    if let Some(r) = role {
        merge(&mut v, &r.vars);
    }
    merge(&mut v, extra);
    v
}

/// Parses one `--extra-vars` argument: inline JSON/YAML, or `@file`. A bad inline value is a
/// usage error (exit 2); a file that cannot be read or holds no mapping is invalid input
/// (exit 3), located at the file.
pub fn parse_extra_vars(arg: &str) -> Result<Vars, Error> {
    let Some(path) = arg.strip_prefix('@') else {
        crate::depth::check_yaml(arg)
            .map_err(|e| Error::Usage(format!("--extra-vars inline value: {e}")))?;
        let value: Value = serde_yaml_ng::from_str(arg).map_err(|e| {
            Error::Usage(format!(
                "--extra-vars inline value is not valid JSON or YAML: {e}"
            ))
        })?;
        return as_mapping(value).ok_or_else(|| {
            Error::Usage(
                "--extra-vars inline value must be a mapping, e.g. '{\"version\": \"1.2\"}' or @vars.yml"
                    .into(),
            )
        });
    };
    let path = Path::new(path);
    let text = crate::input_file::read_text(path).map_err(|e| {
        Error::invalid(
            e.diagnostic()
                .context(format!("--extra-vars @{}", path.display())),
        )
    })?;
    check_yaml_depth(path, &text)?;
    let value: Value =
        serde_yaml_ng::from_str(&text).map_err(|e| Error::invalid(yaml_error(path, &e)))?;
    as_mapping(value).ok_or_else(|| {
        Error::invalid(
            Diagnostic::new(format!(
                "--extra-vars file {} must hold a mapping (key: value)",
                path.display()
            ))
            .at(Some(Location::new(path, 1, 1))),
        )
    })
}

fn as_mapping(value: Value) -> Option<Vars> {
    match value {
        Value::Object(m) => Some(m),
        Value::Null => Some(Vars::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_vars_forms() {
        assert_eq!(parse_extra_vars("{\"a\": 1}").unwrap()["a"], 1);
        assert_eq!(parse_extra_vars("a: x").unwrap()["a"], "x");
        assert!(parse_extra_vars("[1, 2]").is_err());
        let deep = format!("a: {}1{}", "[".repeat(5000), "]".repeat(5000));
        let e = parse_extra_vars(&deep).unwrap_err().to_string();
        assert!(e.contains("nested more than 128 levels deep"), "{e}");
    }
}
