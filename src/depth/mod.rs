//! Nesting limits, checked before a recursive parser or renderer sees the input.
//!
//! `serde_yaml_ng`, the Handlebars parser (pest) and renderer, minijinja's parser, compiler and
//! tree walks, and jetlike's own walks over parsed templates recurse once per nesting level:
//! input nested deeply enough overflows the stack and aborts the process. These checks are
//! linear scans that stop at the first level over the limit and say where it is (1-based line
//! and column).

use yaml_rust2::parser::{Event, Parser};

mod jinja;

pub use jinja::{check_jinja, JINJA_CHAIN_LIMIT, JINJA_NESTING_LIMIT};

/// The deepest YAML nesting (sequences and mappings inside each other) jetlike accepts; the
/// same limit `serde_yaml_ng` applies, found here without recursion.
pub const YAML_DEPTH_LIMIT: usize = 128;

/// The deepest Handlebars nesting jetlike accepts: open blocks (`{{#if}}`, `{{#each}}`, ...)
/// plus, inside one `{{ }}`, nested subexpressions `( )` and literals `[ ]` / `{ }`.
pub const HANDLEBARS_DEPTH_LIMIT: usize = 100;

/// The most `{{else …}}` branches chained onto the open blocks (3,000 overflowed a 2 MiB
/// stack in a release build).
pub const HANDLEBARS_ELSE_CHAIN_LIMIT: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} nested more than {limit} levels deep (line {line}, column {column})")]
pub struct DepthError {
    pub what: &'static str,
    pub limit: usize,
    pub line: usize,
    pub column: usize,
}

impl DepthError {
    pub fn help(&self) -> String {
        format!(
            "flatten the structure: at most {} levels are accepted, far more than hand-written files need",
            self.limit
        )
    }
}

/// Checks the YAML nesting depth of every document in `text`: first a lexical scan of flow
/// collections (`[`, `{`), then yaml-rust2's event parser (a state machine, not recursive)
/// for the exact depth. The scan comes first because the parser's scanner looks ahead over a
/// whole flow collection that might be a mapping key, which is quadratic in its depth. A
/// syntax error ends the check quietly: the typed parse reports it with its own location.
pub fn check_yaml(text: &str) -> Result<(), DepthError> {
    check_yaml_flow(text)?;
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) | Err(_) => return Ok(()),
            Ok((Event::SequenceStart(..) | Event::MappingStart(..), mark)) => {
                depth += 1;
                if depth > YAML_DEPTH_LIMIT {
                    return Err(DepthError {
                        what: "YAML",
                        limit: YAML_DEPTH_LIMIT,
                        line: mark.line(),
                        column: mark.col() + 1,
                    });
                }
            }
            Ok((Event::SequenceEnd | Event::MappingEnd, _)) => depth = depth.saturating_sub(1),
            Ok(_) => {}
        }
    }
}

fn yaml_error(text: &str, off: usize) -> Result<(), DepthError> {
    let (line, column) = line_col(text, off);
    Err(DepthError {
        what: "YAML",
        limit: YAML_DEPTH_LIMIT,
        line,
        column,
    })
}

/// The lexical scan of [`check_yaml`]: the depth of flow collections alone, which is never more
/// than the document's depth. In block context a `[` or `{` opens a flow collection only where
/// a value starts (after indentation, `- `, `? `, `: `, a tag or an anchor); inside one, every
/// `[`/`{` does. Quoted scalars, comments and block scalars (`|`, `>`) are skipped.
fn check_yaml_flow(text: &str) -> Result<(), DepthError> {
    let mut scan = FlowScan {
        text,
        b: text.as_bytes(),
        i: 0,
        line_start: true,
        indent: 0,
        block_scalar: None,
        value_start: true,
        flow: 0,
    };
    while scan.i < scan.b.len() {
        let step = if scan.line_start && scan.flow == 0 {
            scan.line_begin();
            Step::Next
        } else {
            scan.byte()
        };
        match step {
            Step::Next => {}
            Step::TooDeep => return yaml_error(text, scan.i),
            Step::Unterminated => return Ok(()),
        }
    }
    Ok(())
}

