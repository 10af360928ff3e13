//! Paths to fields inside a playbook node (`with.items[2]`), and the templated-field helpers
//! built on them. A leaf below the playbook model and the modules, so that both the modules'
//! field declarations and the position index (`yaml_spans`) can name a field the same way.

use std::borrow::Cow;

use serde_json::Value;

/// A step of a field path inside a task, owned so it can be stored with a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldStep {
    /// A field name known at compile time (`cmd`, `with`).
    Key(&'static str),
    /// An index in a list.
    Index(usize),
    /// A field name read from the document (a variable name, a key found in an error).
    Name(String),
}

impl std::fmt::Display for FieldStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldStep::Key(k) => f.write_str(k),
            FieldStep::Name(k) => f.write_str(k),
            FieldStep::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A templated string field with its path relative to the task.
pub type TemplatedField<'a> = (Vec<FieldStep>, &'a str);

/// `with.items[2]`: the path as shown in messages.
pub fn field_path_string(path: &[FieldStep]) -> String {
    let mut s = String::new();
    for step in path {
        if !s.is_empty() && !matches!(step, FieldStep::Index(_)) {
            s.push('.');
        }
        s.push_str(&step.to_string());
    }
    s
}

/// Every string inside a value (vars, items), with its path: any of them may be templated.
pub fn collect_strings<'a>(
    value: &'a Value,
    path: Vec<FieldStep>,
    out: &mut Vec<TemplatedField<'a>>,
) {
    match value {
        Value::String(s) => out.push((path, s)),
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                let mut p = path.clone();
                p.push(FieldStep::Index(i));
                collect_strings(v, p, out);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                let mut p = path.clone();
                p.push(FieldStep::Name(k.clone()));
                collect_strings(v, p, out);
            }
        }
        _ => {}
    }
}

/// How a templated field is written: most are Handlebars text; conditions are bare
/// sub-expressions (`(eq a "b")`: `condition`, `failed_when`, `changed_when`, `!assert`'s
/// `true`, `false`, `all_true`, `all_false`, `some_true`); `items:` may name a variable.
pub fn field_as_template<'a>(field: &[FieldStep], text: &'a str) -> Cow<'a, str> {
    let last = field.iter().rev().find_map(|s| match s {
        FieldStep::Key(k) => Some(*k),
        _ => None,
    });
    let is_items_var = field.len() == 2 && last == Some("items");
    match last {
        Some(
            "condition" | "failed_when" | "changed_when" | "true" | "false" | "all_true"
            | "all_false" | "some_true",
        ) if !text.contains("{{") => format!("{{{{#if {text}}}}}{{{{/if}}}}").into(),
        _ if is_items_var && !text.contains("{{") => format!("{{{{{}}}}}", text.trim()).into(),
        _ => text.into(),
    }
}

/// Pushes `(prefix + key, value)` for each optional string field that is set.
pub fn push_optional<'a>(
    out: &mut Vec<TemplatedField<'a>>,
    prefix: &[FieldStep],
    fields: &[(&'static str, &'a Option<String>)],
) {
    for (key, value) in fields {
        if let Some(value) = value {
            let mut path = prefix.to_vec();
            path.push(FieldStep::Key(key));
            out.push((path, value));
        }
    }
}
