//! Templating: Handlebars (strict, no HTML escaping, Jet's helpers) for every templated field and
//! for `.hb`/`.hbs` files, minijinja (strict) for `.j2` files; plus static analysis of which
//! variables a template references, done with the engines' own parsers.

use std::cell::Cell;
use std::collections::BTreeSet;

use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::{
    handlebars_helper, Context, Handlebars, Helper, HelperDef, RenderContext, RenderError,
    RenderErrorReason, ScopedJson,
};
use serde_json::Value;

/// A variable reference found in a template, with its 1-based position inside the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub line: usize,
    pub column: usize,
    /// Outside any block that changes the context (`each`, `with`): the name must be a
    /// variable of the render context.
    pub top_level: bool,
}

/// How to fix an [`UnknownName`].
pub const UNKNOWN_NAME_HELP: &str = "check the spelling; the helpers (Handlebars) and the filters and tests (Jinja) jetlike provides are listed in README.md";

/// A helper, filter or test a template calls that the engine does not provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// `helper`, `filter` or `test`.
    pub kind: &'static str,
    pub name: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} `{}`", self.kind, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Handlebars,
    Jinja,
}

impl Dialect {
    /// `.j2` (and `.jinja`, `.jinja2`) is Jinja; everything else is Handlebars, as in Jet.
    pub fn of_path(path: &str) -> Dialect {
        let p = path.to_ascii_lowercase();
        if p.ends_with(".j2") || p.ends_with(".jinja") || p.ends_with(".jinja2") {
            Dialect::Jinja
        } else {
            Dialect::Handlebars
        }
    }
}

thread_local! {
    /// Set by the screening escape function when a substituted value held a shell metacharacter.
    static SCREEN_HIT: Cell<bool> = const { Cell::new(false) };
}

/// Characters that let a substituted value change the meaning of a shell command.
const SHELL_META: &[char] = &[
    ';', '|', '&', '<', '>', '$', '`', '\n', '\r', '*', '?', '{', '}', '[', ']', '(', ')', '\\',
    '!', '\'', '"', '#', '~',
];

pub struct Engine {
    hb: Handlebars<'static>,
    /// Same helpers, but `{{x}}` substitutions are screened for shell metacharacters.
    hb_screen: Handlebars<'static>,
    jinja: minijinja::Environment<'static>,
}

handlebars_helper!(to_lower_case: |s: str| s.to_lowercase());
handlebars_helper!(to_upper_case: |s: str| s.to_uppercase());
handlebars_helper!(trim: |s: str| s.trim());
handlebars_helper!(trim_start: |s: str| s.trim_start());
handlebars_helper!(trim_end: |s: str| s.trim_end());
handlebars_helper!(contains: |s: str, p: str| s.contains(p));
handlebars_helper!(starts_with: |s: str, p: str| s.starts_with(p));
handlebars_helper!(ends_with: |s: str, p: str| s.ends_with(p));

/// `(isdefined "name")`: whether the render context holds a variable of that name.
struct IsDefined;

impl HelperDef for IsDefined {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let name = h
            .param(0)
            .and_then(|p| p.value().as_str())
            .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex("isdefined", 0))?;
        let defined = ctx.data().get(name).is_some_and(|v| !v.is_null());
        Ok(ScopedJson::Derived(Value::Bool(defined)))
    }
}

fn registry() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("to_lower_case", Box::new(to_lower_case));
    hb.register_helper("to_upper_case", Box::new(to_upper_case));
    hb.register_helper("trim", Box::new(trim));
    hb.register_helper("trim_start", Box::new(trim_start));
    hb.register_helper("trim_end", Box::new(trim_end));
    hb.register_helper("contains", Box::new(contains));
    hb.register_helper("starts_with", Box::new(starts_with));
    hb.register_helper("ends_with", Box::new(ends_with));
    hb.register_helper("isdefined", Box::new(IsDefined));
    hb.register_helper("secret", Box::new(SecretHelper));
    hb
}

/// `{{secret "provider" "key"}}` (the Clace form): the value resolved before the run, which
/// the template-file renderer puts in the render context under
/// [`crate::secret_source::call_name`]. Anywhere else the policy rejects the call before the
/// run; should one slip through, the context holds no such name and rendering fails.
struct SecretHelper;

