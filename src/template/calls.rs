//! Which helpers (Handlebars), filters and tests (Jinja) a template calls, found with a walk
//! of the compiled Handlebars template or a lexical scan of the Jinja tags: the unknown ones
//! (an error before the run), the `secret` calls and the dynamic `lookup`s the policy checks.

use std::collections::BTreeSet;

use handlebars::template::{Parameter, Template, TemplateElement};
use serde_json::Value;

use super::{line_col, Dialect, Engine, UnknownName};

/// The template variable a `{{secret "provider" "key"}}` call reads: `ENV_secret:provider:key`.
/// It sits in the reserved `ENV_` namespace, so the same policy applies to it.
pub fn call_name(provider: &str, key: &str) -> String {
    format!("{}secret:{provider}:{key}", crate::env_name::ENV_PREFIX)
}

impl Engine {
    /// Helpers (Handlebars), filters and tests (Jinja) that `text` calls and this engine does
    /// not have: found before the run, not when the task renders after earlier tasks changed
    /// hosts. Assumes `text` parses (see [`Engine::references`]).
    pub fn unknown_names(&self, dialect: Dialect, text: &str) -> Vec<UnknownName> {
        let mut out: Vec<UnknownName> = vec![];
        let mut seen = BTreeSet::new();
        let calls = match dialect {
            Dialect::Handlebars => helper_calls(text)
                .into_iter()
                .map(|c| ("helper", c.name, c.pos))
                .collect(),
            Dialect::Jinja => jinja_filters_and_tests(text),
        };
        for (kind, name, (line, column)) in calls {
            if !seen.insert((kind, name.clone())) {
                continue;
            }
            let known = match kind {
                "helper" => !matches!(
                    self.hb.render_template(&format!("{{{{{name} null}}}}"), &Value::Null),
                    Err(e) if matches!(e.reason(), handlebars::RenderErrorReason::HelperNotFound(_))
                ),
                "filter" => !matches!(
                    self.jinja.render_str(&format!("{{{{ none|{name} }}}}"), ()),
                    Err(e) if e.kind() == minijinja::ErrorKind::UnknownFilter
                ),
                _ => !matches!(
                    self.jinja.render_str(&format!("{{{{ none is {name} }}}}"), ()),
                    Err(e) if e.kind() == minijinja::ErrorKind::UnknownTest
                ),
            };
            if !known {
                out.push(UnknownName {
                    kind,
                    name,
                    line,
                    column,
                });
            }
        }
        out
    }
}

/// A helper call in a Handlebars text: its name, whether its second parameter is a literal
/// (for `lookup`) and where it is.
struct HelperCall {
    name: String,
    second_literal: bool,
    /// Each parameter's value when it is a string literal.
    strings: Vec<Option<String>>,
    pos: (usize, usize),
}

/// A `secret` call: literal provider, literal key, (line, column).
pub type SecretCall = (Option<String>, Option<String>, (usize, usize));

/// Every `{{secret "provider" "key"}}` call of a Handlebars text: the literal provider and key
/// (`None` when a parameter is not a string literal, or missing) and where the call is.
pub fn secret_calls(text: &str) -> Vec<SecretCall> {
    helper_calls(text)
        .into_iter()
        .filter(|c| c.name == "secret")
        .map(|c| {
            let lit = |i: usize| c.strings.get(i).cloned().flatten();
            let ok = c.strings.len() == 2;
            (lit(0).filter(|_| ok), lit(1).filter(|_| ok), c.pos)
        })
        .collect()
}

/// Where a Handlebars text calls `lookup` with a key that is not a literal
/// (`{{lookup this (to_upper_case "env_x")}}`): the variable it reads cannot be known before
/// the run, so the policy cannot rule out an `ENV_` name. Assumes `text` parses.
pub fn dynamic_lookups(text: &str) -> Vec<(usize, usize)> {
    helper_calls(text)
        .into_iter()
        .filter(|c| c.name == "lookup" && !c.second_literal)
        .map(|c| c.pos)
        .collect()
}

/// Every helper call of a Handlebars text (`{{name arg}}`, `{{#name}}`, `(name arg)`).
fn helper_calls(text: &str) -> Vec<HelperCall> {
    // Too deep for the recursive parser: the caller's own parse reports it.
    if crate::depth::check_handlebars(text).is_err() {
        return vec![];
    }
    let Ok(tpl) = Template::compile(text) else {
        return vec![];
    };
    let mut out = vec![];
    calls_in_template(&tpl, (1, 1), &mut out);
    out
}

fn calls_in_template(tpl: &Template, fallback: (usize, usize), out: &mut Vec<HelperCall>) {
    for (i, el) in tpl.elements.iter().enumerate() {
        let pos = tpl.mapping.get(i).map_or(fallback, |m| (m.0, m.1));
        calls_in_element(el, pos, out);
    }
}

fn calls_in_params<'a>(
    params: impl Iterator<Item = &'a Parameter>,
    pos: (usize, usize),
    out: &mut Vec<HelperCall>,
) {
    for p in params {
        if let Parameter::Subexpression(s) = p {
            calls_in_element(&s.element, pos, out);
        }
    }
}

