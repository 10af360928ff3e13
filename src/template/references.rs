//! Which variables a template references (Handlebars through its own parser, Jinja through
//! minijinja's), with positions; whether a use is guarded by a definedness test; and the uses
//! of other template files (includes, partials), which jetlike refuses.

use std::collections::BTreeSet;

use handlebars::template::{Parameter, Template, TemplateElement};
use serde_json::Value;

use super::{
    hb_depth, jinja_depth, line_col, position_of, Dialect, Engine, Reference, TemplateError,
    TextPosition,
};

impl Engine {
    /// Every variable `text` references, found with the engine's parser.
    pub fn references(
        &self,
        dialect: Dialect,
        text: &str,
    ) -> Result<Vec<Reference>, TemplateError> {
        /// Distinct texts kept; past it the memo starts afresh.
        const MAX_MEMO: usize = 20_000;
        let key = (dialect, text.to_string());
        let memo = self
            .references
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(found) = memo {
            return (*found).clone();
        }
        let found = match dialect {
            Dialect::Handlebars => handlebars_references(text),
            Dialect::Jinja => self.jinja_references(text),
        };
        let mut memo = self
            .references
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if memo.len() >= MAX_MEMO {
            memo.clear();
        }
        memo.insert(key, std::sync::Arc::new(found.clone()));
        found
    }

    /// Uses of other template files — Jinja `{% include %}`, `{% extends %}`, `{% import %}`,
    /// `{% from %}`, Handlebars partials `{{> name}}` — which jetlike does not support (each
    /// template is checked and rendered on its own, with only the ENV_ variables it names):
    /// `(what, line, column)` for each. Handlebars inline partials defined in the same file are
    /// fine. Assumes `text` parses (see [`Engine::references`]).
    pub fn includes(&self, dialect: Dialect, text: &str) -> Vec<(String, usize, usize)> {
        match dialect {
            Dialect::Jinja => jinja_includes(text),
            Dialect::Handlebars => {
                if hb_depth(text).is_err() {
                    return vec![];
                }
                let Ok(tpl) = Template::compile(text) else {
                    return vec![];
                };
                let mut inline = BTreeSet::new();
                let mut partials = vec![];
                walk_partials(&tpl, (1, 1), &mut inline, &mut partials);
                partials
                    .into_iter()
                    .filter(|(name, ..)| !inline.contains(name))
                    .map(|(name, l, c)| (format!("the partial {{{{> {name}}}}}"), l, c))
                    .collect()
            }
        }
    }

    pub(super) fn jinja_references(&self, text: &str) -> Result<Vec<Reference>, TemplateError> {
        jinja_depth(text)?;
        let tpl = self
            .jinja
            .template_from_str(text)
            .map_err(|e| TemplateError::jinja(&e))?;
        // minijinja reports the environment's global functions (`range`, `dict`, `cycler`,
        // ...) as undeclared variables: they are not variables.
        let global = |name: &str| {
            let first = name.split('.').next().unwrap_or(name);
            self.jinja.globals().any(|(g, _)| g == first)
        };
        let top: BTreeSet<String> = tpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|n| !global(n))
            .collect();
        let mut names: BTreeSet<String> = tpl
            .undeclared_variables(true)
            .into_iter()
            .filter(|n| !global(n))
            .collect();
        names.extend(top.iter().cloned());
        // String literals naming ENV_ variables (e.g. a dynamic lookup) count as references.
        let mut out: Vec<Reference> = vec![];
        for name in names {
            let (line, column) = jinja_position(text, &name);
            let top_level = top.contains(&name);
            for part in name.split('.') {
                out.push(Reference {
                    name: part.to_string(),
                    line,
                    column,
                    top_level: top_level && part == name.split('.').next().unwrap_or(""),
                });
            }
        }
        for lit in env_literals(text) {
            out.push(lit);
        }
        Ok(out)
    }
}

