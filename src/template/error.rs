//! The template engine's errors, typed: callers (lint, the pre-run checks, the modules) read
//! the kind and the position from fields instead of parsing them back out of a message. The
//! engines' own errors (Handlebars, minijinja) are translated here, once, at the boundary;
//! the text shown to people is unchanged from what the engines' messages were before.

use std::fmt;

use crate::depth::DepthError;

/// Where in the template text a problem is: 1-based line, and column when the engine gives
/// one (minijinja gives only lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPosition {
    pub line: usize,
    pub column: Option<usize>,
}

impl TextPosition {
    pub const fn new(line: usize, column: usize) -> Self {
        TextPosition {
            line,
            column: Some(column),
        }
    }
}

/// Shown after a message: ` (line L, column C)` or ` (line L)`; nothing when unknown.
struct Suffix<'a>(&'a Option<TextPosition>);

impl fmt::Display for Suffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(TextPosition {
                line,
                column: Some(c),
            }) => write!(f, " (line {line}, column {c})"),
            Some(TextPosition { line, column: None }) => write!(f, " (line {line})"),
            None => Ok(()),
        }
    }
}

/// `: expected {alternatives}` when the parser listed what it could have accepted.
struct Expected<'a>(&'a Option<String>);

impl fmt::Display for Expected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(alternatives) => write!(f, ": expected {alternatives}"),
            None => Ok(()),
        }
    }
}

/// What a render failed on, as far as the engine says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderFailure {
    /// A variable the context does not hold (both engines are strict).
    UndefinedVariable,
    /// A helper (Handlebars), filter, test or function (Jinja) the engine does not provide.
    UnknownName,
    /// Anything else: a helper's own error, a type error, ...
    Other,
}

/// Why a template could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Nested deeper than the recursive parser and renderer accept (see [`crate::depth`]).
    #[error(transparent)]
    TooDeep(#[from] DepthError),
    /// The text does not parse.
    #[error("{message}{}{}", Expected(expected), Suffix(at))]
    Syntax {
        /// The engine's message, without the alternatives and the position.
        message: String,
        /// What the parser could have accepted instead, as it listed it (`a, b, or c`).
        expected: Option<String>,
        at: Option<TextPosition>,
    },
    /// The text parses, but rendering it with these values failed.
    #[error("{message}{}", Suffix(at))]
    Render {
        failure: RenderFailure,
        message: String,
        at: Option<TextPosition>,
    },
    /// [`super::Engine::render_shell`] refused a substituted value.
    #[error("a variable substituted into this command contains shell metacharacters (; | & $ ` quotes, ...); quote-proof the value or set `unsafe: true` on the task")]
    ShellMetacharacters,
}

/// Callers that still carry errors as text (`Result<_, String>`) take a template error with `?`.
impl From<TemplateError> for String {
    fn from(e: TemplateError) -> String {
        e.to_string()
    }
}

impl TemplateError {
    /// A syntax error; `message` is split where it lists the parser's alternatives.
    pub fn syntax(message: &str, at: Option<TextPosition>) -> Self {
        let (message, expected) = match message.split_once(": expected ") {
            Some((head, alternatives)) => (head.to_string(), Some(alternatives.to_string())),
            None => (message.to_string(), None),
        };
        TemplateError::Syntax {
            message,
            expected,
            at,
        }
    }

    /// The message without the position.
    pub fn message(&self) -> String {
        match self {
            TemplateError::TooDeep(d) => {
                format!("{} nested more than {} levels deep", d.what, d.limit)
            }
            TemplateError::Syntax {
                message, expected, ..
            } => format!("{message}{}", Expected(expected)),
            TemplateError::Render { message, .. } => message.clone(),
            TemplateError::ShellMetacharacters => self.to_string(),
        }
    }

    /// Where in the text, when known.
    pub fn position(&self) -> Option<TextPosition> {
        match self {
            TemplateError::TooDeep(d) => Some(TextPosition::new(d.line, d.column)),
            TemplateError::Syntax { at, .. } | TemplateError::Render { at, .. } => *at,
            TemplateError::ShellMetacharacters => None,
        }
    }

