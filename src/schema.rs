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

/// The schema of `kind`, as a JSON value.
pub fn schema(kind: SchemaKind) -> Value {
    let (name, root) = match kind {
        SchemaKind::Playbook => ("playbook", schemars::schema_for!(Vec<Play>)),
        SchemaKind::Tasks => ("tasks", schemars::schema_for!(Vec<Task>)),
        SchemaKind::Role => ("role", schemars::schema_for!(RoleFile)),
        SchemaKind::Inventory => (
            "inventory",
            schemars::schema_for!(crate::inventory::GroupFile),
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

/// Replaces serde's externally tagged task (`{shell: {...}}`) by the module mappings.
fn untag_tasks(v: &mut Value) {
    let task = json!({
        "description": "A task: a mapping tagged !shell, !copy or !template.",
        "anyOf": [
            { "$ref": "#/$defs/ShellTask" },
            { "$ref": "#/$defs/FileTask" }
        ]
    });
    if v.get("$defs").and_then(|d| d.get("Task")).is_some() {
        v["$defs"]["Task"] = task;
    } else if v.get("oneOf").is_some() {
        // The root is the task itself (not used: tasks come in lists).
        *v = task;
    }
}

/// The schema as pretty JSON text.
pub fn render(kind: SchemaKind) -> String {
    let mut s = serde_json::to_string_pretty(&schema(kind)).unwrap_or_default();
    s.push('\n');
    s
}
