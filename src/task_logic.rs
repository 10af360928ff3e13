//! What every task carries around its module: `with:` (logic before the module runs) and
//! `and:` (logic after), with the fields of each that are rendered as templates.

use serde::Deserialize;
use serde_json::Value;

use crate::field_path::{collect_strings, push_optional, FieldStep, TemplatedField};

/// `with:` — logic applied before the module runs.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreLogic {
    pub condition: Option<String>,
    pub subscribe: Option<String>,
    pub sudo: Option<String>,
    pub items: Option<Items>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub delegate_to: Option<String>,
}

/// `items:` is either a list or the name of a variable holding a list.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Items {
    List(Vec<Value>),
    Var(String),
}

/// `and:` — logic applied after the module ran.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostLogic {
    pub notify: Option<String>,
    #[serde(default)]
    pub ignore_errors: bool,
    #[serde(default)]
    pub retry: u32,
    #[serde(default)]
    pub delay: u64,
}

impl PreLogic {
    /// The templated fields of `with:`, under `with.`.
    pub fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        use FieldStep::{Index as I, Key as K};
        push_optional(
            out,
            &[K("with")],
            &[
                ("condition", &self.condition),
                ("subscribe", &self.subscribe),
                ("sudo", &self.sudo),
                ("delegate_to", &self.delegate_to),
            ],
        );
        match &self.items {
            Some(Items::Var(v)) => out.push((vec![K("with"), K("items")], v)),
            Some(Items::List(list)) => {
                for (i, item) in list.iter().enumerate() {
                    collect_strings(item, vec![K("with"), K("items"), I(i)], out);
                }
            }
            None => {}
        }
    }
}

impl PostLogic {
    /// The templated fields of `and:`, under `and.`.
    pub fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        push_optional(out, &[FieldStep::Key("and")], &[("notify", &self.notify)]);
    }
}
