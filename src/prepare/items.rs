//! A task's loop (`items`, whose strings are rendered as Jet does) and delegation, as the run,
//! the pre-run checks and lint all see them.

use serde_json::Value;

use crate::playbook::{Items, Task, Vars};
use crate::template::Engine;

/// Whether `task` is delegated to another host (`with: {delegate_to: ...}`): it then sees
/// [`super::DELEGATE_HOST`].
pub fn delegates(task: &Task) -> bool {
    task.with().is_some_and(|w| w.delegate_to.is_some())
}

/// Why a task's `items` give no list to loop over.
pub const ITEMS_NOT_A_LIST: &str =
    "`items` must be a list, or the name of a variable holding a list";

/// The item values a task will loop over (a literal list or a variable holding a list, whose
/// strings are rendered as templates, as Jet does); `[None]` when the task has no
/// `items`. The error says why there is no list: `items` names no list, or an element failed
/// to render (naming the element).
pub fn items_of(task: &Task, vars: &Vars, engine: &Engine) -> Result<Vec<Option<Value>>, String> {
    match task.with().and_then(|w| w.items.as_ref()) {
        None => Ok(vec![None]),
        Some(Items::List(l)) => {
            if !l.iter().any(has_template) {
                return Ok(l.iter().cloned().map(Some).collect());
            }
            let ctx = Value::Object(vars.clone());
            l.iter()
                .enumerate()
                .map(|(i, v)| {
                    render_value(v, engine, &ctx)
                        .map(Some)
                        .map_err(|e| format!("with.items[{i}]: {e}"))
                })
                .collect()
        }
        Some(Items::Var(name)) => {
            let n = items_var_name(name);
            match vars.get(n) {
                Some(Value::Array(a)) if a.iter().any(has_template) => {
                    let ctx = Value::Object(vars.clone());
                    a.iter()
                        .enumerate()
                        .map(|(i, v)| {
                            render_value(v, engine, &ctx)
                                .map(Some)
                                .map_err(|e| format!("with.items: element {i} of `{n}`: {e}"))
                        })
                        .collect()
                }
                Some(Value::Array(a)) => Ok(a.iter().cloned().map(Some).collect()),
                _ => Err(ITEMS_NOT_A_LIST.into()),
            }
        }
    }
}

/// [`items_of`] for the checks made before the run: a list whose elements do not render yet
/// (they use a variable a task saves, or an undefined one, which the field checks report for
/// an inline list) is looped over as written; `None` when `items` names no list.
pub fn items_for_checks(task: &Task, vars: &Vars, engine: &Engine) -> Option<Vec<Option<Value>>> {
    match (
        items_of(task, vars, engine),
        task.with().and_then(|w| w.items.as_ref()),
    ) {
        (Ok(items), _) => Some(items),
        (Err(_), Some(Items::List(l))) => Some(l.iter().cloned().map(Some).collect()),
        (Err(_), Some(Items::Var(name))) => match vars.get(items_var_name(name)) {
            Some(Value::Array(a)) => Some(a.iter().cloned().map(Some).collect()),
            _ => None,
        },
        (Err(_), None) => None,
    }
}

/// The variable `items: NAME` (or `items: "{{ NAME }}"`) names.
fn items_var_name(name: &str) -> &str {
    name.trim()
        .trim_start_matches("{{")
        .trim_end_matches("}}")
        .trim()
}

fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{"),
        Value::Array(a) => a.iter().any(has_template),
        Value::Object(m) => m.values().any(has_template),
        _ => false,
    }
}

/// `v` with each string in it rendered as a template.
fn render_value(v: &Value, engine: &Engine, ctx: &Value) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) if s.contains("{{") => Value::String(engine.render(s, ctx)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_value(x, engine, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), render_value(x, engine, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}