/// What one step of [`FlowScan`] found.
enum Step {
    Next,
    /// A flow collection opened at the cursor is one level too many.
    TooDeep,
    /// A quoted scalar never closes: the typed parse reports it.
    Unterminated,
}

/// The state of [`check_yaml_flow`]'s single pass: the cursor and what it is inside of.
struct FlowScan<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    line_start: bool,
    /// Indentation of the current line.
    indent: usize,
    /// The indentation of the line whose block scalar is being skipped.
    block_scalar: Option<usize>,
    /// At a place where a value may start (a `[`/`{` there opens a collection).
    value_start: bool,
    /// Flow collections open at the cursor.
    flow: usize,
}

impl FlowScan<'_> {
    fn blank(&self, i: usize) -> bool {
        i >= self.b.len() || matches!(self.b[i], b' ' | b'\t' | b'\n' | b'\r')
    }

    /// The end of the line holding `i` (its `\n`, or the end of the text).
    fn eol(&self, i: usize) -> usize {
        self.text[i..].find('\n').map_or(self.b.len(), |k| i + k)
    }

    /// Skips the quoted scalar opening at `i`; the index after it, or None if unterminated.
    fn skip_quoted(&self, i: usize) -> Option<usize> {
        let (b, q) = (self.b, self.b[i]);
        let mut j = i + 1;
        while j < b.len() {
            if q == b'"' && b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b[j] == q {
                if q == b'\'' && b.get(j + 1) == Some(&b'\'') {
                    j += 2;
                    continue;
                }
                return Some(j + 1);
            }
            j += 1;
        }
        None
    }

    /// At the start of a line in block context: measures the indentation, skips the line if
    /// it belongs to a block scalar, and a document marker `---`.
    fn line_begin(&mut self) {
        let (b, i) = (self.b, self.i);
        self.line_start = false;
        let mut j = i;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let empty = j >= b.len() || matches!(b[j], b'\n' | b'\r' | b'#');
        if let Some(parent) = self.block_scalar {
            if empty || j - i > parent {
                self.i = self.eol(j) + 1;
                self.line_start = true;
                return;
            }
            self.block_scalar = None;
        }
        self.indent = j - i;
        self.i = j;
        self.value_start = true;
        if b[j..].starts_with(b"---") && self.blank(j + 3) {
            self.i += 3;
        }
    }

    /// One byte (or a skipped token starting at it) anywhere but a line's start.
    fn byte(&mut self) -> Step {
        let (b, i) = (self.b, self.i);
        let c = b[i];
        if c == b'\n' {
            self.line_start = true;
            self.i += 1;
            return Step::Next;
        }
        if c == b'#' && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n')) {
            self.i = self.eol(i);
            return Step::Next;
        }
        if matches!(c, b'"' | b'\'') && self.value_start {
            return match self.skip_quoted(i) {
                Some(j) => {
                    self.i = j;
                    self.value_start = false;
                    Step::Next
                }
                None => Step::Unterminated,
            };
        }
        if self.flow > 0 {
            self.in_flow(c)
        } else {
            self.in_block(c)
        }
    }

    /// A byte inside a flow collection: every `[`/`{` nests.
    fn in_flow(&mut self, c: u8) -> Step {
        match c {
            b'[' | b'{' => {
                self.flow += 1;
                self.value_start = true;
                if self.flow > YAML_DEPTH_LIMIT {
                    return Step::TooDeep;
                }
            }
            b']' | b'}' => {
                self.flow -= 1;
                self.value_start = false;
            }
            b',' | b':' => self.value_start = true,
            b' ' | b'\t' | b'\r' => {}
            _ => self.value_start = false,
        }
        self.i += 1;
        Step::Next
    }

    /// A byte in block context: a `[`/`{` opens a collection only where a value starts.
    fn in_block(&mut self, c: u8) -> Step {
        let i = self.i;
        match c {
            b' ' | b'\t' | b'\r' => {}
            b'[' | b'{' if self.value_start => self.flow = 1,
            b'|' | b'>' if self.value_start => {
                self.block_scalar = Some(self.indent);
                self.i = self.eol(i);
                return Step::Next;
            }
            b'-' | b'?' if self.value_start && self.blank(i + 1) => {}
            b':' if self.blank(i + 1) => self.value_start = true,
            b'&' | b'!' if self.value_start => {
                while self.i < self.b.len() && !self.blank(self.i) {
                    self.i += 1;
                }
                return Step::Next;
            }
            _ => self.value_start = false,
        }
        self.i += 1;
        Step::Next
    }
}

