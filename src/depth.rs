//! Nesting limits, checked before a recursive parser or renderer sees the input.
//!
//! `serde_yaml_ng`, the Handlebars parser (pest) and renderer, and jetlike's own walks over parsed
//! templates recurse once per nesting level: input nested deeply enough overflows the stack and
//! aborts the process. These checks are linear scans that stop at the first level over the
//! limit and say where it is (1-based line and column).

use yaml_rust2::parser::{Event, Parser};

/// The deepest YAML nesting (sequences and mappings inside each other) jetlike accepts; the
/// same limit `serde_yaml_ng` applies, found here without recursion.
pub const YAML_DEPTH_LIMIT: usize = 128;

/// The deepest Handlebars nesting jetlike accepts: open blocks (`{{#if}}`, `{{#each}}`, ...)
/// plus, inside one `{{ }}`, nested subexpressions `( )` and literals `[ ]` / `{ }`.
pub const HANDLEBARS_DEPTH_LIMIT: usize = 100;

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
/// Long on purpose: one single-pass lexer whose states (quotes, comments, block scalars, flow
/// depth) share one loop; split apart, each piece would pass the whole state around.
// Byte lexer: `b`, `n`, `i`, `q` are the conventional names of its cursor and input.
#[allow(clippy::many_single_char_names)]
fn check_yaml_flow(text: &str) -> Result<(), DepthError> {
    let b = text.as_bytes();
    let n = b.len();
    let blank = |i: usize| i >= n || matches!(b[i], b' ' | b'\t' | b'\n' | b'\r');
    // Skips the quoted scalar opening at `i`; the index after it, or None if unterminated.
    let skip_quoted = |i: usize| -> Option<usize> {
        let q = b[i];
        let mut j = i + 1;
        while j < n {
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
    };
    let eol = |i: usize| text[i..].find('\n').map_or(n, |k| i + k);
    let mut i = 0;
    let mut line_start = true;
    // Indentation of the current line, and of a line whose block scalar is being skipped.
    let mut indent = 0usize;
    let mut block_scalar: Option<usize> = None;
    let mut value_start = true;
    let mut flow = 0usize;
    while i < n {
        if line_start && flow == 0 {
            line_start = false;
            let mut j = i;
            while j < n && b[j] == b' ' {
                j += 1;
            }
            let empty = j >= n || matches!(b[j], b'\n' | b'\r' | b'#');
            if let Some(parent) = block_scalar {
                if empty || j - i > parent {
                    i = eol(j) + 1;
                    line_start = true;
                    continue;
                }
                block_scalar = None;
            }
            indent = j - i;
            i = j;
            value_start = true;
            if b[i..].starts_with(b"---") && blank(i + 3) {
                i += 3;
            }
            continue;
        }
        let c = b[i];
        if c == b'\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if c == b'#' && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n')) {
            i = eol(i);
            continue;
        }
        if flow > 0 {
            match c {
                b'[' | b'{' => {
                    flow += 1;
                    value_start = true;
                    if flow > YAML_DEPTH_LIMIT {
                        return yaml_error(text, i);
                    }
                }
                b']' | b'}' => {
                    flow -= 1;
                    value_start = false;
                }
                b'"' | b'\'' if value_start => match skip_quoted(i) {
                    Some(j) => {
                        i = j;
                        value_start = false;
                        continue;
                    }
                    None => return Ok(()),
                },
                b',' | b':' => value_start = true,
                b' ' | b'\t' | b'\r' => {}
                _ => value_start = false,
            }
            i += 1;
            continue;
        }
        match c {
            b' ' | b'\t' | b'\r' => {}
            b'[' | b'{' if value_start => {
                flow = 1;
            }
            b'"' | b'\'' if value_start => match skip_quoted(i) {
                Some(j) => {
                    i = j;
                    value_start = false;
                    continue;
                }
                None => return Ok(()),
            },
            b'|' | b'>' if value_start => {
                block_scalar = Some(indent);
                i = eol(i);
                continue;
            }
            b'-' | b'?' if value_start && blank(i + 1) => {}
            b':' if blank(i + 1) => value_start = true,
            b'&' | b'!' if value_start => {
                while i < n && !blank(i) {
                    i += 1;
                }
                continue;
            }
            _ => value_start = false,
        }
        i += 1;
    }
    Ok(())
}

/// 1-based line and column (in characters) of byte offset `off` of `text`.
fn line_col(text: &str, off: usize) -> (usize, usize) {
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
/// of more depth, never less.
/// Long on purpose: one single-pass lexer (comments, raw blocks, escapes, literals, block
/// depth share one loop and its state).
pub fn check_handlebars(text: &str) -> Result<(), DepthError> {
    let b = text.as_bytes();
    let err = |off: usize| {
        let (line, column) = line_col(text, off);
        Err(DepthError {
            what: "Handlebars blocks and subexpressions",
            limit: HANDLEBARS_DEPTH_LIMIT,
            line,
            column,
        })
    };
    let find = |from: usize, needle: &str| text[from..].find(needle).map(|i| from + i);
    let mut blocks = 0usize;
    let mut i = 0;
    while let Some(open) = find(i, "{{") {
        if open > 0 && b[open - 1] == b'\\' {
            i = open + 2;
            continue;
        }
        let rest = &text[open..];
        if rest.starts_with("{{{{") {
            // A raw block: its body is text up to the closing `{{{{/name}}}}`.
            match find(open + 4, "{{{{/") {
                Some(close) => {
                    i = find(close + 5, "}}}}").map_or(b.len(), |e| e + 4);
                    continue;
                }
                None => return Ok(()),
            }
        }
        let mut j = open + 2;
        while j < b.len() && (b[j] == b'{' || b[j] == b'~' || b[j] == b' ') {
            j += 1;
        }
        if rest.starts_with("{{!--") || rest.starts_with("{{~!--") {
            i = find(j, "--")
                .and_then(|k| find(k, "}}"))
                .map_or(b.len(), |e| e + 2);
            continue;
        }
        if j < b.len() && b[j] == b'!' {
            i = find(j, "}}").map_or(b.len(), |e| e + 2);
            continue;
        }
        match b.get(j) {
            Some(b'#') => {
                blocks += 1;
                if blocks > HANDLEBARS_DEPTH_LIMIT {
                    return err(open);
                }
            }
            Some(b'/') => blocks = blocks.saturating_sub(1),
            _ => {}
        }
        // Inside the mustache: brackets nest, strings are skipped, `}}` ends it.
        let mut brackets = 0usize;
        loop {
            let Some(&c) = b.get(j) else {
                return Ok(()); // unterminated: the parser reports it
            };
            match c {
                b'"' | b'\'' => {
                    j += 1;
                    while j < b.len() && b[j] != c {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                    if j >= b.len() {
                        return Ok(());
                    }
                }
                b'(' | b'[' => {
                    brackets += 1;
                    if blocks + brackets > HANDLEBARS_DEPTH_LIMIT {
                        return err(j);
                    }
                }
                b'{' if brackets > 0 => {
                    brackets += 1;
                    if blocks + brackets > HANDLEBARS_DEPTH_LIMIT {
                        return err(j);
                    }
                }
                b')' | b']' => brackets = brackets.saturating_sub(1),
                b'}' if brackets > 0 && !b[j..].starts_with(b"}}") => {
                    brackets -= 1;
                }
                b'}' if b[j..].starts_with(b"}}") => {
                    if brackets > 0 {
                        brackets -= 1;
                    } else {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        i = j + 2;
    }
    Ok(())
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
