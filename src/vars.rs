//! Variables: the [`Vars`] mapping every layer (defaults, inventory, facts, play vars,
//! `--extra-vars`) is, and the deep [`merge`] that layers them. The bottom of the variable
//! stack: the precedence over loaded plays is in `var_precedence.rs`, above the playbook model.

use serde_json::{Map, Value};

/// Variable name → value, in the order the file wrote them.
pub type Vars = Map<String, Value>;

/// Deep merge, Jet's "variable merging": mappings merge key by key, a list meeting a list is
/// extended (the lower layer's elements first, duplicates kept), anything else is replaced by
/// the higher layer.
pub fn merge(into: &mut Vars, from: &Vars) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (Some(Value::Array(a)), Value::Array(b)) => a.extend(b.iter().cloned()),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_extend_maps_merge_scalars_replace() {
        let mut low = serde_json::json!({"l": ["base"], "m": {"l": [1], "k": 1}, "s": [1]});
        let high = serde_json::json!({"l": ["extra"], "m": {"l": [2], "j": 2}, "s": "x"});
        merge(low.as_object_mut().unwrap(), high.as_object().unwrap());
        assert_eq!(
            low,
            serde_json::json!({"l": ["base", "extra"], "m": {"l": [1, 2], "k": 1, "j": 2}, "s": "x"})
        );
    }
}