/// Where a Jinja template first uses variable `name` (its first segment, for `a.b`): the
/// first identifier token with that name inside a `{{ }}` or `{% %}` tag, outside string
/// literals and not an attribute (`x.name`). Falls back to the first textual occurrence.
fn jinja_position(text: &str, name: &str) -> (usize, usize) {
    let first = name.split('.').next().unwrap_or(name);
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(rel) = text[i..].find(['{']) {
        let open = i + rel;
        let close = match b.get(open + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                i = open + 1;
                continue;
            }
        };
        let end = text[open + 2..]
            .find(close)
            .map_or(text.len(), |e| open + 2 + e);
        let mut j = open + 2;
        let mut quote = None;
        while j < end {
            let c = b[j];
            if let Some(q) = quote {
                if c == b'\\' {
                    j += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                }
                j += 1;
            } else if c == b'"' || c == b'\'' {
                quote = Some(c);
                j += 1;
            } else if c.is_ascii_alphabetic() || c == b'_' {
                let start = j;
                while j < end && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let attribute = text[..start].trim_end().ends_with('.');
                if &text[start..j] == first && !attribute {
                    return line_col(text, start);
                }
            } else {
                j += 1;
            }
        }
        i = end.min(text.len());
        if i >= text.len() {
            break;
        }
    }
    position_of(text, first)
}

/// Whether the template guards its use of `name` with a definedness test, so the variable
/// may legitimately be missing: Handlebars `(isdefined name)` (Jet's form: the quoted
/// `(isdefined "name")` tests a string literal, always defined, so it guards nothing), Jinja
/// `name is defined`, `name is not defined`, `name is undefined`, `name | default(...)` /
/// `name | d(...)`.
pub fn guarded(dialect: Dialect, text: &str, name: &str) -> bool {
    match dialect {
        Dialect::Handlebars => text.match_indices("isdefined").any(|(i, m)| {
            let after = &text[i + m.len()..];
            after.starts_with(char::is_whitespace)
                && after
                    .trim_start()
                    .strip_prefix(name)
                    .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        }),
        Dialect::Jinja => text.match_indices(name).any(|(i, _)| {
            let before_ok = text[..i]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
            let after: String = text[i + name.len()..]
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            let after = after.trim_start_matches(|c: char| c.is_whitespace());
            before_ok
                && (after.starts_with("is defined")
                    || after.starts_with("is not defined")
                    || after.starts_with("is undefined")
                    || after.starts_with("|default")
                    || after.starts_with("| default")
                    || after.starts_with("|d(")
                    || after.starts_with("| d("))
        }),
    }
}

/// `isdefined "name"` (or `'name'`) in a Handlebars text: the name and its 1-based line and
/// column. Jet's `isdefined` tests the value of its argument, so this form is always true
/// there (and here); the author most likely meant `(isdefined name)`.
pub fn quoted_isdefined(text: &str) -> Vec<(String, usize, usize)> {
    text.match_indices("isdefined")
        .filter_map(|(i, m)| {
            let after = &text[i + m.len()..];
            let arg = after.trim_start();
            if !after.starts_with(char::is_whitespace) || !arg.starts_with(['"', '\'']) {
                return None;
            }
            let q = arg.chars().next()?;
            let name = arg[1..].split(q).next()?.to_string();
            let (line, column) = line_col(text, i);
            Some((name, line, column))
        })
        .collect()
}

/// Quoted string literals starting with `ENV_` in a Jinja template (`context()["ENV_X"]` style
/// lookups): conservative, they count as references for the policy.
fn env_literals(text: &str) -> Vec<Reference> {
    let mut out = vec![];
    for q in ['"', '\''] {
        let pat = format!("{q}ENV_");
        let mut start = 0;
        while let Some(i) = text[start..].find(&pat) {
            let abs = start + i + 1;
            let end = text[abs..].find(q).map_or(text.len(), |e| abs + e);
            let (line, column) = line_col(text, abs);
            out.push(Reference {
                name: text[abs..end].to_string(),
                line,
                column,
                top_level: false,
            });
            start = end.min(text.len());
            if start >= text.len() {
                break;
            }
        }
    }
    out
}

pub(super) fn handlebars_references(text: &str) -> Result<Vec<Reference>, TemplateError> {
    hb_depth(text)?;
    let tpl = Template::compile(text).map_err(|e| {
        // The parser's position, else the expression that fails alone, else where the invalid
        // parameter is written, else the start: an error always says where to look.
        let (l, c) = e
            .pos()
            .or_else(|| failing_expression(text))
            .or_else(|| match e.reason() {
                handlebars::TemplateErrorReason::InvalidParam(p) => {
                    text.find(p.as_str()).map(|at| line_col(text, at))
                }
                _ => None,
            })
            .unwrap_or((1, 1));
        TemplateError::syntax(&e.reason().to_string(), Some(TextPosition::new(l, c)))
    })?;
    let mut out = vec![];
    walk_template(&tpl, true, (1, 1), &mut out);
    Ok(out)
}

