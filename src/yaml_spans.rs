//! A position index over a YAML document, so that problems found after typed deserialization
//! (policy violations, undefined variables) can still name a line and column.
//!
//! serde gives us the typed model but forgets positions; this walks the same text with
//! yaml-rust2's marked events and keeps just enough structure to answer "where is this path?".

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone)]
pub enum Node {
    Scalar {
        line: usize,
        column: usize,
        /// Plain scalars start at the first character of their value; quoted ones one later.
        quoted: bool,
        block: bool,
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

    /// The deepest position known along `path` (1-based line and column).
    pub fn locate(&self, path: &[Step<'_>]) -> (usize, usize) {
        for n in (0..=path.len()).rev() {
            if let Some(node) = self.get(&path[..n]) {
                return node.position();
            }
        }
        self.position()
    }

    /// Position of a byte offset inside the string scalar at `path`, best effort: exact for
    /// single-line scalars, the right line for block scalars.
    pub fn locate_in_string(&self, path: &[Step<'_>], text: &str, offset: usize) -> (usize, usize) {
        match self.get(path) {
            Some(Node::Scalar {
                line,
                column,
                quoted,
                block,
            }) => {
                let before = &text[..offset.min(text.len())];
                let nl = before.matches('\n').count();
                if *block {
                    let col = before.rsplit('\n').next().map_or(0, |s| s.chars().count());
                    (line + 1 + nl, col + 1)
                } else if nl == 0 {
                    (
                        *line,
                        column + usize::from(*quoted) + before.chars().count(),
                    )
                } else {
                    (line + nl, 1)
                }
            }
            _ => self.locate(path),
        }
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
}

enum Frame {
    Seq(Node),
    Map(Node, Option<(String, usize, usize)>),
}

impl Builder {
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
                    quoted: matches!(
                        style,
                        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
                    ),
                    block: matches!(style, TScalarStyle::Literal | TScalarStyle::Folded),
                };
                self.push_value(node, Some(text));
            }
            Event::Alias(_) => self.push_value(
                Node::Scalar {
                    line,
                    column,
                    quoted: false,
                    block: false,
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

/// Index positions of the first document in `text`; `None` if it does not parse (the typed
/// parse reports that error with its own location).
pub fn index(text: &str) -> Option<Node> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut b, false).ok()?;
    b.root
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
        // A missing step falls back to the deepest known node.
        let missing = [Step::Index(0), Step::Key("nope")];
        assert_eq!(idx.locate(&missing), (1, 3));
    }
}
