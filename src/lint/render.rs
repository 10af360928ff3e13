//! The human form of a lint report: findings (compiler style, with a hint line), then the
//! secret flow per play, then the counts.

use super::{Report, Severity};

pub fn render_human(r: &Report) -> String {
    let mut s = String::new();
    for f in &r.findings {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let at = match &f.file {
            Some(p) if f.line > 0 => format!("{}:{}:{}: ", p.display(), f.line, f.column),
            Some(p) => format!("{}: ", p.display()),
            None => String::new(),
        };
        s.push_str(&format!("{at}{sev}[{}]: {}\n", f.code, f.message));
        if let Some(h) = &f.hint {
            s.push_str(&format!("    hint: {h}\n"));
        }
    }
    s.push_str("\nSecret flow\n");
    for p in &r.flows {
        s.push_str(&format!(
            "  play {:?} → groups {}",
            p.play,
            p.groups.join(", ")
        ));
        if let Some(h) = &p.hosts {
            s.push_str(&format!(
                " ({} host{}{}{})",
                h.len(),
                if h.len() == 1 { "" } else { "s" },
                if h.is_empty() { "" } else { ": " },
                h.join(", ")
            ));
        }
        s.push('\n');
        if p.templates.is_empty() {
            s.push_str("    (no templates)\n");
        }
        for t in &p.templates {
            let env = if t.not_loaded {
                "template not loaded: secrets unknown".to_string()
            } else if t.env.is_empty() {
                "no secrets".to_string()
            } else {
                t.env.join(", ")
            };
            let resolved = if t.resolved_dest.is_empty() {
                String::new()
            } else {
                let parts: Vec<String> = t
                    .resolved_dest
                    .iter()
                    .map(|d| match &d.hosts {
                        Some(h) => format!("{} on {}", d.path, h.join(", ")),
                        None => d.path.clone(),
                    })
                    .collect();
                format!(" = {}", parts.join("; "))
            };
            s.push_str(&format!("    {} → {}{resolved}  [{env}]\n", t.src, t.dest));
            s.push_str(&format!(
                "      owner {}, group {}, mode {}; other vars: {}\n",
                t.owner.as_deref().unwrap_or("(unchanged)"),
                t.group.as_deref().unwrap_or("(unchanged)"),
                t.mode,
                if t.vars.is_empty() {
                    "none".to_string()
                } else {
                    t.vars.join(", ")
                }
            ));
        }
    }
    s.push_str(&format!(
        "\n{} error(s), {} warning(s)\n",
        r.errors(),
        r.warnings()
    ));
    s
}