/// 1-based line and column (in characters) of byte offset `off` of `text`.
pub(crate) fn line_col(text: &str, off: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..off];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, col)
}

/// Checks the nesting depth of a Handlebars template: open blocks plus brackets inside the
/// current `{{ }}`. Comments (`{{! }}`, `{{!-- --}}`), raw blocks (`{{{{raw}}}}`), escaped
/// `\{{` and string literals are skipped as the parser skips them. The count errs on the side
/// of more depth, never less. `{{else if …}}` branches, each nested in the one before, are
/// counted apart against [`HANDLEBARS_ELSE_CHAIN_LIMIT`].
pub fn check_handlebars(text: &str) -> Result<(), DepthError> {
    let scan = HbScan {
        text,
        b: text.as_bytes(),
    };
    let mut blocks = OpenBlocks::default();
    let mut i = 0;
    while let Some(open) = scan.find(i, "{{") {
        if open > 0 && scan.b[open - 1] == b'\\' {
            i = open + 2;
            continue;
        }
        let skipped = match scan.skip_raw_or_comment(open) {
            Skip::To(next) => Some(next),
            Skip::Rest => return Ok(()),
            Skip::No => None,
        };
        if let Some(next) = skipped {
            i = next;
            continue;
        }
        let j = scan.after_open(open);
        let too_deep = match scan.b.get(j) {
            Some(b'#') => (blocks.open() > HANDLEBARS_DEPTH_LIMIT).then(|| scan.error(open)),
            Some(b'/') => {
                blocks.close();
                None
            }
            // `{{else if b}}` nests an `if` in the block's else branch, closed by its `{{/if}}`.
            Some(b'e') if scan.else_chain(j) => (blocks.chain() > HANDLEBARS_ELSE_CHAIN_LIMIT)
                .then(|| DepthError {
                    what: "Handlebars `{{else …}}` branches (each nests in the one before)",
                    limit: HANDLEBARS_ELSE_CHAIN_LIMIT,
                    ..scan.error(open)
                }),
            _ => None,
        };
        if let Some(e) = too_deep {
            return Err(e);
        }
        match scan.mustache(j, blocks.len())? {
            Some(close) => i = close + 2,
            None => return Ok(()), // unterminated: the parser reports it
        }
    }
    Ok(())
}

/// The blocks open at a point of a template, with the branches chained onto each: Jinja's
/// `{% elif %}` and Handlebars' `{{else if}}` each nest inside the branch before them, and
/// all close with the block.
#[derive(Default)]
struct OpenBlocks {
    chains: Vec<usize>,
    chained: usize,
}

impl OpenBlocks {
    fn len(&self) -> usize {
        self.chains.len()
    }

    /// Opens a block; the number now open.
    fn open(&mut self) -> usize {
        self.chains.push(0);
        self.chains.len()
    }

    /// Chains a branch onto the innermost block; the branches now chained in all open blocks.
    fn chain(&mut self) -> usize {
        if let Some(top) = self.chains.last_mut() {
            *top += 1;
            self.chained += 1;
        }
        self.chained
    }

    fn close(&mut self) {
        self.chained -= self.chains.pop().unwrap_or(0);
    }
}

/// What [`HbScan::skip_raw_or_comment`] found at a `{{`.
enum Skip {
    /// A raw block or comment, ending before this offset.
    To(usize),
    /// A raw block that never closes: the rest is text.
    Rest,
    /// An expression or block tag.
    No,
}

/// [`check_handlebars`]'s view of the text, with one method per kind of token.
struct HbScan<'a> {
    text: &'a str,
    b: &'a [u8],
}