    /// A Handlebars render error, without the template source the engine's full message
    /// quotes (it could hold values).
    pub(super) fn handlebars(e: &handlebars::RenderError) -> Self {
        use handlebars::RenderErrorReason as R;
        let at = match (e.line_no, e.column_no) {
            (Some(l), Some(c)) => Some(TextPosition::new(l, c)),
            _ => None,
        };
        let message = e.reason().to_string();
        let failure = match e.reason() {
            R::TemplateError(_) => return TemplateError::syntax(&message, at),
            R::MissingVariable(_) => RenderFailure::UndefinedVariable,
            R::HelperNotFound(_) | R::DecoratorNotFound(_) => RenderFailure::UnknownName,
            _ => RenderFailure::Other,
        };
        TemplateError::Render {
            failure,
            message,
            at,
        }
    }

    /// A minijinja error: `kind: detail`, at a line.
    pub(super) fn jinja(e: &minijinja::Error) -> Self {
        use minijinja::ErrorKind as K;
        let mut message = e.kind().to_string();
        if e.kind() == K::OutOfFuel {
            message = format!(
                "the template ran past its budget of {} instructions (a loop that does not end, or nested too many times?)",
                super::JINJA_FUEL
            );
        }
        if let Some(d) = e.detail() {
            message.push_str(": ");
            message.push_str(d);
        }
        let at = e.line().map(|line| TextPosition { line, column: None });
        let failure = match e.kind() {
            K::SyntaxError => return TemplateError::syntax(&message, at),
            K::UndefinedError => RenderFailure::UndefinedVariable,
            K::UnknownFilter | K::UnknownTest | K::UnknownFunction | K::UnknownMethod => {
                RenderFailure::UnknownName
            }
            _ => RenderFailure::Other,
        };
        TemplateError::Render {
            failure,
            message,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_and_join_back() {
        let e = TemplateError::syntax(
            "invalid handlebars syntax: expected a, b, or c",
            Some(TextPosition::new(2, 5)),
        );
        assert_eq!(
            e.to_string(),
            "invalid handlebars syntax: expected a, b, or c (line 2, column 5)"
        );
        assert!(
            matches!(&e, TemplateError::Syntax { message, expected: Some(x), .. }
                if message == "invalid handlebars syntax" && x == "a, b, or c")
        );
        assert_eq!(
            e.message(),
            "invalid handlebars syntax: expected a, b, or c"
        );
        let e = TemplateError::syntax(
            "bad",
            Some(TextPosition {
                line: 3,
                column: None,
            }),
        );
        assert_eq!(e.to_string(), "bad (line 3)");
        assert_eq!(e.position().map(|p| p.line), Some(3));
        let deep = TemplateError::from(
            crate::depth::check_handlebars(&"{{#if a}}".repeat(200)).unwrap_err(),
        );
        assert_eq!(
            deep.to_string(),
            format!("{} (line 1, column {})", deep.message(), 100 * 9 + 1)
        );
    }

    #[test]
    fn engine_errors_are_classified() {
        let engine = super::super::Engine::new();
        let ctx = serde_json::json!({});
        let e = engine.render("{{nope}}", &ctx).unwrap_err();
        assert!(
            matches!(
                e,
                TemplateError::Render {
                    failure: RenderFailure::UndefinedVariable,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = engine.render("{{#if}}", &ctx).unwrap_err();
        assert!(matches!(e, TemplateError::Syntax { .. }), "{e:?}");
        let e = engine
            .render_file(super::super::Dialect::Jinja, "{{ x | nosuch }}", &ctx)
            .unwrap_err();
        assert!(
            matches!(
                e,
                TemplateError::Render {
                    failure: RenderFailure::UnknownName,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = engine
            .render_shell("echo {{x}}", &serde_json::json!({"x": "a;b"}), false)
            .unwrap_err();
        assert_eq!(e, TemplateError::ShellMetacharacters);
    }
}
