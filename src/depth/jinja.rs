//! How deep a Jinja template's trees get, found before minijinja parses it.
//!
//! minijinja's parser guards its own recursion (150 levels), but a debug build overflows a
//! 2 MiB thread stack well before that on nested brackets, and chains the parser builds in a
//! loop (`x|f|f|…`, `a ~ a ~ …`, `x.a.a…`, `not not …`, `{% elif %}` after `{% elif %}`) are
//! not guarded at all: their tree is as deep as the chain is long, and compiling or walking it
//! overflows the stack of a release build too (100,000 links in 8 MiB). This scan follows
//! minijinja's lexer — comments and raw blocks are text, a tag ends only outside brackets,
//! strings are skipped — and bounds both.

use super::{line_col, DepthError, OpenBlocks};

/// The deepest nesting of open blocks (`{% if %}`, `{% for %}`, ...) plus brackets `( [ {`
/// inside one tag: each level is a descent through every precedence layer of the parser.
pub const JINJA_NESTING_LIMIT: usize = 64;

/// The most operators on one path through an expression's tree: counted from the start of
/// the tag, or from the last `,`, `:` or `=` of the enclosing bracket (where a sibling
/// starts). Filters, tests, attributes, calls, subscripts and every arithmetic, comparison
/// and logical operator count; the count errs on the side of more, never less.
pub const JINJA_CHAIN_LIMIT: usize = 500;

/// Words that are operators in a Jinja expression.
const WORD_OPERATORS: &[&[u8]] = &[b"and", b"or", b"not", b"in", b"is", b"if", b"else"];

/// Tags that open a block closed by `{% end<name> %}`.
const BLOCK_TAGS: &[&[u8]] = &[
    b"for",
    b"if",
    b"macro",
    b"call",
    b"filter",
    b"with",
    b"autoescape",
    b"block",
];

/// Checks the nesting of blocks and brackets and the length of operator chains in `text`.
/// Malformed input (an unterminated tag, string or raw block) ends the check quietly: the
/// parser reports it with its own location.
pub fn check_jinja(text: &str) -> Result<(), DepthError> {
    let scan = Scan {
        text,
        b: text.as_bytes(),
    };
    let mut blocks = OpenBlocks::default();
    let mut i = 0;
    while let Some(rel) = memchr::memchr(b'{', &scan.b[i..]) {
        let open = i + rel;
        let next = match scan.b.get(open + 1) {
            Some(b'#') => scan.find(open + 2, b"#}").map(|e| e + 2),
            Some(b'{') => scan.tag(open + 2, b"}}", blocks.len())?.map(|t| t.end),
            Some(b'%') => match scan.basic_tag(open + 2, b"raw") {
                Some(body) => scan.after_raw(body),
                None => scan.statement(open, &mut blocks)?,
            },
            _ => Some(open + 1),
        };
        let Some(next) = next else {
            return Ok(());
        };
        i = next;
    }
    Ok(())
}

/// One tag as the scan saw it.
struct Tag {
    /// The offset after its closing `}}` or `%}`.
    end: usize,
    /// Its first word (empty if it starts with something else).
    first_word: std::ops::Range<usize>,
    /// Whether it has an `=` outside brackets (`{% set x = … %}` is not a block).
    assigns: bool,
}

/// [`check_jinja`]'s view of the text, with one method per kind of token.
struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
}

