//! `jetlike schema playbook|tasks|role|inventory`: JSON Schemas for editors
//! (yaml-language-server), derived (`schemars`) from the very structs the parser deserializes
//! into, so a field added to or removed from the parser changes the schema with it.
//!
//! Tasks are YAML-tagged mappings (`!shell {...}`); yaml-language-server validates a tagged
//! node as its plain mapping, so a task is described as any one of the module mappings rather
//! than serde's externally tagged `{shell: {...}}`.

use serde_json::{json, Value};

use crate::playbook::{Play, RoleFile, Task};

/// Which file kind to describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// A playbook: a list of plays.
    Playbook,
    /// A task file (`roles/NAME/tasks/*.yml`): a list of tasks.
    Tasks,
    /// A role's `role.yml`.
    Role,
    /// An inventory `groups/NAME` file.
    Inventory,
}

const ID_BASE: &str = "https://jetlike.invalid/schema/";

/// Draft 7: the draft every yaml-language-server version supports.
fn generator() -> schemars::SchemaGenerator {
    schemars::generate::SchemaSettings::draft07().into_generator()
}

/// The schema of `kind`, as a JSON value.
pub fn schema(kind: SchemaKind) -> Value {
    let (name, root) = match kind {
        SchemaKind::Playbook => ("playbook", generator().into_root_schema_for::<Vec<Play>>()),
        SchemaKind::Tasks => ("tasks", generator().into_root_schema_for::<Vec<Task>>()),
        SchemaKind::Role => ("role", generator().into_root_schema_for::<RoleFile>()),
        SchemaKind::Inventory => (
            "inventory",
            generator().into_root_schema_for::<crate::inventory::GroupFile>(),
        ),
    };
    let mut v = root.to_value();
    untag_tasks(&mut v);
    if let Some(m) = v.as_object_mut() {
        m.insert("$id".into(), format!("{ID_BASE}{name}.json").into());
        m.insert(
            "title".into(),
            format!("jetlike {name} (Jet-style YAML)").into(),
        );
    }
    v
}

/// Replaces serde's externally tagged task (`{shell: {...}}`, one variant per module) by the
/// variants' own mappings, taken from the generated schema itself.
fn untag_tasks(v: &mut Value) {
    for defs in ["definitions", "$defs"] {
        let Some(task) = v.get(defs).and_then(|d| d.get("Task")) else {
            continue;
        };
        let mut modules: Vec<String> = vec![];
        let mut bodies: Vec<Value> = vec![];
        for variant in task["oneOf"].as_array().into_iter().flatten() {
            for (module, body) in variant["properties"].as_object().into_iter().flatten() {
                modules.push(format!("!{module}"));
                if !bodies.contains(body) {
                    bodies.push(body.clone());
                }
            }
        }
        if bodies.is_empty() {
            continue;
        }
        v[defs]["Task"] = json!({
            "description": format!("A task: a mapping tagged {}.", modules.join(", ")),
            "anyOf": bodies,
        });
    }
}

/// The schema as pretty JSON text.
pub fn render(kind: SchemaKind) -> String {
    let mut s = serde_json::to_string_pretty(&schema(kind)).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module tag the parser knows is described, and README's yaml-language-server
    /// settings declare each as a custom tag.
    #[test]
    fn every_module_tag_is_described_and_documented() {
        let s = schema(SchemaKind::Tasks);
        let task = &s["definitions"]["Task"];
        // One body per module struct (copy and template share theirs, the six package
        // modules theirs).
        assert_eq!(
            task["anyOf"].as_array().unwrap().len(),
            crate::playbook::MODULES.len() - 1 - 5,
            "{task}"
        );
        let readme = include_str!("../README.md");
        for m in crate::playbook::MODULES {
            let tag = format!("!{m}");
            assert!(
                task["description"].as_str().unwrap().contains(&tag),
                "{task}"
            );
            assert!(
                readme.contains(&format!("\"{tag} mapping\"")),
                "README's yaml.customTags lacks {tag}"
            );
        }
        for kind in [
            SchemaKind::Playbook,
            SchemaKind::Role,
            SchemaKind::Inventory,
        ] {
            let v = schema(kind);
            assert_eq!(v["$schema"], "http://json-schema.org/draft-07/schema#");
            // A URL, not a file path: the comparison is exact on purpose.
            let id = v["$id"].as_str().unwrap();
            assert_eq!(id.rsplit_once('.').map(|(_, ext)| ext), Some("json"));
        }
    }
}
