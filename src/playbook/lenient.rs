//! Lenient parsing for `jetlike lint`: each play, task and handler is deserialized on its own,
//! and a schema error is recorded, located and repaired (the offending field removed) so that
//! one bad field or node hides no other.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::Diagnostic;
use crate::field_path::FieldStep;
use crate::modules::Task;
use crate::playbook::load_report::LoadReport;
use crate::playbook::yaml_errors::{with_schema_help, yaml_error};
use crate::playbook::Source;

/// `.[0].tasks[1].with`: the path notation `serde_yaml_ng` uses in its messages.
pub(crate) fn serde_path(path: &[FieldStep]) -> String {
    let mut s = String::from(".");
    for step in path {
        match step {
            FieldStep::Index(i) => s.push_str(&format!("[{i}]")),
            FieldStep::Key(k) => push_key(&mut s, k),
            FieldStep::Name(k) => push_key(&mut s, k),
        }
    }
    s
}

fn push_key(s: &mut String, k: &str) {
    if !s.ends_with('.') {
        s.push('.');
    }
    s.push_str(k);
}

/// Splits `serde_yaml_ng`'s `with.tags[1]: message at line 3 column 7` into the path steps and
/// the message (without the position, which refers to re-serialized text).
fn split_serde_message(msg: &str) -> (Vec<FieldStep>, String) {
    let mut msg = msg.to_string();
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    let Some((head, rest)) = msg.split_once(": ") else {
        return (vec![], msg);
    };
    let is_path = !head.is_empty()
        && !head.contains(' ')
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.[]".contains(c));
    if !is_path {
        return (vec![], msg);
    }
    let mut steps = vec![];
    for part in head.split('.').filter(|p| !p.is_empty()) {
        let (key, mut idx) = match part.find('[') {
            Some(b) => (&part[..b], &part[b..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(FieldStep::Name(key.to_string()));
        }
        while let Some(end) = idx.find(']') {
            if let Ok(i) = idx[1..end].parse() {
                steps.push(FieldStep::Index(i));
            }
            idx = &idx[end + 1..];
        }
    }
    (steps, rest.to_string())
}

fn unknown_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn missing_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// The mapping inside `value` (through tags) at `path`, for repairs.
pub(crate) fn mapping_at<'a>(
    value: &'a mut serde_yaml_ng::Value,
    path: &[FieldStep],
) -> Option<&'a mut serde_yaml_ng::Mapping> {
    use serde_yaml_ng::Value as Y;
    let mut v = value;
    for step in path {
        while let Y::Tagged(t) = v {
            v = &mut t.value;
        }
        v = match (v, step) {
            (Y::Sequence(s), FieldStep::Index(i)) => s.get_mut(*i)?,
            (Y::Mapping(m), FieldStep::Key(k)) => m.get_mut(*k)?,
            (Y::Mapping(m), FieldStep::Name(k)) => m.get_mut(k.as_str())?,
            _ => return None,
        };
    }
    while let Y::Tagged(t) = v {
        v = &mut t.value;
    }
    match v {
        Y::Mapping(m) => Some(m),
        _ => None,
    }
}

