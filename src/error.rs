//! Typed errors, with source locations, rendered for people only at the edge (`main`).

use std::fmt;
use std::path::{Path, PathBuf};

/// Where something is in a source file. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// What may be shown of a value that could be a secret: at most `min(4, len/2)` characters, and
/// nothing at all for values shorter than 8 characters (their "prefix" would be most of them).
pub fn value_prefix(value: &str) -> Option<String> {
    let n = value.chars().count();
    if n < 8 {
        return None;
    }
    Some(value.chars().take((n / 2).min(4)).collect())
}

/// Rewrites a serde/YAML error message so that it quotes no scalar value beyond
/// [`value_prefix`]: `invalid type: string "hunter2hunter2"` becomes `string "hunt…"`.
pub fn sanitize_value_message(msg: &str) -> String {
    use std::sync::OnceLock;
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r#"(string|character|bytes|integer|floating point|unit variant|newtype variant) ("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"#,
        )
        .unwrap()
    });
    re.replace_all(msg, |c: &regex::Captures<'_>| {
        let kind = &c[1];
        let quoted = &c[2];
        let q = &quoted[..1];
        let inner = &quoted[1..quoted.len() - 1];
        match value_prefix(inner) {
            Some(p) => format!("{kind} {q}{p}…{q}"),
            None => format!("{kind} (value not shown)"),
        }
    })
    .into_owned()
}

/// What kind of problem a [`Diagnostic`] reports, for callers that classify problems (`jetlike
/// lint` turns each into a finding code) without reading the message text, which is free to
/// change wording.
///
/// An enum rather than `&'static str` constants: the checks that create diagnostics (policy,
/// preflight) sit below `lint` and cannot import its rule table, and an enum lets the compiler
/// check every use; [`DiagnosticCode::as_str`] gives the stable finding code, and a test in
/// `lint/rules.rs` checks that each one has a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiagnosticCode {
    /// A template or templated field does not parse, or names an unknown helper/filter/test.
    TemplateSyntax,
    /// A template includes, extends or imports another file.
    TemplateInclude,
    /// A template source cannot be found or read.
    MissingTemplate,
    /// A copy source cannot be found or read.
    MissingFile,
    /// A copy or template source under /proc, /sys or /dev.
    ForbiddenSource,
    /// A variable no layer defines.
    UndefinedVariable,
    /// An `ENV_` variable, a `{{secret}}` call or a computed lookup outside a template file.
    EnvOutsideTemplate,
    /// A variable named `ENV_*`.
    EnvReservedName,
}

impl DiagnosticCode {
    /// Every code, for tests that check them against the lint rule table.
    pub const ALL: &'static [DiagnosticCode] = &[
        DiagnosticCode::TemplateSyntax,
        DiagnosticCode::TemplateInclude,
        DiagnosticCode::MissingTemplate,
        DiagnosticCode::MissingFile,
        DiagnosticCode::ForbiddenSource,
        DiagnosticCode::UndefinedVariable,
        DiagnosticCode::EnvOutsideTemplate,
        DiagnosticCode::EnvReservedName,
    ];

    /// The stable finding code (`jetlike lint`, SARIF rule id).
    pub const fn as_str(self) -> &'static str {
        match self {
            DiagnosticCode::TemplateSyntax => "template-syntax",
            DiagnosticCode::TemplateInclude => "template-include",
            DiagnosticCode::MissingTemplate => "missing-template",
            DiagnosticCode::MissingFile => "missing-file",
            DiagnosticCode::ForbiddenSource => "forbidden-source",
            DiagnosticCode::UndefinedVariable => "undefined-variable",
            DiagnosticCode::EnvOutsideTemplate => "env-outside-template",
            DiagnosticCode::EnvReservedName => "env-reserved-name",
        }
    }
}

