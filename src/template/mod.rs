//! Templating: Handlebars (strict, no HTML escaping, Jet's helpers) for every templated field and
//! for `.hb`/`.hbs` files, minijinja (strict) for `.j2` files; plus static analysis of which
//! variables a template references, done with the engines' own parsers.
//!
//! This file owns the [`Engine`] (rendering) and the types shared by the analyses; the rooms:
//! [`helpers`] (the Handlebars helpers jetlike defines), [`jinja_globals`] (the Jinja globals
//! minijinja leaves out), [`error`] (the typed [`TemplateError`]), [`references`] (which variables a template reads, guarded names,
//! includes) and [`calls`] (which helpers, filters, tests and `secret` calls it makes).

mod calls;
mod error;
mod helpers;
mod jinja_globals;
mod references;

use std::cell::Cell;

use handlebars::Handlebars;
use serde_json::Value;

pub use calls::{call_name, dynamic_lookups, secret_calls, SecretCall};
pub use error::{RenderFailure, TemplateError, TextPosition};
pub use references::{guarded, quoted_isdefined};

use helpers::registry;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Handlebars,
    Jinja,
}

impl Dialect {
    /// `.j2` (and `.jinja`, `.jinja2`) is Jinja; everything else is Handlebars, as in Jet.
    // `p` is lowercased first: the comparison is case-insensitive.
    #[allow(clippy::case_sensitive_file_extension_comparisons)]
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

type ReferencesResult = std::sync::Arc<Result<Vec<Reference>, TemplateError>>;

pub struct Engine {
    /// Compiled Handlebars templates by source text: a field is parsed once per run, not
    /// once per host and item (parsing was most of the engine's time per host-task).
    compiled:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<handlebars::Template>>>,
    /// [`Engine::references`] by dialect and text: the pre-run checks ask once per host.
    references: std::sync::Mutex<std::collections::HashMap<(Dialect, String), ReferencesResult>>,
    hb: Handlebars<'static>,
    /// Same helpers, but `{{x}}` substitutions are screened for shell metacharacters.
    hb_screen: Handlebars<'static>,
    jinja: minijinja::Environment<'static>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

/// The instructions one Jinja render may execute: a loop that never ends in practice
/// (`{% for i in range(10**9) %}`, loops nested sixty deep) fails with an error instead of
/// hanging the run and growing its output without bound. Far above what a configuration
/// file takes: half a million loop iterations with two filters each fit (a quarter of a
/// second in a release build).
pub const JINJA_FUEL: u64 = 10_000_000;

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
        jinja.set_fuel(Some(JINJA_FUEL));
        jinja_globals::register(&mut jinja);
        Engine {
            compiled: std::sync::Mutex::default(),
            references: std::sync::Mutex::default(),
            hb,
            hb_screen,
            jinja,
        }
    }

    /// Renders `text` with `hb`, compiling it once.
    fn hb_render(
        &self,
        hb: &Handlebars<'static>,
        text: &str,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        use handlebars::{Context, RenderContext, RenderError, Renderable, StringOutput, Template};
        /// Distinct texts kept; a run past it (generated fields) starts the cache afresh.
        const MAX_COMPILED: usize = 20_000;
        let cached = self
            .compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(text)
            .cloned();
        let template = if let Some(t) = cached {
            t
        } else {
            let t = std::sync::Arc::new(
                Template::compile(text)
                    .map_err(|e| TemplateError::handlebars(&RenderError::from(e)))?,
            );
            let mut cache = self
                .compiled
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.len() >= MAX_COMPILED {
                cache.clear();
            }
            cache.insert(text.to_string(), t.clone());
            t
        };
        let ctx = Context::wraps(ctx).map_err(|e| TemplateError::handlebars(&e))?;
        let mut rc = RenderContext::new(None);
        let mut out = StringOutput::new();
        template
            .render(hb, &ctx, &mut rc, &mut out)
            .map_err(|e| TemplateError::handlebars(&e))?;
        out.into_string()
            .map_err(|e| TemplateError::handlebars(&RenderError::from(e)))
    }