impl HelperDef for SecretHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let arg = |i| {
            h.param(i)
                .and_then(|p| p.value().as_str())
                .ok_or(RenderErrorReason::ParamNotFoundForIndex("secret", i))
        };
        let name = crate::secret_source::call_name(arg(0)?, arg(1)?);
        match ctx.data().get(&name) {
            Some(Value::String(s)) => Ok(ScopedJson::Derived(Value::String(s.clone()))),
            _ => Err(RenderErrorReason::Other(format!(
                "{name} is not available here: secrets reach template files only"
            ))
            .into()),
        }
    }
}

/// Renders engine errors without echoing template source lines that could hold values.
fn hb_error(e: &RenderError) -> String {
    let mut s = e.reason().to_string();
    if let (Some(l), Some(c)) = (e.line_no, e.column_no) {
        s.push_str(&format!(" (line {l}, column {c})"));
    }
    s
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    pub fn new() -> Self {
        let hb = registry();
        let mut hb_screen = registry();
        hb_screen.register_escape_fn(|s| {
            if s.contains(SHELL_META) {
                SCREEN_HIT.with(|c| c.set(true));
            }
            s.to_string()
        });
        let mut jinja = minijinja::Environment::new();
        jinja.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        jinja.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        jinja.set_keep_trailing_newline(true);
        jinja_globals::register(&mut jinja);
        Engine {
            hb,
            hb_screen,
            jinja,
        }
    }

    /// Renders a templated field (Handlebars). Strings without `{{` skip the engine.
    pub fn render(&self, text: &str, ctx: &Value) -> Result<String, String> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        hb_depth(text)?;
        self.hb.render_template(text, ctx).map_err(|e| hb_error(&e))
    }

    /// Renders a shell command, refusing substituted values with shell metacharacters unless
    /// the task opted out with `unsafe: true`.
    pub fn render_shell(
        &self,
        text: &str,
        ctx: &Value,
        allow_unsafe: bool,
    ) -> Result<String, String> {
        if allow_unsafe || !text.contains("{{") {
            return self.render(text, ctx);
        }
        hb_depth(text)?;
        SCREEN_HIT.with(|c| c.set(false));
        let out = self
            .hb_screen
            .render_template(text, ctx)
            .map_err(|e| hb_error(&e))?;
        if SCREEN_HIT.with(|c| c.replace(false)) {
            return Err("a variable substituted into this command contains shell metacharacters \
                        (; | & $ ` quotes, ...); quote-proof the value or set `unsafe: true` on the task"
                .to_string());
        }
        Ok(out)
    }

    /// Evaluates a condition such as `(eq os "Debian")` or `enabled`.
    pub fn condition(&self, expr: &str, ctx: &Value) -> Result<bool, String> {
        let e = expr.trim();
        let e = e
            .strip_prefix("{{")
            .and_then(|s| s.strip_suffix("}}"))
            .unwrap_or(e)
            .trim();
        hb_depth(e)?;
        let out = self
            .hb
            .render_template(
                &format!("{{{{#if {e}}}}}true{{{{else}}}}false{{{{/if}}}}"),
                ctx,
            )
            .map_err(|err| hb_error(&err))?;
        Ok(out == "true")
    }

    /// Renders a template file's contents in its dialect.
    pub fn render_file(&self, dialect: Dialect, text: &str, ctx: &Value) -> Result<String, String> {
        match dialect {
            Dialect::Handlebars => {
                hb_depth(text)?;
                self.hb.render_template(text, ctx).map_err(|e| hb_error(&e))
            }
            Dialect::Jinja => self
                .jinja
                .render_str(text, ctx)
                .map_err(|e| jinja_error(&e)),
        }
    }

    /// Every variable `text` references, found with the engine's parser.
    pub fn references(&self, dialect: Dialect, text: &str) -> Result<Vec<Reference>, String> {
        match dialect {
            Dialect::Handlebars => handlebars_references(text),
            Dialect::Jinja => self.jinja_references(text),
        }
    }

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

    fn jinja_references(&self, text: &str) -> Result<Vec<Reference>, String> {
        let tpl = self
            .jinja
            .template_from_str(text)
            .map_err(|e| jinja_error(&e))?;
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

/// The Jinja2 global functions minijinja's core leaves out: `cycler`, `joiner` and `lipsum`
/// (deterministic here, so a template using it stays idempotent).
mod jinja_globals {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    use minijinja::value::{Kwargs, Object, ObjectRepr, Rest, Value};
    use minijinja::{Environment, Error, ErrorKind, State};

    #[derive(Debug)]
    struct Cycler {
        items: Vec<Value>,
        pos: AtomicUsize,
    }

    impl Object for Cycler {
        fn repr(self: &Arc<Self>) -> ObjectRepr {
            ObjectRepr::Plain
        }
        fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
            (key.as_str() == Some("current"))
                .then(|| self.items[self.pos.load(Ordering::Relaxed) % self.items.len()].clone())
        }
        fn call_method(
            self: &Arc<Self>,
            _: &State<'_, '_>,
            method: &str,
            _: &[Value],
        ) -> Result<Value, Error> {
            match method {
                "next" => {
                    let i = self.pos.fetch_add(1, Ordering::Relaxed);
                    Ok(self.items[i % self.items.len()].clone())
                }
                "reset" => {
                    self.pos.store(0, Ordering::Relaxed);
                    Ok(Value::from(()))
                }
                _ => Err(Error::from(ErrorKind::UnknownMethod)),
            }
        }
    }

    #[derive(Debug)]
    struct Joiner {
        sep: String,
        used: AtomicBool,
    }

    impl Object for Joiner {
        fn repr(self: &Arc<Self>) -> ObjectRepr {
            ObjectRepr::Plain
        }
        fn call(self: &Arc<Self>, _: &State<'_, '_>, _: &[Value]) -> Result<Value, Error> {
            Ok(Value::from(if self.used.swap(true, Ordering::Relaxed) {
                self.sep.as_str()
            } else {
                ""
            }))
        }
    }

    const LOREM: &[&str] = &[
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
        "sed",
        "do",
        "eiusmod",
        "tempor",
        "incididunt",
        "ut",
        "labore",
        "et",
        "dolore",
        "magna",
        "aliqua",
        "enim",
        "ad",
        "minim",
        "veniam",
        "quis",
        "nostrud",
        "exercitation",
        "ullamco",
        "laboris",
        "nisi",
        "aliquip",
        "ex",
        "ea",
        "commodo",
        "consequat",
    ];

    fn lipsum(
        n: Option<usize>,
        html: Option<bool>,
        min: Option<usize>,
        max: Option<usize>,
        kwargs: Kwargs,
    ) -> Result<String, Error> {
        let n = kwargs
            .get::<Option<usize>>("n")?
            .or(n)
            .unwrap_or(5)
            .min(100);
        let html = kwargs.get::<Option<bool>>("html")?.or(html).unwrap_or(true);
        let min = kwargs.get::<Option<usize>>("min")?.or(min).unwrap_or(20);
        let max = kwargs.get::<Option<usize>>("max")?.or(max).unwrap_or(100);
        kwargs.assert_all_used()?;
        let words = (min.max(1) + max.max(min.max(1))) / 2;
        let mut paragraphs = vec![];
        for p in 0..n {
            let mut text: Vec<String> = (0..words)
                .map(|i| LOREM[(p * 7 + i) % LOREM.len()].to_string())
                .collect();
            if let Some(first) = text.first_mut() {
                first[..1].make_ascii_uppercase();
            }
            let mut s = text.join(" ");
            s.push('.');
            paragraphs.push(if html { format!("<p>{s}</p>") } else { s });
        }
        Ok(paragraphs.join("\n\n"))
    }

    pub fn register(env: &mut Environment<'static>) {
        // `{{ secret("provider", "key") }}`: see the Handlebars `SecretHelper`.
        env.add_function(
            "secret",
            |state: &State<'_, '_>, provider: String, key: String| -> Result<Value, Error> {
                let name = crate::secret_source::call_name(&provider, &key);
                match state.lookup(&name) {
                    Some(v) if !v.is_undefined() => Ok(v),
                    _ => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("{name} is not available here: secrets reach template files only"),
                    )),
                }
            },
        );
        env.add_function("cycler", |items: Rest<Value>| {
            if items.0.is_empty() {
                return Err(Error::new(
                    ErrorKind::MissingArgument,
                    "cycler() needs at least one item",
                ));
            }
            Ok(Value::from_object(Cycler {
                items: items.0,
                pos: AtomicUsize::new(0),
            }))
        });
        env.add_function("joiner", |sep: Option<String>| {
            Value::from_object(Joiner {
                sep: sep.unwrap_or_else(|| ", ".to_string()),
                used: AtomicBool::new(false),
            })
        });
        env.add_function("lipsum", lipsum);
    }
}