/// Where a Handlebars template fails to compile when the parser gives no position (an invalid
/// parameter, found after parsing): the first `{{ }}` expression, other than a block's opening
/// or closing tag, that fails to compile on its own.
fn failing_expression(text: &str) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(rel) = text[i..].find("{{") {
        let start = i + rel;
        if start > 0 && text.as_bytes()[start - 1] == b'\\' {
            // `\{{` is literal text: the next expression may start right after it.
            i = start + 2;
            continue;
        }
        let end = start + 2 + text[start + 2..].find("}}")? + 2;
        let expr = &text[start..end];
        let inner = expr[2..expr.len() - 2].trim_start_matches(['{', '~', ' ']);
        // A block's opening tag is compiled with its closing tag; other tags of a block, and
        // comments, are skipped.
        let alone = if let Some(open) = inner.strip_prefix(['#', '^']) {
            let name: String = open
                .trim_start_matches(['*', '>', ' '])
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '}' | '~' | '('))
                .collect();
            Some(format!("{expr}{{{{/{name}}}}}"))
        } else if inner.starts_with(['/', '!']) || inner.starts_with("else") {
            None
        } else {
            Some(expr.to_string())
        };
        if alone.is_some_and(|t| Template::compile(&t).is_err()) {
            return Some(line_col(text, start));
        }
        i = end;
    }
    None
}

/// Collects inline partial definitions (`{{#*inline "name"}}`) and partial uses.
fn walk_partials(
    tpl: &Template,
    fallback: (usize, usize),
    inline: &mut BTreeSet<String>,
    partials: &mut Vec<(String, usize, usize)>,
) {
    let name_of = |p: &Parameter| match p {
        Parameter::Name(n) => n.clone(),
        Parameter::Path(p) => path_raw(p).to_string(),
        Parameter::Literal(Value::String(s)) => s.clone(),
        _ => "(dynamic)".to_string(),
    };
    for (i, el) in tpl.elements.iter().enumerate() {
        let pos = tpl.mapping.get(i).map_or(fallback, |m| (m.0, m.1));
        match el {
            TemplateElement::DecoratorBlock(d) | TemplateElement::DecoratorExpression(d) => {
                if matches!(&d.name, Parameter::Name(n) if n == "inline") {
                    if let Some(p) = d.params.first() {
                        inline.insert(name_of(p));
                    }
                }
                if let Some(t) = &d.template {
                    walk_partials(t, pos, inline, partials);
                }
            }
            TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                let name = name_of(&d.name);
                if name != "@partial-block" {
                    partials.push((name, pos.0, pos.1));
                }
                if let Some(t) = &d.template {
                    walk_partials(t, pos, inline, partials);
                }
            }
            TemplateElement::HelperBlock(h) => {
                for t in [&h.template, &h.inverse].into_iter().flatten() {
                    walk_partials(t, pos, inline, partials);
                }
            }
            _ => {}
        }
    }
}

/// Jinja block tags that load another template, outside comments and `{% raw %}` blocks.
fn jinja_includes(text: &str) -> Vec<(String, usize, usize)> {
    let mut out = vec![];
    let mut i = 0;
    let mut raw = false;
    while let Some(rel) = text[i..].find('{') {
        let open = i + rel;
        let close = match text.as_bytes().get(open + 1) {
            Some(b'%') => "%}",
            Some(b'#') => "#}",
            _ => {
                i = open + 1;
                continue;
            }
        };
        let end = text[open + 2..]
            .find(close)
            .map_or(text.len(), |e| open + 2 + e);
        i = (end + 2).min(text.len());
        if close == "#}" {
            continue;
        }
        let body = text[open + 2..end].trim_start_matches(['-', '+']).trim();
        let word = body
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if raw {
            raw = word != "endraw";
            continue;
        }
        match word {
            "raw" => raw = true,
            "include" | "extends" | "import" | "from" => {
                let (l, c) = line_col(text, open);
                out.push((format!("{{% {word} %}}"), l, c));
            }
            _ => {}
        }
    }
    out
}

