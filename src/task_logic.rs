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
///
/// Seconds between attempts when `retry` is set and `delay` is not (Jet's default).
pub const DEFAULT_RETRY_DELAY: u64 = 1;

/// As in Jet, `ignore_errors`, `retry` and `delay` may be written as strings (`"true"`,
/// `"2"`): a string without `{{` is parsed when the playbook is loaded (a bad one is a load
/// error); a template is kept in [`PostLogic::templates`], rendered for each host and item
/// when the task runs ([`PostLogic::evaluate`]), and its typed field holds the default
/// meanwhile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "RawPostLogic")]
pub struct PostLogic {
    pub notify: Option<String>,
    pub ignore_errors: bool,
    pub retry: u32,
    pub delay: u64,
    /// `(field, template)` for each of `ignore_errors`, `retry`, `delay` written as a template.
    pub templates: Vec<(&'static str, String)>,
}

/// `and:` as written.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PostLogic")]
struct RawPostLogic {
    notify: Option<String>,
    ignore_errors: Option<Scalar>,
    retry: Option<Scalar>,
    delay: Option<Scalar>,
}

/// A scalar of `and:`: typed, or a string (parsed, or rendered then parsed when a template).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(u64),
    Str(String),
}

/// `ignore_errors`, `retry` and `delay` as they apply to one host and item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostValues {
    pub ignore_errors: bool,
    pub retry: u32,
    pub delay: u64,
}

fn parse_flag(field: &str, s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(format!(
            "and.{field}: {s:?} is not a boolean (true or false)"
        )),
    }
}

fn parse_count<T: std::str::FromStr>(field: &str, s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("and.{field}: {s:?} is not a whole number of the allowed range"))
}

impl TryFrom<RawPostLogic> for PostLogic {
    type Error = String;

    fn try_from(raw: RawPostLogic) -> Result<Self, String> {
        let mut templates = vec![];
        let mut text = |field: &'static str, v: Option<Scalar>| -> Option<Result<String, bool>> {
            match v? {
                Scalar::Str(s) if s.contains("{{") => {
                    templates.push((field, s));
                    None
                }
                Scalar::Str(s) => Some(Ok(s)),
                Scalar::Int(n) => Some(Ok(n.to_string())),
                Scalar::Bool(b) => Some(Err(b)),
            }
        };
        let ignore_errors = match text("ignore_errors", raw.ignore_errors) {
            None => false,
            Some(Ok(s)) => parse_flag("ignore_errors", &s)?,
            Some(Err(b)) => b,
        };
        let mut count = |field: &'static str, v| match text(field, v) {
            None => Ok(0u64),
            Some(Ok(s)) => parse_count::<u64>(field, &s),
            Some(Err(_)) => Err(format!(
                "and.{field}: expected a whole number, not a boolean"
            )),
        };
        let retry = count("retry", raw.retry)?;
        // Jet waits a second between attempts unless told otherwise.
        let delay = match raw.delay {
            None => DEFAULT_RETRY_DELAY,
            d => count("delay", d)?,
        };
        let retry = u32::try_from(retry).map_err(|_| format!("and.retry: {retry} is too large"))?;
        Ok(PostLogic {
            notify: raw.notify,
            ignore_errors,
            retry,
            delay,
            templates,
        })
    }
}

impl schemars::JsonSchema for PostLogic {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        RawPostLogic::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RawPostLogic::json_schema(generator)
    }
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
        for (field, text) in &self.templates {
            out.push((vec![FieldStep::Key("and"), FieldStep::Key(field)], text));
        }
    }

    /// The values for one host and item: the templates rendered with `vars` and parsed. The
    /// error names the field.
    pub fn evaluate(
        &self,
        engine: &crate::template::Engine,
        vars: &Value,
    ) -> Result<PostValues, String> {
        let mut v = PostValues {
            ignore_errors: self.ignore_errors,
            retry: self.retry,
            delay: self.delay,
        };
        for (field, text) in &self.templates {
            let s = engine
                .render(text, vars)
                .map_err(|e| format!("cannot render and.{field}: {e}"))?;
            match *field {
                "ignore_errors" => v.ignore_errors = parse_flag(field, &s)?,
                "retry" => v.retry = parse_count(field, &s)?,
                _ => v.delay = parse_count(field, &s)?,
            }
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<PostLogic, String> {
        serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn and_scalars_may_be_strings() {
        let a = load("{ignore_errors: \"true\", retry: \"2\", delay: 3}").unwrap();
        assert_eq!((a.ignore_errors, a.retry, a.delay), (true, 2, 3));
        assert!(a.templates.is_empty());
        assert!(load("{retry: \"two\"}").unwrap_err().contains("and.retry"));
        assert!(load("{ignore_errors: maybe}")
            .unwrap_err()
            .contains("and.ignore_errors"));
        assert!(load("{nope: 1}").is_err());
    }

    #[test]
    fn templated_scalars_are_evaluated_per_host() {
        let a = load("{delay: \"{{d}}\", ignore_errors: \"{{i}}\"}").unwrap();
        assert_eq!(a.templates.len(), 2);
        let e = crate::template::Engine::new();
        let v = a
            .evaluate(&e, &serde_json::json!({"d": 4, "i": true}))
            .unwrap();
        assert_eq!((v.ignore_errors, v.retry, v.delay), (true, 0, 4));
        let err = a.evaluate(&e, &serde_json::json!({"d": "x", "i": true}));
        assert!(err.unwrap_err().contains("and.delay"));
    }

    #[test]
    fn attempts_are_a_second_apart_unless_delay_says_otherwise() {
        assert_eq!(load("{retry: 2}").unwrap().delay, DEFAULT_RETRY_DELAY);
        assert_eq!(load("{retry: 2, delay: 0}").unwrap().delay, 0);
    }
}
