//! Variables: the [`Vars`] mapping every layer (defaults, inventory, facts, play vars,
//! `--extra-vars`) is, and the deep [`merge`] that layers them. The bottom of the variable
//! stack: the precedence over loaded plays is in `var_precedence.rs`, above the playbook model.

use serde_json::{Map, Value};

/// Variable name → value, in the order the file wrote them.
pub type Vars = Map<String, Value>;

/// Deep merge: mappings merge key by key, anything else is replaced by the higher layer.
pub fn merge(into: &mut Vars, from: &Vars) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}
