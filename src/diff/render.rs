//! Unified-diff text for people: hunks, attribute header lines, hole notes, and control
//! characters made visible so that old content cannot drive the terminal.

use super::FileDiff;

/// Control characters made visible, so that old content cannot move the cursor, rewrite the
/// line or reorder text on a terminal.
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
            '\u{7f}' => '\u{2421}',
            '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

impl FileDiff {
    fn attribute_lines(&self) -> Vec<String> {
        self.attribute_changes
            .iter()
            .map(|a| match &a.old {
                Some(o) => format!("{} {} -> {}", a.attribute, visible(o), visible(&a.new)),
                None => format!("{} {}", a.attribute, visible(&a.new)),
            })
            .collect()
    }

    /// Unified-diff text for people.
    pub fn render(&self, created: bool) -> String {
        let attrs = self.attribute_lines();
        let path = visible(&self.path);
        if let Some(s) = &self.summary {
            let mut out = format!("~ {path}: {s}\n");
            for a in attrs {
                out.push_str(&a);
                out.push('\n');
            }
            return out;
        }
        if self.hunks.is_empty() && !attrs.is_empty() {
            return format!("~ {path}: {}\n", attrs.join(", "));
        }
        let from = if created {
            "/dev/null".to_string()
        } else {
            format!("a{path}")
        };
        let mut out = format!("--- {from}\n+++ b{path}\n");
        for a in attrs {
            out.push_str(&a);
            out.push('\n');
        }
        for h in &self.hunks {
            out.push_str(&format!(
                "@@ -{},{} +{},{} @@\n",
                h.old_start, h.old_len, h.new_start, h.new_len
            ));
            for l in &h.lines {
                out.push_str(l.op);
                out.push_str(&visible(&l.text));
                if l.cr {
                    out.push('\u{240d}');
                }
                if !l.holes.is_empty() {
                    let notes: Vec<String> = l
                        .holes
                        .iter()
                        .map(|h| format!("{}: {}", h.var, h.state.label()))
                        .collect();
                    out.push_str(&format!("   ({})", notes.join(", ")));
                }
                out.push('\n');
                if l.no_newline_at_eof {
                    out.push_str("\\ No newline at end of file\n");
                }
            }
        }
        out
    }
}
