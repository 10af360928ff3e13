//! A position index over a YAML document, so that problems found after typed deserialization
//! (policy violations, undefined variables) can still name a line and column.
//!
//! serde gives us the typed model but forgets positions; this walks the same text with
//! yaml-rust2's marked events and keeps just enough structure to answer "where is this path?".

use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// How a scalar is written, which decides how its value maps back to source characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` and `>` block scalars.
    Block,
}

/// The document text, shared by every scalar of one index (not printed by `Debug`).
#[derive(Clone)]
pub struct Doc(Arc<str>);

impl std::fmt::Debug for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Doc({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone)]
pub enum Node {
    Scalar {
        line: usize,
        column: usize,
        style: Style,
        /// Byte offset of the scalar's start mark in `doc` (the opening quote of a quoted
        /// scalar, the first content character of a block scalar).
        start: usize,
        doc: Doc,
    },
    Seq {
        line: usize,
        column: usize,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        column: usize,
        entries: Vec<(String, usize, usize, Node)>,
    },
}

/// A step in a path: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl Node {
    pub fn position(&self) -> (usize, usize) {
        match self {
            Node::Scalar { line, column, .. }
            | Node::Seq { line, column, .. }
            | Node::Map { line, column, .. } => (*line, *column),
        }
    }

    pub fn get(&self, path: &[Step<'_>]) -> Option<&Node> {
        let mut node = self;
        for step in path {
            node = match (node, step) {
                (Node::Seq { items, .. }, Step::Index(i)) => items.get(*i)?,
                (Node::Map { entries, .. }, Step::Key(k)) => {
                    &entries.iter().find(|(key, ..)| key == k)?.3
                }
                _ => return None,
            };
        }
        Some(node)
    }

    /// Position of the key `key` in the mapping at `path`.
    pub fn key_position(&self, path: &[Step<'_>], key: &str) -> Option<(usize, usize)> {
        match self.get(path)? {
            Node::Map { entries, .. } => entries
                .iter()
                .find(|(k, ..)| k == key)
                .map(|(_, l, c, _)| (*l, *c)),
            _ => None,
        }
    }

    /// The deepest position known along `path` (1-based line and column).
    pub fn locate(&self, path: &[Step<'_>]) -> (usize, usize) {
        for n in (0..=path.len()).rev() {
            if let Some(node) = self.get(&path[..n]) {
                return node.position();
            }
        }
        self.position()
    }

    /// The source text of the plain (unquoted) scalar at `path`, as written: `644` vs `0o644`
    /// for a value that serde has already turned into a number. `None` for other styles.
    pub fn plain_source(&self, path: &[Step<'_>]) -> Option<&str> {
        match self.get(path)? {
            Node::Scalar {
                style: Style::Plain,
                start,
                doc,
                ..
            } => {
                let rest = &doc.0[*start..];
                let end = rest
                    .find(['\n', '\r', ',', '}', ']', '#'])
                    .unwrap_or(rest.len());
                Some(rest[..end].trim_end())
            }
            _ => None,
        }
    }

    /// Position of byte `offset` of `text`, the (decoded) value of the string scalar at
    /// `path`: the scalar's source is walked character by character, undoing quoting, escapes,
    /// block indentation and line folding, so the position is exact in every scalar style.
    /// If the source does not decode to `text`, falls back to the scalar's start.
    pub fn locate_in_string(&self, path: &[Step<'_>], text: &str, offset: usize) -> (usize, usize) {
        match self.get(path) {
            Some(Node::Scalar {
                line,
                column,
                style,
                start,
                doc,
            }) => {
                let index = text[..floor_char_boundary(text, offset)].chars().count();
                match align(&doc.0[*start..], (*line, *column), *style, text) {
                    Some(positions) => positions[index.min(positions.len() - 1)],
                    None => (*line, *column),
                }
            }
            _ => self.locate(path),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The source position of every character of `value` (plus one past the end), walking the
/// scalar's source `src` from its start mark at `pos`. `None` when the source does not decode
/// to `value` (then the caller falls back to the start).
fn align(src: &str, pos: (usize, usize), style: Style, value: &str) -> Option<Vec<(usize, usize)>> {
    let mut cur = Cursor {
        chars: src.chars().collect(),
        i: 0,
        line: pos.0,
        col: pos.1,
    };
    match style {
        Style::SingleQuoted | Style::DoubleQuoted => cur.advance(),
        // Should the mark sit on the `|`/`>` indicator, content starts on the next line.
        Style::Block if matches!(cur.chars.first(), Some('|' | '>')) => {
            while cur.i < cur.chars.len() && cur.chars[cur.i] != '\n' {
                cur.advance();
            }
        }
        _ => {}
    }
    let mut out = Vec::with_capacity(value.len() + 1);
    for v in value.chars() {
        out.push(cur.next_char(style, v)?);
    }
    out.push(cur.at());
    Some(out)
}

fn yaml_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// A walk over a scalar's source characters, keeping the source position.
struct Cursor {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
}

impl Cursor {
    fn at(&self) -> (usize, usize) {
        (self.line, self.col)
    }

    fn advance(&mut self) {
        if self.chars[self.i] == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        self.i += 1;
    }

    fn skip_blanks(&mut self) {
        while self.i < self.chars.len() && yaml_blank(self.chars[self.i]) {
            self.advance();
        }
    }

    /// Walks the source up to and past the value character `v`; where `v` is. `None` when
    /// the source does not decode to it.
    fn next_char(&mut self, style: Style, v: char) -> Option<(usize, usize)> {
        loop {
            let c = *self.chars.get(self.i)?;
            let at = self.at();
            if style == Style::DoubleQuoted && c == '\\' {
                let n = *self.chars.get(self.i + 1)?;
                if n == '\n' || n == '\r' {
                    // An escaped line break: no character, leading blanks of the next line go.
                    self.advance();
                    self.skip_blanks();
                    continue;
                }
                let (len, decoded) = self.escape(n)?;
                if decoded != v {
                    return None;
                }
                for _ in 0..len {
                    self.advance();
                }
                return Some(at);
            }
            if style == Style::SingleQuoted
                && c == '\''
                && self.chars.get(self.i + 1) == Some(&'\'')
            {
                if v != '\'' {
                    return None;
                }
                self.advance();
                self.advance();
                return Some(at);
            }
            if c == v {
                self.advance();
                return Some(at);
            }
            match (yaml_blank(v), yaml_blank(c)) {
                // Line folding, indentation: source blanks that are no value character.
                (false, true) => self.advance(),
                // A folded line break: the value's blank stands for source blanks.
                (true, true) => {
                    self.skip_blanks();
                    return Some(at);
                }
                (true, false) => return Some(at),
                (false, false) => return None,
            }
        }
    }

    /// The double-quoted escape `\n...` at the cursor: its length in the source and the
    /// character it stands for.
    fn escape(&self, n: char) -> Option<(usize, char)> {
        /// Single-character escapes and what they decode to; any other character stands for
        /// itself.
        const SIMPLE: &[(char, char)] = &[
            ('0', '\0'),
            ('a', '\x07'),
            ('b', '\x08'),
            ('t', '\t'),
            ('\t', '\t'),
            ('n', '\n'),
            ('v', '\x0b'),
            ('f', '\x0c'),
            ('r', '\r'),
            ('e', '\x1b'),
            ('N', '\u{85}'),
            ('_', '\u{a0}'),
            ('L', '\u{2028}'),
            ('P', '\u{2029}'),
        ];
        let digits = match n {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => {
                let decoded = SIMPLE.iter().find(|(e, _)| *e == n).map_or(n, |(_, d)| *d);
                return Some((2, decoded));
            }
        };
        let hex: String = self
            .chars
            .get(self.i + 2..self.i + 2 + digits)?
            .iter()
            .collect();
        Some((
            2 + digits,
            char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?,
        ))
    }
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    doc: Doc,
    /// Byte offset of the start of each line (0-based line numbers).
    line_starts: Vec<usize>,
}

enum Frame {
    Seq(Node),
    Map(Node, Option<(String, usize, usize)>),
}

impl Builder {
    /// Byte offset of a 1-based line and column (in characters).
    fn offset(&self, line: usize, column: usize) -> usize {
        let Some(&ls) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.doc.0.len();
        };
        self.doc.0[ls..]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(self.doc.0.len(), |(b, _)| ls + b)
    }

    fn push_value(&mut self, node: Node, key_text: Option<String>) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(Node::Seq { items, .. })) => items.push(node),
            Some(Frame::Map(
                Node::Map {
                    entries,
                    line,
                    column,
                },
                pending,
            )) => match pending.take() {
                None => {
                    let (l, c) = node.position();
                    // yaml-rust2 marks a block mapping's start after its first key: use the
                    // first key's position instead.
                    if entries.is_empty() {
                        (*line, *column) = (l, c);
                    }
                    *pending = Some((key_text.unwrap_or_default(), l, c));
                }
                Some((k, l, c)) => entries.push((k, l, c, node)),
            },
            Some(_) => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let (line, column) = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(text, style, _, _) => {
                let node = Node::Scalar {
                    line,
                    column,
                    style: match style {
                        TScalarStyle::SingleQuoted => Style::SingleQuoted,
                        TScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                        TScalarStyle::Literal | TScalarStyle::Folded => Style::Block,
                        TScalarStyle::Plain => Style::Plain,
                    },
                    start: self.offset(line, column),
                    doc: self.doc.clone(),
                };
                self.push_value(node, Some(text));
            }
            Event::Alias(_) => self.push_value(
                Node::Scalar {
                    line,
                    column,
                    style: Style::Plain,
                    start: self.offset(line, column),
                    doc: self.doc.clone(),
                },
                None,
            ),
            Event::SequenceStart(..) => self.stack.push(Frame::Seq(Node::Seq {
                line,
                column,
                items: vec![],
            })),
            Event::MappingStart(..) => self.stack.push(Frame::Map(
                Node::Map {
                    line,
                    column,
                    entries: vec![],
                },
                None,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(Frame::Seq(n) | Frame::Map(n, _)) = self.stack.pop() {
                    self.push_value(n, None);
                }
            }
            _ => {}
        }
    }
}

/// Parses `text` into the position tree (the first document), or yaml-rust2's scan error.
fn parse(text: &str) -> Result<Option<Node>, yaml_rust2::ScanError> {
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let mut b = Builder {
        stack: vec![],
        root: None,
        doc: Doc(Arc::from(text)),
        line_starts,
    };
    Parser::new_from_str(text).load(&mut b, false)?;
    Ok(b.root)
}

/// Index positions of the first document in `text`; `None` if it does not parse (the typed
/// parse reports that error with its own location).
pub fn index(text: &str) -> Option<Node> {
    parse(text).ok().flatten()
}

/// What kind of problem [`problems`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlProblemKind {
    /// A key repeated in one mapping.
    DuplicateKey,
    /// A quoted scalar the scanner could not finish: unclosed, or badly indented.
    QuotedScalar,
    /// Any other scanner error (serde locates those as well).
    Syntax,
}

/// A problem of a YAML text, 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    pub kind: YamlProblemKind,
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// Problems of a YAML text that serde reports badly or not at all: a key repeated in one
/// mapping (reported at the repeated key; serde keeps the last value silently), and scanner
/// errors at yaml-rust2's position (an unclosed quote where it opens, not at end of file).
pub fn problems(text: &str) -> Vec<YamlProblem> {
    let root = match parse(text) {
        Ok(root) => root,
        Err(e) => {
            let m = e.marker();
            // yaml-rust2 says what it was scanning only in its message.
            let kind = if e.info().contains("quoted scalar") {
                YamlProblemKind::QuotedScalar
            } else {
                YamlProblemKind::Syntax
            };
            return vec![YamlProblem {
                kind,
                message: e.info().to_string(),
                line: m.line(),
                column: m.col() + 1,
            }];
        }
    };
    let mut out = vec![];
    if let Some(root) = &root {
        duplicates(root, &mut out);
    }
    out
}

fn duplicates(node: &Node, out: &mut Vec<YamlProblem>) {
    match node {
        Node::Map { entries, .. } => {
            let mut seen = std::collections::HashSet::new();
            for (key, line, column, value) in entries {
                if !seen.insert(key.as_str()) {
                    out.push(YamlProblem {
                        kind: YamlProblemKind::DuplicateKey,
                        message: format!(
                            "duplicate key `{key}`: a key may appear once in a mapping"
                        ),
                        line: *line,
                        column: *column,
                    });
                }
                duplicates(value, out);
            }
        }
        Node::Seq { items, .. } => items.iter().for_each(|n| duplicates(n, out)),
        Node::Scalar { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_keys_values_and_items() {
        let text = "- name: x\n  tasks:\n    - !shell\n      cmd: echo\n      x: 'q'\n";
        let idx = index(text).unwrap();
        let task = [Step::Index(0), Step::Key("tasks"), Step::Index(0)];
        assert_eq!(idx.locate(&task), (4, 7));
        let cmd = [
            Step::Index(0),
            Step::Key("tasks"),
            Step::Index(0),
            Step::Key("cmd"),
        ];
        assert_eq!(idx.locate(&cmd), (4, 12));
        let x = [
            Step::Index(0),
            Step::Key("tasks"),
            Step::Index(0),
            Step::Key("x"),
        ];
        assert_eq!(idx.locate_in_string(&x, "q", 0), (5, 11));
        assert_eq!(idx.locate_in_string(&x, "q", 1), (5, 12));
        // A missing step falls back to the deepest known node.
        let missing = [Step::Index(0), Step::Key("nope")];
        assert_eq!(idx.locate(&missing), (1, 3));
    }

    /// The 1-based line and column of the first `{{` inside the value at key `k` of `text`.
    fn find(text: &str, k: &str) -> (usize, usize) {
        let idx = index(text).unwrap();
        let value: serde_json::Value = serde_yaml_ng::from_str(text).unwrap();
        let v = value[k].as_str().unwrap();
        idx.locate_in_string(&[Step::Key(k)], v, v.find("{{").unwrap())
    }

    #[test]
    fn positions_inside_every_scalar_style() {
        // Literal block: the content's own line and column, indentation included.
        let t = "k: |\n    echo one\n    echo {{X}}\n";
        assert_eq!(find(t, "k"), (3, 10));
        let t = "k: |\n    echo one\n      {{#if x}}y{{/if}} {{X}}\n";
        assert_eq!(find(t, "k"), (3, 7));
        // Leading blank line, explicit indentation and chomping indicators.
        let t = "k: |2-\n\n    a {{X}}\n";
        assert_eq!(find(t, "k"), (3, 7));
        let t = "k: >+\n  folded line\n  text {{X}}\n";
        assert_eq!(find(t, "k"), (3, 8));
        // Multi-line plain scalar.
        let t = "k: plain first\n   second {{X}}\n";
        assert_eq!(find(t, "k"), (2, 11));
        // Quoted scalars with escapes: columns follow the source, not the value.
        let t = "k: 'it''s ''q'' {{X}}'\n";
        assert_eq!(find(t, "k"), (1, 17));
        let t = "k: \"a\\t\\u00fc \\\"x\\\" {{X}}\"\n";
        assert_eq!(find(t, "k"), (1, 21));
        let t = "k: \"one \\\n   two {{X}}\"\n";
        assert_eq!(find(t, "k"), (2, 8));
        let t = "k: \"ü€😀 {{X}}\"\n";
        assert_eq!(find(t, "k"), (1, 9));
    }

    #[test]
    fn positions_of_keys() {
        let idx = index("a: 1\nb: |\n  x\n").unwrap();
        assert_eq!(idx.key_position(&[], "b"), Some((2, 1)));
        assert_eq!(idx.key_position(&[], "nope"), None);
    }

    #[test]
    fn duplicate_keys_and_unclosed_quotes_are_located() {
        let p = problems("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n");
        let at: Vec<(usize, usize)> = p.iter().map(|p| (p.line, p.column)).collect();
        assert_eq!(at, [(4, 3), (5, 1)], "{p:?}");
        assert_eq!(p[0].kind, YamlProblemKind::DuplicateKey);
        assert!(p[0].message.contains("duplicate key `c`"));
        let p = problems("x: 1\ny: \"open\nz: 2\n");
        assert_eq!((p[0].line, p[0].column), (2, 4), "{p:?}");
        assert_eq!(p[0].kind, YamlProblemKind::QuotedScalar);
        assert!(problems("a: [1, 2]\nb: {c: 1}\n").is_empty());
    }
}
