//! Variable precedence, lowest first: play `defaults`, role defaults, inventory (group vars
//! from shallow to deep, siblings by name, then host vars), saved facts (`save:`), play `vars`
//! and `vars_files`, role invocation vars, `--extra-vars`. `ENV_*` is added only by the
//! template module, for the names its file uses. Mappings deep-merge.

use serde_json::Value;

use crate::playbook::{merge, LoadedPlay, LoadedRole, Vars};

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

/// Parses one `--extra-vars` argument: inline JSON/YAML, or `@file`.
pub fn parse_extra_vars(arg: &str) -> Result<Vars, String> {
    let (text, origin) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --extra-vars file {path}: {e}"))?,
            path.to_string(),
        ),
        None => (arg.to_string(), "inline value".to_string()),
    };
    let value: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| format!("--extra-vars {origin} is not valid JSON or YAML: {e}"))?;
    match value {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Vars::new()),
        _ => Err(format!(
            "--extra-vars {origin} must be a mapping, e.g. '{{\"version\": \"1.2\"}}' or @vars.yml"
        )),
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
    }
}