fn jinja_error(e: &minijinja::Error) -> String {
    let mut s = e.kind().to_string();
    if let Some(d) = e.detail() {
        s.push_str(": ");
        s.push_str(d);
    }
    if let Some(l) = e.line() {
        s.push_str(&format!(" (line {l})"));
    }
    s
}

/// 1-based line and column (in characters) of byte offset `off`.
fn line_col(text: &str, off: usize) -> (usize, usize) {
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// 1-based line and column of the first occurrence of `needle`, or the start.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    text.find(needle).map_or((1, 1), |off| line_col(text, off))
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
/// may legitimately be missing: Handlebars `(isdefined "name")`, Jinja `name is defined`,
/// `name is not defined`, `name is undefined`, `name | default(...)` / `name | d(...)`.
pub fn guarded(dialect: Dialect, text: &str, name: &str) -> bool {
    match dialect {
        Dialect::Handlebars => text.match_indices("isdefined").any(|(i, m)| {
            text[i + m.len()..]
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.strip_prefix(name))
                .is_some_and(|r| r.starts_with('"'))
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

/// Refuses Handlebars nested too deeply for the recursive parser and renderer (see
/// [`crate::depth`]), before either sees it.
fn hb_depth(text: &str) -> Result<(), String> {
    crate::depth::check_handlebars(text).map_err(|e| e.to_string())
}

fn handlebars_references(text: &str) -> Result<Vec<Reference>, String> {
    hb_depth(text)?;
    let tpl = Template::compile(text).map_err(|e| {
        let mut s = e.reason().to_string();
        if let Some((l, c)) = e.pos().or_else(|| failing_expression(text)) {
            s.push_str(&format!(" (line {l}, column {c})"));
        }
        s
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
        let escaped = start > 0 && text.as_bytes()[start - 1] == b'\\';
        if !escaped && alone.is_some_and(|t| Template::compile(&t).is_err()) {
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
            walk_helper(h, top, pos, out, false)
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

/// The filters (`x|name`, `{% filter name %}`) and tests (`x is name`, `x is not name`) a
/// Jinja text uses, with their positions: a lexical scan of its tags that skips string
/// literals, comments and `{% raw %}` blocks.
fn jinja_filters_and_tests(text: &str) -> Vec<(&'static str, String, (usize, usize))> {
    let mut out = vec![];
    let bytes = text.as_bytes();
    let ident = |from: usize| -> (usize, usize) {
        let mut i = from;
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t' || bytes[i] == b'\n') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        (start, i)
    };
    let mut i = 0;
    let mut raw = false;
    while let Some(rel) = text[i..].find('{') {
        let open = i + rel;
        let close = match bytes.get(open + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => "#}",
            _ => {
                i = open + 1;
                continue;
            }
        };
        let body_start = open + 2;
        // The tag ends at its closing delimiter outside string literals.
        let mut j = body_start;
        let mut quote: Option<u8> = None;
        while j < bytes.len() {
            let b = bytes[j];
            match quote {
                Some(_) if b == b'\\' => j += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'"' || b == b'\'' => quote = Some(b),
                None if text[j..].starts_with(close) => break,
                None => {}
            }
            j += 1;
        }
        let end = j.min(bytes.len());
        i = (end + 2).min(text.len());
        if close == "#}" {
            continue;
        }
        let body = &text[body_start..end];
        let first = body.trim_start_matches(['-', '+']).trim_start();
        let word: String = first
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if raw {
            raw = word != "endraw";
            continue;
        }
        if close == "%}" && word == "raw" {
            raw = true;
            continue;
        }
        let mut k = body_start;
        let mut quote: Option<u8> = None;
        let mut push = |kind: &'static str, (s, e): (usize, usize)| {
            if e > s && !bytes[s].is_ascii_digit() {
                out.push((kind, text[s..e].to_string(), line_col(text, s)));
            }
        };
        if close == "%}" && word == "filter" {
            let at = body_start + (body.len() - first.len()) + word.len();
            push("filter", ident(at));
        }
        while k < end {
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
                b'|' => push("filter", ident(k + 1)),
                b'i' if text[k..end].starts_with("is")
                    && (k == 0
                        || !(bytes[k - 1].is_ascii_alphanumeric() || bytes[k - 1] == b'_'))
                    && bytes
                        .get(k + 2)
                        .is_some_and(|c| *c == b' ' || *c == b'\t' || *c == b'\n') =>
                {
                    let (s, e) = ident(k + 2);
                    if &text[s..e] == "not" {
                        push("test", ident(e));
                    } else {
                        push("test", (s, e));
                    }
                    k = e.max(k + 1);
                    continue;
                }
                _ => {}
            }
            k += 1;
        }
    }
    out
}

/// The path as written in the template.
#[allow(unreachable_patterns)]
fn path_raw(p: &handlebars::Path) -> &str {
    match p {
        handlebars::Path::Relative((_, raw)) => raw,
        handlebars::Path::Local((_, _, raw)) => raw,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(text: &str) -> Vec<String> {
        handlebars_references(text)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    #[test]
    fn finds_env_references_in_every_handlebars_form() {
        for t in [
            "{{ENV_X}}",
            "{{{ENV_X}}}",
            "{{ ENV_X }}",
            "{{#if ENV_X}}y{{/if}}",
            "{{lookup this \"ENV_X\"}}",
            "{{to_upper_case ENV_X}}",
            "{{#each list}}{{../ENV_X}}{{/each}}",
            "{{this.ENV_X}}",
            "{{@root.ENV_X}}",
            "{{#if (eq ENV_X \"a\")}}y{{/if}}",
            "{{#unless a}}{{else}}{{ENV_X}}{{/unless}}",
        ] {
            assert!(
                names(t).iter().any(|n| n == "ENV_X"),
                "missed in {t}: {:?}",
                names(t)
            );
        }
        assert!(names("{{!-- ENV_X --}}").is_empty());
    }

    #[test]
    fn helper_names_are_not_variables() {
        let refs = handlebars_references("{{to_upper_case name}}").unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].name, "name");
        assert!(refs[0].top_level);
        let inner = handlebars_references("{{#each xs}}{{field}}{{/each}}").unwrap();
        assert!(inner.iter().any(|r| r.name == "field" && !r.top_level));
    }

    #[test]
    fn strict_rendering_and_helpers() {
        let e = Engine::new();
        let ctx = json!({"a": "Hi <b>", "n": 3});
        assert_eq!(e.render("{{to_upper_case a}}", &ctx).unwrap(), "HI <B>");
        assert!(e.render("{{missing}}", &ctx).is_err());
        assert!(e.condition("(eq n 3)", &ctx).unwrap());
        assert!(!e.condition("(isdefined \"zzz\")", &ctx).unwrap());
        assert!(e.render_file(Dialect::Jinja, "{{ nope }}", &ctx).is_err());
        assert_eq!(
            e.render_file(Dialect::Jinja, "{{ a }}\n", &ctx).unwrap(),
            "Hi <b>\n"
        );
    }

    #[test]
    fn shell_screening() {
        let e = Engine::new();
        let ctx = json!({"ok": "abc", "bad": "a; rm -rf /"});
        assert_eq!(
            e.render_shell("echo {{ok}}", &ctx, false).unwrap(),
            "echo abc"
        );
        assert!(e.render_shell("echo {{bad}}", &ctx, false).is_err());
        assert!(e.render_shell("echo {{bad}}", &ctx, true).is_ok());
    }

    #[test]
    fn jinja_globals_are_not_variables_and_render() {
        let e = Engine::new();
        let text = "{% for i in range(3) %}{{ i }}{% endfor %}|{{ dict(a=1).a }}|\
                    {% set ns = namespace(n=2) %}{{ ns.n }}|{{ debug() | length > 0 }}|\
                    {% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}|\
                    {% set j = joiner('+') %}{{ j() }}x{{ j() }}y|{{ lipsum(1, false, 3, 3) }}|{{ v }}";
        let refs = e.references(Dialect::Jinja, text).unwrap();
        let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["v"], "{refs:?}");
        let out = e
            .render_file(Dialect::Jinja, text, &json!({"v": "V"}))
            .unwrap();
        assert_eq!(out, "012|1|2|True|abab|x+y|Lorem ipsum dolor.|V");
        let twice = e.render_file(Dialect::Jinja, "{{ lipsum() }}", &json!({}));
        assert_eq!(
            twice,
            e.render_file(Dialect::Jinja, "{{ lipsum() }}", &json!({}))
        );
    }

    #[test]
    fn errors_without_a_parser_position_are_located() {
        let e =
            handlebars_references("ok {{a}}\nx {{b \"bad\u{19}\"}} {{#if c}}{{/if}}").unwrap_err();
        assert!(e.ends_with("(line 2, column 3)"), "{e}");
        let e = handlebars_references("{{#if a}}x{{/if}}\n  {{#if (f \"\u{0}b\")}}y{{/if}}")
            .unwrap_err();
        assert!(e.ends_with("(line 2, column 3)"), "{e}");
    }

    #[test]
    fn includes_and_partials_are_found() {
        let e = Engine::new();
        let found = |d, t| {
            e.includes(d, t)
                .into_iter()
                .map(|(w, l, c)| format!("{w}@{l}:{c}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            found(
                Dialect::Jinja,
                "a\n  {% include 'x' %}{#- {% include 'no' %} #}\n{%- extends \"b\" %}{% raw %}{% import 'no' %}{% endraw %}{% from 'm' import f %}"
            ),
            ["{% include %}@2:3", "{% extends %}@3:1", "{% from %}@3:57"]
        );
        assert!(found(Dialect::Jinja, "{% if x %}{{ include }}{% endif %}").is_empty());
        assert_eq!(
            found(
                Dialect::Handlebars,
                "x\n{{> header}}{{#if a}}{{> (lookup this \"p\")}}{{/if}}"
            ),
            [
                "the partial {{> header}}@2:1",
                "the partial {{> (dynamic)}}@2:22"
            ]
        );
        assert!(found(
            Dialect::Handlebars,
            "{{#*inline \"row\"}}<{{this}}>{{/inline}}{{#each xs}}{{> row}}{{/each}}"
        )
        .is_empty());
    }

    #[test]
    fn jinja_references_top_level_and_env() {
        let e = Engine::new();
        let refs = e
            .references(
                Dialect::Jinja,
                "{% for x in xs %}{{ x.a }}{% endfor %}{{ ENV_T }}",
            )
            .unwrap();
        let tops: Vec<_> = refs
            .iter()
            .filter(|r| r.top_level)
            .map(|r| r.name.as_str())
            .collect();
        assert!(tops.contains(&"xs") && tops.contains(&"ENV_T") && !tops.contains(&"x"));
    }

    #[test]
    fn unknown_helpers_filters_and_tests_are_found_with_positions() {
        let e = Engine::new();
        let u = e.unknown_names(
            Dialect::Handlebars,
            "a {{to_upper_case x}}\n{{#if (to_uper_case x)}}y{{/if}} {{x}} {{#each l}}{{frob this}}{{/each}}",
        );
        let names: Vec<_> = u
            .iter()
            .map(|u| (u.kind, u.name.as_str(), u.line))
            .collect();
        assert_eq!(
            names,
            [("helper", "to_uper_case", 2), ("helper", "frob", 2)]
        );
        let u = e.unknown_names(
            Dialect::Jinja,
            "{{ x|upper }} {{ 'a|b is c'|trim }}\n{% if x is definedd %}{{ x | uppper(1) }}{% endif %}\n{% filter nosuch %}x{% endfilter %}{# y|nope #}{% raw %}{{ z|nope }}{% endraw %}{{ x is not odd }}",
        );
        let names: Vec<_> = u
            .iter()
            .map(|u| (u.kind, u.name.as_str(), u.line, u.column))
            .collect();
        assert_eq!(
            names,
            [
                ("test", "definedd", 2, 12),
                ("filter", "uppper", 2, 30),
                ("filter", "nosuch", 3, 11)
            ]
        );
    }
}