/// One problem found in the user's input: what, where, and how to fix it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Diagnostic {
    /// What kind of problem this is, when the creator classified it (not serialized: the
    /// serialized form predates it and stays as it was).
    #[serde(skip)]
    pub code: Option<DiagnosticCode>,
    pub message: String,
    pub location: Option<Location>,
    /// Context such as `play "web", task "render config" (template), field dest`.
    pub context: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            code: None,
            message: message.into(),
            location: None,
            context: None,
            help: None,
        }
    }
    /// Classifies the problem (see [`DiagnosticCode`]).
    #[must_use]
    pub fn code(mut self, code: DiagnosticCode) -> Self {
        self.code = Some(code);
        self
    }
    #[must_use]
    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }
    #[must_use]
    pub fn in_file(mut self, file: &Path) -> Self {
        if self.location.is_none() {
            self.location = Some(Location::new(file, 0, 0));
        }
        self
    }
    #[must_use]
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders as a compiler-style message, with the offending source line when it can be read.
    pub fn render(&self) -> String {
        let mut s = format!("error: {}\n", self.message);
        if let Some(loc) = &self.location {
            if loc.line > 0 {
                s.push_str(&format!("  --> {loc}\n"));
                if let Ok(text) = crate::input_file::read_text(&loc.file) {
                    if let Some(src) = text.lines().nth(loc.line - 1) {
                        let (src, column) = source_window(src, loc.column);
                        let gutter = loc.line.to_string();
                        let pad = " ".repeat(gutter.len());
                        s.push_str(&format!("{pad} |\n{gutter} | {src}\n"));
                        if column > 0 {
                            s.push_str(&format!("{pad} | {}^\n", " ".repeat(column - 1)));
                        }
                    }
                }
            } else {
                s.push_str(&format!("  --> {}\n", loc.file.display()));
            }
        }
        if let Some(c) = &self.context {
            s.push_str(&format!("  = in: {c}\n"));
        }
        if let Some(h) = &self.help {
            s.push_str(&format!("  = help: {h}\n"));
        }
        s
    }
}

/// The longest source line quoted whole under an error; longer lines are cut to a window of
/// this many characters around the column.
const SOURCE_WINDOW: usize = 120;

/// `line` as quoted under an error, with the 1-based `column` moved to match: a line longer
/// than [`SOURCE_WINDOW`] characters (a minified or hostile file) is cut around the column,
/// with `…` marking each cut.
fn source_window(line: &str, column: usize) -> (String, usize) {
    let n = line.chars().count();
    if n <= SOURCE_WINDOW {
        return (line.to_string(), column);
    }
    let at = column.saturating_sub(1).min(n);
    let start = at.saturating_sub(SOURCE_WINDOW / 2);
    let end = (start + SOURCE_WINDOW).min(n);
    let mut out = String::new();
    let mut col = column.saturating_sub(start);
    if start > 0 {
        out.push('…');
        col += 1;
    }
    out.extend(line.chars().skip(start).take(end - start));
    if end < n {
        out.push('…');
    }
    (out, if column == 0 { 0 } else { col })
}

/// Defined here rather than in `input_file.rs` so that the bounded reader, which this file
/// uses to show source lines, imports nothing from the crate.
impl crate::input_file::InputError {
    /// The error as a diagnostic located at the file.
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic::new(self.to_string())
            .at(Some(Location::new(self.path(), 0, 0)))
            .help(self.help())
    }
}

#[cfg(test)]
mod window_tests {
    use super::source_window;

    #[test]
    fn long_lines_are_cut_around_the_column() {
        assert_eq!(source_window("abc", 2), ("abc".to_string(), 2));
        let line: String = (0..1000)
            .map(|i| if i == 500 { 'X' } else { 'a' })
            .collect();
        let (w, col) = source_window(&line, 501);
        assert_eq!(w.chars().nth(col - 1), Some('X'));
        assert!(w.starts_with('…') && w.ends_with('…'));
        assert!(w.chars().count() <= 122);
        let (w, col) = source_window(&line, 1);
        assert_eq!((col, w.chars().next()), (1, Some('a')));
    }
}

use crate::exit_code::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line; exit 2.
    #[error("{0}")]
    Usage(String),
    /// Invalid playbook, inventory, template or policy violation: nothing was run; exit 3.
    #[error("{} problem(s) found", .0.len())]
    Invalid(Vec<Diagnostic>),
    /// Something broke while running (I/O on the controller, runtime); exit 1.
    #[error("{0}")]
    Runtime(String),
}

impl Error {
    pub fn invalid(d: Diagnostic) -> Self {
        Error::Invalid(vec![d])
    }
    /// How the process ends on this error: the contract of README.md and `--help`.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::Usage,
            Error::Invalid(_) => ExitCode::Invalid,
            Error::Runtime(_) => ExitCode::TaskFailed,
        }
    }
    pub fn render(&self) -> String {
        match self {
            Error::Usage(m) => format!("error: {m}\n  = help: run `jetlike --help` for usage\n"),
            Error::Invalid(ds) => {
                let mut s = String::new();
                for d in ds {
                    s.push_str(&d.render());
                }
                if ds.len() > 1 {
                    s.push_str(&format!(
                        "error: {} problems found; nothing was run\n",
                        ds.len()
                    ));
                } else {
                    s.push_str("nothing was run\n");
                }
                s
            }
            Error::Runtime(m) => format!("error: {m}\n"),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