const CONTEXT_CHANGING: &[&str] = &["each", "with"];

fn walk_template(tpl: &Template, top: bool, fallback: (usize, usize), out: &mut Vec<Reference>) {
    for (i, el) in tpl.elements.iter().enumerate() {
        let pos = tpl.mapping.get(i).map_or(fallback, |m| (m.0, m.1));
        match el {
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                walk_helper(h, top, pos, out, false);
            }
            TemplateElement::HelperBlock(h) => walk_helper(h, top, pos, out, true),
            TemplateElement::DecoratorExpression(d)
            | TemplateElement::DecoratorBlock(d)
            | TemplateElement::PartialExpression(d)
            | TemplateElement::PartialBlock(d) => {
                for p in d.params.iter().chain(d.hash.values()) {
                    walk_param(p, top, pos, out);
                }
                if let Some(t) = &d.template {
                    walk_template(t, top, pos, out);
                }
            }
            _ => {}
        }
    }
}

fn walk_helper(
    h: &handlebars::template::HelperTemplate,
    top: bool,
    pos: (usize, usize),
    out: &mut Vec<Reference>,
    block: bool,
) {
    let is_call = !h.params.is_empty() || !h.hash.is_empty() || block;
    match &h.name {
        // A bare `{{name}}` is a variable; with parameters it is a helper call.
        Parameter::Name(n) if !is_call => push_path(n, top, pos, out),
        Parameter::Path(p) => push_path(path_raw(p), top, pos, out),
        Parameter::Subexpression(s) => walk_element(&s.element, top, pos, out),
        _ => {}
    }
    for p in h.params.iter().chain(h.hash.values()) {
        walk_param(p, top, pos, out);
    }
    let inner_top =
        top && !matches!(&h.name, Parameter::Name(n) if CONTEXT_CHANGING.contains(&n.as_str()));
    if let Some(t) = &h.template {
        walk_template(t, inner_top, pos, out);
    }
    if let Some(t) = &h.inverse {
        walk_template(t, top, pos, out);
    }
}

fn walk_element(el: &TemplateElement, top: bool, pos: (usize, usize), out: &mut Vec<Reference>) {
    match el {
        TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
            walk_helper(h, top, pos, out, false);
        }
        TemplateElement::HelperBlock(h) => walk_helper(h, top, pos, out, true),
        _ => {}
    }
}

fn walk_param(p: &Parameter, top: bool, pos: (usize, usize), out: &mut Vec<Reference>) {
    match p {
        Parameter::Name(n) => push_path(n, top, pos, out),
        Parameter::Path(path) => push_path(path_raw(path), top, pos, out),
        Parameter::Subexpression(s) => walk_element(&s.element, top, pos, out),
        // `lookup this "ENV_X"` names a variable through a string literal.
        Parameter::Literal(Value::String(s)) => {
            for seg in s.split(['.', '/']) {
                if seg.starts_with(crate::env_name::ENV_PREFIX) {
                    out.push(Reference {
                        name: seg.to_string(),
                        line: pos.0,
                        column: pos.1,
                        top_level: false,
                    });
                }
            }
        }
        _ => {}
    }
}

/// The path as written in the template.
#[allow(unreachable_patterns)]
fn path_raw(p: &handlebars::Path) -> &str {
    match p {
        handlebars::Path::Relative((_, raw)) | handlebars::Path::Local((_, _, raw)) => raw,
        _ => "",
    }
}

/// Records a path such as `a.b`, `this.a`, `../a`, `[a b]`, `@root.a`: every segment is checked
/// by the policy; only a plain first segment must be defined at top level.
fn push_path(raw: &str, top: bool, pos: (usize, usize), out: &mut Vec<Reference>) {
    let mut first = true;
    let relative = raw.starts_with("this") || raw.starts_with("./") || raw.starts_with("../");
    for seg in raw.split(['.', '/']) {
        let seg = seg.trim_start_matches('[').trim_end_matches(']');
        if seg.is_empty() || seg == "this" || seg == ".." || seg.starts_with('@') {
            continue;
        }
        out.push(Reference {
            name: seg.to_string(),
            line: pos.0,
            column: pos.1,
            top_level: top && first && !relative && !raw.starts_with('@'),
        });
        first = false;
    }
}