impl Scan<'_> {
    fn find(&self, from: usize, needle: &[u8]) -> Option<usize> {
        memchr::memmem::find(&self.b[from..], needle).map(|i| from + i)
    }

    fn error(&self, off: usize, what: &'static str, limit: usize) -> DepthError {
        let (line, column) = line_col(self.text, off);
        DepthError {
            what,
            limit,
            line,
            column,
        }
    }

    /// A `{% %}` tag at `open`: opens or closes a block, adds an `elif` to one, or neither.
    fn statement(&self, open: usize, blocks: &mut OpenBlocks) -> Result<Option<usize>, DepthError> {
        let Some(tag) = self.tag(open + 2, b"%}", blocks.len())? else {
            return Ok(None);
        };
        let word = &self.b[tag.first_word];
        let set_block = word == b"set" && !tag.assigns;
        if BLOCK_TAGS.contains(&word) || set_block {
            if blocks.open() > JINJA_NESTING_LIMIT {
                return Err(self.error(open, "Jinja blocks and brackets", JINJA_NESTING_LIMIT));
            }
        } else if word == b"elif" {
            if blocks.chain() > JINJA_CHAIN_LIMIT {
                let what = "Jinja `elif` branches (each nests in the one before)";
                return Err(self.error(open, what, JINJA_CHAIN_LIMIT));
            }
        } else if word.starts_with(b"end") {
            blocks.close();
        }
        Ok(Some(tag.end))
    }

    /// minijinja's test for a tag made of one word (`raw`, `endraw`): from `j` (after `{%`),
    /// an optional `-`/`+`, spaces, the word, spaces, an optional `-`/`+`,
    /// `%}`. The offset after it.
    fn basic_tag(&self, mut j: usize, word: &[u8]) -> Option<usize> {
        let b = self.b;
        if matches!(b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        j = self.skip_spaces(j);
        if !b[j..].starts_with(word) {
            return None;
        }
        j = self.skip_spaces(j + word.len());
        if matches!(b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        b[j..].starts_with(b"%}").then_some(j + 2)
    }

    fn skip_spaces(&self, mut j: usize) -> usize {
        while self.b.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        j
    }

    /// A raw block's body is text up to the first `{% endraw %}`.
    fn after_raw(&self, mut j: usize) -> Option<usize> {
        loop {
            let start = self.find(j, b"{%")? + 2;
            if let Some(end) = self.basic_tag(start, b"endraw") {
                return Some(end);
            }
            j = start;
        }
    }

    /// Inside one tag from `j` (after its `{{` or `{%`), with `blocks` open: the tag, or None
    /// when the text ends first.
    fn tag(&self, mut j: usize, close: &[u8], blocks: usize) -> Result<Option<Tag>, DepthError> {
        let b = self.b;
        if matches!(b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let mut first_word = 0..0;
        let mut first_token = true;
        let mut assigns = false;
        // minijinja ends a tag only where its brackets balance (the count may go negative).
        let mut balance = 0isize;
        // The chain length where each open bracket began.
        let mut bases: Vec<usize> = Vec::new();
        let mut chain = 0usize;
        loop {
            let Some(&c) = b.get(j) else {
                return Ok(None);
            };
            if balance == 0 {
                let ws = usize::from(matches!(c, b'-' | b'+'));
                if b[j + ws..].starts_with(close) {
                    let end = j + ws + close.len();
                    return Ok(Some(Tag {
                        end,
                        first_word,
                        assigns,
                    }));
                }
            }
            let mut len = 1;
            match c {
                b'"' | b'\'' => match self.after_string(j) {
                    Some(end) => len = end - j,
                    None => return Ok(None),
                },
                b'(' | b'[' | b'{' => {
                    balance += 1;
                    chain += 1;
                    bases.push(chain);
                    if blocks + bases.len() > JINJA_NESTING_LIMIT {
                        let what = "Jinja blocks and brackets";
                        return Err(self.error(j, what, JINJA_NESTING_LIMIT));
                    }
                }
                b')' | b']' | b'}' => {
                    balance -= 1;
                    if let Some(base) = bases.pop() {
                        chain = base;
                    }
                }
                b',' | b':' => chain = bases.last().copied().unwrap_or(0),
                b'=' if b.get(j + 1) != Some(&b'=') => {
                    assigns |= bases.is_empty();
                    chain = bases.last().copied().unwrap_or(0);
                }
                b'=' | b'!' | b'<' | b'>' | b'*' | b'/' | b'+' | b'-' | b'%' | b'~' | b'|'
                | b'.' => {
                    chain += 1;
                    let pair = b.get(j..j + 2);
                    let two = matches!(pair, Some(b"==" | b"!=" | b"<=" | b">=" | b"**" | b"//"));
                    len = 1 + usize::from(two);
                }
                c if is_word_byte(c) => {
                    len = b[j..].iter().take_while(|&&c| is_word_byte(c)).count();
                    if first_token {
                        first_word = j..j + len;
                    }
                    if WORD_OPERATORS.contains(&&b[j..j + len]) {
                        chain += 1;
                    }
                }
                _ => {}
            }
            first_token &= c.is_ascii_whitespace();
            if chain > JINJA_CHAIN_LIMIT {
                let what = "Jinja operator chains (filters, attributes, calls, arithmetic)";
                return Err(self.error(j, what, JINJA_CHAIN_LIMIT));
            }
            j += len;
        }
    }

    /// The offset after the string literal opening at `j`, or None if it never closes.
    fn after_string(&self, j: usize) -> Option<usize> {
        let (b, quote) = (self.b, self.b[j]);
        let mut k = j + 1;
        while k < b.len() {
            match b[k] {
                b'\\' => k += 2,
                c if c == quote => return Some(k + 1),
                _ => k += 1,
            }
        }
        None
    }
}

/// Identifier and number bytes (non-ASCII included: minijinja's identifiers are Unicode).
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str) -> Option<(&'static str, usize, usize)> {
        check_jinja(text).err().map(|e| (e.what, e.line, e.column))
    }

    #[test]
    fn ordinary_templates_pass() {
        for ok in [
            "plain text { not a tag } {{ x }}",
            "{{ a | default('x') | upper | replace('a', 'b') | trim }}",
            "{% for k, v in d | dictsort %}{{ k }}={{ v }}{% endfor %}",
            "{{ {'a': {'b': [1, 2, {'c': 3}]}} }}",
            "{% set ns = namespace(n=0) %}{% set ns.n = ns.n + 1 %}{{ ns.n }}",
            "{% raw %}{{ ((((( }}{% endraw %}",
            "{# {{ ((((((( #}{{ x }}",
        ] {
            assert_eq!(check_jinja(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn long_chains_are_refused_where_they_pass_the_limit() {
        for link in [
            "|abs",
            " ~ x",
            ".a",
            "[0]",
            "()",
            " and x",
            " is defined",
            " + x",
        ] {
            let fine = format!("{{{{ x{} }}}}", link.repeat(JINJA_CHAIN_LIMIT / 2));
            assert_eq!(check_jinja(&fine), Ok(()), "{link}");
            let long = format!(
                "line one\n{{{{ x{} }}}}",
                link.repeat(JINJA_CHAIN_LIMIT + 1)
            );
            let (what, line, _) = depth_error(&long).unwrap_or_else(|| panic!("{link}"));
            assert!(what.contains("chains"), "{what}");
            assert_eq!(line, 2);
        }
        let nots = format!("{{{{ {}x }}}}", "not ".repeat(JINJA_CHAIN_LIMIT + 1));
        assert!(depth_error(&nots).is_some());
    }

    #[test]
    fn siblings_do_not_add_up() {
        let items = vec!["x.a.b|upper"; 2 * JINJA_CHAIN_LIMIT].join(", ");
        assert_eq!(check_jinja(&format!("{{{{ f({items}) }}}}")), Ok(()));
        assert_eq!(check_jinja(&format!("{{{{ [{items}] }}}}")), Ok(()));
        let pairs = vec!["'k': v.a"; 2 * JINJA_CHAIN_LIMIT].join(", ");
        assert_eq!(check_jinja(&format!("{{{{ {{{pairs}}} }}}}")), Ok(()));
    }

    #[test]
    fn blocks_and_brackets_nest_together() {
        let brackets = |n: usize| format!("{}x{}", "f(".repeat(n), ")".repeat(n));
        let fine = format!("{{{{ {} }}}}", brackets(JINJA_NESTING_LIMIT));
        assert_eq!(check_jinja(&fine), Ok(()));
        let deep = format!("{{{{ {} }}}}", brackets(JINJA_NESTING_LIMIT + 1));
        assert_eq!(
            depth_error(&deep).map(|e| e.0),
            Some("Jinja blocks and brackets")
        );
        let ifs = |n: usize| format!("{}x{}", "{% if a %}".repeat(n), "{% endif %}".repeat(n));
        assert_eq!(check_jinja(&ifs(JINJA_NESTING_LIMIT)), Ok(()));
        assert!(depth_error(&ifs(JINJA_NESTING_LIMIT + 1)).is_some());
        let half = JINJA_NESTING_LIMIT / 2;
        let both = format!(
            "{}{{{{ {} }}}}",
            "{% for a in b %}".repeat(half),
            brackets(half + 1)
        );
        assert!(depth_error(&both).is_some());
        // Closed blocks and `{% set x = … %}` leave no block open.
        let flat = "{% if a %}{% endif %}{% set x = 1 %}".repeat(10 * JINJA_NESTING_LIMIT);
        assert_eq!(check_jinja(&flat), Ok(()));
    }

    #[test]
    fn elif_branches_chain_inside_their_block() {
        let chain = |n: usize| format!("{{% if a %}}x{}{{% endif %}}", "{% elif a %}x".repeat(n));
        assert_eq!(check_jinja(&chain(JINJA_CHAIN_LIMIT)), Ok(()));
        assert_eq!(check_jinja(&chain(JINJA_CHAIN_LIMIT).repeat(3)), Ok(()));
        let (what, ..) = depth_error(&chain(JINJA_CHAIN_LIMIT + 1)).unwrap();
        assert!(what.contains("elif"), "{what}");
        // Branches of the blocks still open add up: 251 in the outer block, 250 in the inner.
        let half = chain(JINJA_CHAIN_LIMIT / 2);
        let unclosed = &half[..half.len() - "{% endif %}".len()];
        assert!(depth_error(&format!("{unclosed}{{% elif b %}}x{unclosed}")).is_some());
        assert_eq!(
            check_jinja(&format!("{unclosed}{half}{{% elif b %}}x")),
            Ok(())
        );
    }

    #[test]
    fn a_tag_ends_only_where_its_brackets_balance() {
        // minijinja reads on past `}}` while a bracket is open: so does the scan.
        let hidden = format!("{{{{ ( }} x{} ) }}}}", "|abs".repeat(JINJA_CHAIN_LIMIT + 1));
        assert!(depth_error(&hidden).is_some());
        // Inside strings, comments and raw blocks nothing counts.
        let quoted = format!("{{{{ '{}' }}}}", "|abs".repeat(JINJA_CHAIN_LIMIT + 1));
        assert_eq!(check_jinja(&quoted), Ok(()));
        let raw = format!(
            "{{%- raw +%}}{{{{ x{} }}}}{{% endraw %}}",
            "|a".repeat(1000)
        );
        assert_eq!(check_jinja(&raw), Ok(()));
    }
}