/// Deserializes one node on its own. On a schema error the error is recorded (located through
/// the position index) and the offending field removed, then it tries again, so that every
/// unknown or mistyped field of the node is reported; `None` if the node cannot be repaired
/// (unknown module tag, missing required field).
pub(crate) fn parse_node<T: DeserializeOwned>(
    value: &serde_yaml_ng::Value,
    source: &Source,
    base: &[FieldStep],
    report: &mut LoadReport,
) -> Option<T> {
    let mut value = value.clone();
    let mut removed: Vec<String> = vec![];
    for _ in 0..32 {
        let text = match serde_yaml_ng::to_string(&value) {
            Ok(t) => t,
            Err(e) => {
                // A value serde cannot write back (a mapping used as a key): it cannot load
                // either, and must not vanish without a problem (found by tests/fuzz_load.rs).
                if removed.is_empty() {
                    report.push(
                        "invalid-playbook",
                        Diagnostic::new(format!(
                            "{}: this value cannot be loaded ({})",
                            serde_path(base),
                            crate::error::sanitize_value_message(&e.to_string())
                        ))
                        .at(Some(source.locate(base)))
                        .help("use plain strings as mapping keys: complex keys (`? ...`), and mappings or lists as keys, are not supported"),
                    );
                }
                return None;
            }
        };
        let err = match serde_yaml_ng::from_str::<T>(&text) {
            Ok(t) => return Some(t),
            Err(e) => e.to_string(),
        };
        let (rel, msg) = split_serde_message(&err);
        let mut full = base.to_vec();
        full.extend(rel.iter().cloned());
        if let Some(f) = missing_field_name(&msg) {
            if removed.contains(&f) {
                // A consequence of an earlier repair, already reported.
                return None;
            }
        }
        let unknown = unknown_field_name(&msg);
        let location = match &unknown {
            Some(k) => source.locate_key(&full, k),
            None => source.locate(&full),
        };
        report.push(
            "invalid-playbook",
            with_schema_help(
                Diagnostic::new(format!(
                    "{}: {}",
                    serde_path(&full),
                    crate::error::sanitize_value_message(&msg)
                ))
                .at(Some(location)),
            ),
        );
        // Repair: drop the unknown field, or the (last) key the error is about.
        let (map_path, key) = if let Some(k) = unknown {
            (rel.clone(), k)
        } else {
            let pos = rel.iter().rposition(|s| matches!(s, FieldStep::Name(_)))?;
            let FieldStep::Name(k) = &rel[pos] else {
                return None;
            };
            (rel[..pos].to_vec(), k.clone())
        };
        let map = mapping_at(&mut value, &map_path)?;
        map.remove(key.as_str())?;
        removed.push(key);
    }
    None
}

/// A YAML document as a generic value; syntax errors are recorded.
pub(crate) fn parse_value(
    path: &Path,
    text: &str,
    report: &mut LoadReport,
) -> Option<serde_yaml_ng::Value> {
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            report.push("invalid-playbook", yaml_error(path, &e));
            None
        }
    }
}

pub(crate) fn untag(v: &serde_yaml_ng::Value) -> &serde_yaml_ng::Value {
    match v {
        serde_yaml_ng::Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

/// Parses a list of tasks item by item; the second value is false if some item did not load.
pub(crate) fn parse_task_items(
    value: Option<&serde_yaml_ng::Value>,
    source: &Source,
    base: &[FieldStep],
    report: &mut LoadReport,
) -> (Vec<(usize, Task)>, bool) {
    use serde_yaml_ng::Value as Y;
    let items = match value.map(untag) {
        None | Some(Y::Null) => return (vec![], true),
        Some(Y::Sequence(s)) => s,
        Some(_) => {
            report.push(
                "invalid-playbook",
                Diagnostic::new(format!("{}: expected a list of tasks", serde_path(base)))
                    .at(Some(source.locate(base)))
                    .help(
                        "write tasks as a YAML list of tagged mappings, e.g. `- !shell {cmd: ...}`",
                    ),
            );
            return (vec![], false);
        }
    };
    let mut out = vec![];
    let mut complete = true;
    for (i, item) in items.iter().enumerate() {
        let mut path = base.to_vec();
        path.push(FieldStep::Index(i));
        let before = report.problems.len();
        match parse_node::<Task>(item, source, &path, report) {
            Some(t) => out.push((i, t)),
            None => complete = false,
        }
        if report.problems.len() > before {
            complete = false;
        }
    }
    (out, complete)
}

#[cfg(test)]
mod load_tests {
    use super::*;

    #[test]
    fn serde_messages_split_into_path_and_text() {
        let (p, m) = split_serde_message("with.tags[1]: invalid type: sequence at line 3 column 7");
        assert_eq!(
            p,
            vec![
                FieldStep::Name("with".into()),
                FieldStep::Name("tags".into()),
                FieldStep::Index(1)
            ]
        );
        assert_eq!(m, "invalid type: sequence");
        let (p, m) = split_serde_message("unknown field `x`, expected `a` at line 4 column 1");
        assert!(p.is_empty());
        assert_eq!(m, "unknown field `x`, expected `a`");
        assert_eq!(
            serde_path(&[
                FieldStep::Index(0),
                FieldStep::Key("tasks"),
                FieldStep::Index(2)
            ]),
            ".[0].tasks[2]"
        );
    }
}