    /// Renders a templated field (Handlebars). Strings without `{{` skip the engine.
    pub fn render(&self, text: &str, ctx: &Value) -> Result<String, TemplateError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        hb_depth(text)?;
        self.hb_render(&self.hb, text, ctx)
    }

    /// Renders a shell command, refusing substituted values with shell metacharacters unless
    /// the task opted out with `unsafe: true`.
    pub fn render_shell(
        &self,
        text: &str,
        ctx: &Value,
        allow_unsafe: bool,
    ) -> Result<String, TemplateError> {
        if allow_unsafe || !text.contains("{{") {
            return self.render(text, ctx);
        }
        hb_depth(text)?;
        SCREEN_HIT.with(|c| c.set(false));
        let out = self.hb_render(&self.hb_screen, text, ctx)?;
        if SCREEN_HIT.with(|c| c.replace(false)) {
            return Err(TemplateError::ShellMetacharacters);
        }
        Ok(out)
    }

    /// Evaluates a condition such as `(eq os "Debian")` or `enabled`.
    pub fn condition(&self, expr: &str, ctx: &Value) -> Result<bool, TemplateError> {
        let e = expr.trim();
        let e = e
            .strip_prefix("{{")
            .and_then(|s| s.strip_suffix("}}"))
            .unwrap_or(e)
            .trim();
        hb_depth(e)?;
        let out = self.hb_render(
            &self.hb,
            &format!("{{{{#if {e}}}}}true{{{{else}}}}false{{{{/if}}}}"),
            ctx,
        )?;
        Ok(out == "true")
    }

    /// Renders a template file's contents in its dialect.
    pub fn render_file(
        &self,
        dialect: Dialect,
        text: &str,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        match dialect {
            Dialect::Handlebars => {
                hb_depth(text)?;
                self.hb
                    .render_template(text, ctx)
                    .map_err(|e| TemplateError::handlebars(&e))
            }
            Dialect::Jinja => {
                jinja_depth(text)?;
                self.jinja
                    .render_str(text, ctx)
                    .map_err(|e| TemplateError::jinja(&e))
            }
        }
    }
}

/// 1-based line and column (in characters) of byte offset `off`.
pub(super) fn line_col(text: &str, off: usize) -> (usize, usize) {
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// 1-based line and column of the first occurrence of `needle`, or the start.
pub(super) fn position_of(text: &str, needle: &str) -> (usize, usize) {
    text.find(needle).map_or((1, 1), |off| line_col(text, off))
}

/// Refuses Handlebars nested too deeply for the recursive parser and renderer (see
/// [`crate::depth`]), before either sees it.
pub(super) fn hb_depth(text: &str) -> Result<(), TemplateError> {
    Ok(crate::depth::check_handlebars(text)?)
}

/// The same for Jinja: minijinja's compiler and tree walks recurse once per link of a chain
/// (`x|f|f|…`), which its parser does not limit.
pub(super) fn jinja_depth(text: &str) -> Result<(), TemplateError> {
    Ok(crate::depth::check_jinja(text)?)
}

#[cfg(test)]
mod tests {
    use super::references::handlebars_references;
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
    fn every_handlebars_compile_error_says_where() {
        // Found by the fuzz harness: an invalid parameter the parser reports without a
        // position, inside text where no single expression fails alone.
        let engine = Engine::new();
        for t in [
            &"{{x '\u{0}'}}".to_string(),
            &"a\n{{#if a}}{{x '\u{0}'}}{{/if}}".to_string(),
            &"{{#each xs}}\n  {{lookup . '\u{0}'}}{{/each}}".to_string(),
            // An escaped `\{{` before it hid the failing expression from the search.
            &format!(
                "port = {{{{p}}}}\n\\{{{{\n[api]\ntoken = {{{{EN'\u{0}{}V_X}}}}\n",
                "'".repeat(147)
            ),
        ] {
            if let Err(e) = engine.references(Dialect::Handlebars, t) {
                assert!(e.position().is_some(), "{t:?}: {e}");
                assert!(e.to_string().contains("line"), "{t:?}: {e}");
            }
        }
        let last = format!("p\n\\{{{{\nt = {{{{EN'\u{0}{}V_X}}}}\n", "'".repeat(147));
        let e = engine.references(Dialect::Handlebars, &last).unwrap_err();
        assert_eq!(e.position(), Some(TextPosition::new(3, 5)), "{e}");
        assert!(e.to_string().contains("(line 3, column 5)"), "{e}");
        {}
    }

    #[test]
    fn scanning_a_jinja_tag_with_multibyte_text_does_not_panic() {
        // Found by the fuzz harness: the tag scanner sliced the text in the middle of a
        // character after an escaped byte inside a string literal.
        let engine = Engine::new();
        for t in [
            "{{ \"\\é\" }}",
            "{{ 'a\\ü' | upper }}",
            "{% if x == \"ß\\€\" %}y{% endif %}",
            "{{ \"é",
            "{{ é }}",
            "{% set ü = 1 %}{{ ü | string }}",
        ] {
            let _ = engine.unknown_names(Dialect::Jinja, t);
        }
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
        // Jet's isdefined: its argument is a value, missing or not.
        assert!(!e.condition("(isdefined zzz)", &ctx).unwrap());
        assert!(e.condition("(isdefined n)", &ctx).unwrap());
        assert!(e.condition("(isdefined \"zzz\")", &ctx).unwrap());
        assert_eq!(
            e.render(
                "{{isdefined a}} {{isdefined b}} {{#if (isdefined b)}}b{{/if}}",
                &ctx
            )
            .unwrap(),
            "true false "
        );
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
        assert!(e.to_string().ends_with("(line 2, column 3)"), "{e}");
        let e = handlebars_references("{{#if a}}x{{/if}}\n  {{#if (f \"\u{0}b\")}}y{{/if}}")
            .unwrap_err();
        assert!(e.to_string().ends_with("(line 2, column 3)"), "{e}");
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