impl HbScan<'_> {
    fn find(&self, from: usize, needle: &str) -> Option<usize> {
        self.text[from..].find(needle).map(|i| from + i)
    }

    fn error(&self, off: usize) -> DepthError {
        let (line, column) = line_col(self.text, off);
        DepthError {
            what: "Handlebars blocks and subexpressions",
            limit: HANDLEBARS_DEPTH_LIMIT,
            line,
            column,
        }
    }

    /// Whether a name follows `j` (after spaces), not the end of the mustache.
    fn names_something(&self, j: usize) -> bool {
        let rest = &self.b[j.min(self.b.len())..];
        let spaces = rest.iter().take_while(|c| c.is_ascii_whitespace()).count();
        rest.get(spaces).is_some_and(|&c| !matches!(c, b'}' | b'~'))
    }

    /// Whether the mustache at `j` is `else` followed by a helper (`{{else if b}}`).
    fn else_chain(&self, j: usize) -> bool {
        self.b[j..].starts_with(b"else")
            && self.b.get(j + 4).is_some_and(u8::is_ascii_whitespace)
            && self.names_something(j + 4)
    }

    /// The offset after `{{` and any further `{`, `~` and spaces.
    fn after_open(&self, open: usize) -> usize {
        let mut j = open + 2;
        while j < self.b.len() && matches!(self.b[j], b'{' | b'~' | b' ') {
            j += 1;
        }
        j
    }

    /// A raw block's body is text up to the closing `{{{{/name}}}}`; comments are text.
    fn skip_raw_or_comment(&self, open: usize) -> Skip {
        let (rest, end) = (&self.text[open..], self.b.len());
        if rest.starts_with("{{{{") {
            return match self.find(open + 4, "{{{{/") {
                Some(close) => Skip::To(self.find(close + 5, "}}}}").map_or(end, |e| e + 4)),
                None => Skip::Rest,
            };
        }
        let j = self.after_open(open);
        if rest.starts_with("{{!--") || rest.starts_with("{{~!--") {
            return Skip::To(
                self.find(j, "--")
                    .and_then(|k| self.find(k, "}}"))
                    .map_or(end, |e| e + 2),
            );
        }
        if j < end && self.b[j] == b'!' {
            return Skip::To(self.find(j, "}}").map_or(end, |e| e + 2));
        }
        Skip::No
    }

    /// Inside one `{{ }}` from `j`, with `blocks` open: brackets nest, strings are skipped.
    /// The offset of the closing `}}`, or None when the text ends first.
    fn mustache(&self, mut j: usize, blocks: usize) -> Result<Option<usize>, DepthError> {
        let b = self.b;
        let mut brackets = 0usize;
        loop {
            let Some(&c) = b.get(j) else {
                return Ok(None);
            };
            let closing = b[j..].starts_with(b"}}");
            match c {
                b'"' | b'\'' => {
                    j += 1;
                    while j < b.len() && b[j] != c {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                    if j >= b.len() {
                        return Ok(None);
                    }
                }
                b'(' | b'[' => brackets += 1,
                b'{' if brackets > 0 => brackets += 1,
                b')' | b']' => brackets = brackets.saturating_sub(1),
                b'}' if brackets > 0 => brackets -= 1,
                b'}' if closing => return Ok(Some(j)),
                _ => {}
            }
            if matches!(c, b'(' | b'[' | b'{') && blocks + brackets > HANDLEBARS_DEPTH_LIMIT {
                return Err(self.error(j));
            }
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_subexpr(n: usize) -> String {
        format!(
            "{{{{{}to_upper_case 'x'{}}}}}",
            "to_upper_case (".repeat(n),
            ")".repeat(n)
        )
    }

    #[test]
    fn handlebars_subexpressions() {
        assert!(check_handlebars(&nested_subexpr(HANDLEBARS_DEPTH_LIMIT)).is_ok());
        let e = check_handlebars(&format!("a\nb {}", nested_subexpr(5000))).unwrap_err();
        assert_eq!(e.line, 2);
        // "b {{" is 4 columns; the k-th `(` closes the k-th "to_upper_case (" (15 columns).
        assert_eq!(e.column, 4 + 15 * (HANDLEBARS_DEPTH_LIMIT + 1));
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn handlebars_blocks_comments_raw_and_strings() {
        let n = HANDLEBARS_DEPTH_LIMIT;
        let ok = format!("{}x{}", "{{#if a}}".repeat(n), "{{/if}}".repeat(n));
        assert!(check_handlebars(&ok).is_ok());
        // Sequential blocks do not add up.
        assert!(check_handlebars(&ok.repeat(3)).is_ok());
        let deep = format!("{}x", "{{~#each a}}".repeat(n + 1));
        assert!(check_handlebars(&deep).is_err());
        // Brackets in comments, raw blocks, strings and escaped mustaches are text.
        let p = "(".repeat(500);
        for t in [
            format!("{{{{!-- {p} --}}}}"),
            format!("{{{{! {p} }}}}"),
            format!("{{{{{{{{raw}}}}}}}} {{{{x {p} }}}} {{{{{{{{/raw}}}}}}}}"),
            format!("{{{{x \"{p}\"}}}}"),
            format!("\\{{{{x {p}}}}}"),
            format!("plain {p} text"),
        ] {
            assert!(check_handlebars(&t).is_ok(), "{t}");
        }
    }

    #[test]
    fn handlebars_else_chains_nest_inside_their_block() {
        let chain = |n: usize| format!("{{{{#if a}}}}x{}{{{{/if}}}}", "{{else if a}}x".repeat(n));
        assert!(check_handlebars(&chain(HANDLEBARS_ELSE_CHAIN_LIMIT)).is_ok());
        assert!(check_handlebars(&chain(HANDLEBARS_ELSE_CHAIN_LIMIT).repeat(3)).is_ok());
        let e = check_handlebars(&format!("\n{}", chain(3000))).unwrap_err();
        assert_eq!((e.limit, e.line), (HANDLEBARS_ELSE_CHAIN_LIMIT, 2));
        assert!(e.to_string().contains("else"), "{e}");
        // A plain `{{else}}`, `{{^}}` or a helper named `elsewhere` chains nothing.
        let plain = format!(
            "{{{{#if a}}}}{}{{{{/if}}}}",
            "{{else}}{{^}}{{elsewhere a}}".repeat(3000)
        );
        assert!(check_handlebars(&plain).is_ok());
    }

    #[test]
    fn yaml_depth() {
        let n = YAML_DEPTH_LIMIT;
        let ok = format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(check_yaml(&ok).is_ok());
        // 127 flow levels pass the flow scan; with the two mappings around them they are 129.
        let deep = format!("a:\n  b: {}1{}", "[".repeat(n - 1), "]".repeat(n - 1));
        let e = check_yaml(&deep).unwrap_err();
        // The mapping at line 1 and `b`'s value are 2 levels: the 127th `[` is one too many.
        assert_eq!((e.line, e.column), (2, 6 + n - 2));
        let block: String = (0..=n).map(|i| " ".repeat(i) + "k:\n").collect();
        assert!(check_yaml(&block).is_err());
        assert!(
            check_yaml("a: [1, 2\n").is_ok(),
            "syntax errors are left to serde"
        );
    }

    #[test]
    fn yaml_flow_scan() {
        let n = YAML_DEPTH_LIMIT;
        let deep = |open: &str| format!("x: {}1\n", open.repeat(n + 1));
        for open in ["[", "{a: ", "[ ", "{\"k\": ", "[!t ", "[&a "] {
            let e = check_yaml_flow(&deep(open)).unwrap_err();
            assert_eq!(e.line, 1, "{open}");
            assert_eq!(e.column, 4 + open.len() * n, "{open}");
        }
        assert!(check_yaml_flow(&format!("- - {}", "[".repeat(n + 1))).is_err());
        assert!(check_yaml_flow(&format!("--- {}", "[".repeat(n + 1))).is_err());
        // Brackets that open nothing: inside plain scalars, quotes, comments, block scalars.
        let p = "[".repeat(n + 1);
        for t in [
            format!("cmd: echo {p}\n"),
            format!("cmd: \"{p}\"\n"),
            format!("cmd: '{p}'\n"),
            format!("cmd: \"a\n  {p}\"\n"),
            format!("# {p}\n"),
            format!("a: 1 # {p}\n"),
            format!("a: |\n  {p}\n\n  {p}\nb: 1\n"),
            format!("- >-\n    {p}\n"),
            format!("a: [\"{p}\", '{p}', [\"{p}\"]]\n"),
        ] {
            assert!(check_yaml_flow(&t).is_ok(), "{t}");
        }
        // After a block scalar ends, flow collections count again.
        assert!(check_yaml_flow(&format!("a: |\n  x\nb: {p}\n")).is_err());
    }
}