fn calls_in_element(el: &TemplateElement, pos: (usize, usize), out: &mut Vec<HelperCall>) {
    match el {
        TemplateElement::Expression(h)
        | TemplateElement::HtmlExpression(h)
        | TemplateElement::HelperBlock(h) => {
            let block = matches!(el, TemplateElement::HelperBlock(_));
            let is_call = block || !h.params.is_empty() || !h.hash.is_empty();
            match &h.name {
                Parameter::Name(n) if is_call => out.push(HelperCall {
                    name: n.clone(),
                    second_literal: matches!(h.params.get(1), Some(Parameter::Literal(_))),
                    strings: h
                        .params
                        .iter()
                        .map(|p| match p {
                            Parameter::Literal(Value::String(s)) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                    pos,
                }),
                Parameter::Subexpression(s) => calls_in_element(&s.element, pos, out),
                _ => {}
            }
            calls_in_params(h.params.iter().chain(h.hash.values()), pos, out);
            for t in [&h.template, &h.inverse].into_iter().flatten() {
                calls_in_template(t, pos, out);
            }
        }
        TemplateElement::DecoratorExpression(d)
        | TemplateElement::DecoratorBlock(d)
        | TemplateElement::PartialExpression(d)
        | TemplateElement::PartialBlock(d) => {
            calls_in_params(d.params.iter().chain(d.hash.values()), pos, out);
            if let Some(t) = &d.template {
                calls_in_template(t, pos, out);
            }
        }
        _ => {}
    }
}

/// A use found by [`jinja_filters_and_tests`]: `filter` or `test`, the name, (line, column).
type JinjaUse = (&'static str, String, (usize, usize));

/// The filters (`x|name`, `{% filter name %}`) and tests (`x is name`, `x is not name`) a
/// Jinja text uses, with their positions: a lexical scan of its tags that skips string
/// literals, comments and `{% raw %}` blocks.
fn jinja_filters_and_tests(text: &str) -> Vec<JinjaUse> {
    let mut out = vec![];
    let mut raw = false;
    for tag in (JinjaTags { text, i: 0 }) {
        if tag.close == "#}" {
            continue;
        }
        let body = &text[tag.body_start..tag.end];
        let first = body.trim_start_matches(['-', '+']).trim_start();
        let word: String = first
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if raw {
            raw = word != "endraw";
            continue;
        }
        if tag.close == "%}" && word == "raw" {
            raw = true;
            continue;
        }
        if tag.close == "%}" && word == "filter" {
            let at = tag.body_start + (body.len() - first.len()) + word.len();
            push_use(text, &mut out, "filter", ident(text, at));
        }
        tag_filters_and_tests(text, &tag, &mut out);
    }
    out
}

/// One `{{ }}`, `{% %}` or `{# #}` tag: its closing delimiter and where its body is.
struct JinjaTag {
    close: &'static str,
    body_start: usize,
    end: usize,
}

/// The tags of a Jinja text, in order; each ends at its closing delimiter outside string
/// literals (or at the end of the text).
struct JinjaTags<'a> {
    text: &'a str,
    i: usize,
}

impl Iterator for JinjaTags<'_> {
    type Item = JinjaTag;

    fn next(&mut self) -> Option<JinjaTag> {
        let bytes = self.text.as_bytes();
        loop {
            let open = self.i + self.text[self.i..].find('{')?;
            let close = match bytes.get(open + 1) {
                Some(b'{') => "}}",
                Some(b'%') => "%}",
                Some(b'#') => "#}",
                _ => {
                    self.i = open + 1;
                    continue;
                }
            };
            let body_start = open + 2;
            let mut j = body_start;
            let mut quote: Option<u8> = None;
            while j < bytes.len() {
                let b = bytes[j];
                match quote {
                    Some(_) if b == b'\\' => j += 1,
                    Some(q) if b == q => quote = None,
                    None if b == b'"' || b == b'\'' => quote = Some(b),
                    None if bytes[j..].starts_with(close.as_bytes()) => break,
                    Some(_) | None => {}
                }
                j += 1;
            }
            let end = j.min(bytes.len());
            self.i = (end + 2).min(self.text.len());
            return Some(JinjaTag {
                close,
                body_start,
                end,
            });
        }
    }
}

/// The identifier after `from` and any blanks: its (start, end) byte offsets.
fn ident(text: &str, from: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n') {
        i += 1;
    }
    let start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    (start, i)
}

/// Records the name at `(s, e)`, unless it is empty or a number.
fn push_use(text: &str, out: &mut Vec<JinjaUse>, kind: &'static str, (s, e): (usize, usize)) {
    if e > s && !text.as_bytes()[s].is_ascii_digit() {
        out.push((kind, text[s..e].to_string(), line_col(text, s)));
    }
}

/// The `|filter` and `is [not] test` uses in one tag's body, outside string literals.
fn tag_filters_and_tests(text: &str, tag: &JinjaTag, out: &mut Vec<JinjaUse>) {
    let bytes = text.as_bytes();
    let word_byte = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut k = tag.body_start;
    let mut quote: Option<u8> = None;
    while k < tag.end {
        let b = bytes[k];
        if let Some(q) = quote {
            if b == b'\\' {
                k += 1;
            } else if b == q {
                quote = None;
            }
            k += 1;
            continue;
        }
        match b {
            b'"' | b'\'' => quote = Some(b),
            b'|' => push_use(text, out, "filter", ident(text, k + 1)),
            b'i' if text[k..tag.end].starts_with("is")
                && (k == 0 || !word_byte(bytes[k - 1]))
                && bytes
                    .get(k + 2)
                    .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n')) =>
            {
                let (s, e) = ident(text, k + 2);
                if &text[s..e] == "not" {
                    push_use(text, out, "test", ident(text, e));
                } else {
                    push_use(text, out, "test", (s, e));
                }
                k = e.max(k + 1);
                continue;
            }
            _ => {}
        }
        k += 1;
    }
}
