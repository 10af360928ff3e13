//! `jetlike lint`: every check that needs no connection and no secret value, plus a report of
//! where secrets flow (which template gets which ENV_ variable, written where, with what mode),
//! hard-coded secret detection and shell hygiene warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::error::{Diagnostic, Error, Location};
use crate::inventory::Inventory;
use crate::playbook::{FieldStep, LoadedPlay, Mode, Task};
use crate::policy::ENV_PREFIX;
use crate::template::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier, for CI annotations and allowlists.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    pub line: usize,
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateFlow {
    pub task: String,
    pub src: String,
    pub dest: String,
    pub env: Vec<String>,
    pub vars: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Octal, as written or defaulted ("0600 (default for secret-bearing templates)").
    pub mode: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlayFlow {
    pub play: String,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    pub templates: Vec<TemplateFlow>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub flows: Vec<PlayFlow>,
}

impl Report {
    fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        message: String,
        at: Option<Location>,
        hint: Option<String>,
    ) {
        let (file, line, column) = match at {
            Some(l) => (Some(l.file), l.line, l.column),
            None => (None, 0, 0),
        };
        self.findings.push(Finding {
            severity,
            code,
            message,
            file,
            line,
            column,
            hint,
        });
    }
    fn push_diagnostic(&mut self, code: &'static str, d: Diagnostic) {
        let msg = match &d.context {
            Some(c) => format!("{} [{c}]", d.message),
            None => d.message,
        };
        self.push(Severity::Error, code, msg, d.location, d.help);
    }
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }
}

/// A line may silence secret detection with this comment.
pub const ALLOW_COMMENT: &str = "jetlike:allow-secret";

struct Pattern {
    kind: &'static str,
    re: Regex,
}

fn patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        [
            ("private key block", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
            ("AWS access key id", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
            ("GitHub token", r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b"),
            ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
            ("Stripe key", r"\b[sr]k_(live|test)_[A-Za-z0-9]{16,}"),
            ("JSON Web Token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
            (
                "hard-coded credential",
                r#"(?i)\b(pass(word|wd|phrase)?|secret|token|api[_-]?key)\b["']?\s*[:=]\s*["']?([^\s"'{}#][^\s"'#]{3,})"#,
            ),
        ]
        .into_iter()
        .map(|(kind, re)| Pattern { kind, re: Regex::new(re).unwrap() })
        .collect()
    })
}

fn pipe_to_shell() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\b(curl|wget)\b[^|]*\|\s*(sudo\s+)?(ba|z|da)?sh\b").unwrap())
}

fn entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Secret-looking literals in a text file. Never returns the value: at most a 4-char prefix.
pub fn scan_text(path: &Path, text: &str, report: &mut Report) {
    static TOKEN: OnceLock<Regex> = OnceLock::new();
    let token = TOKEN.get_or_init(|| Regex::new(r"[A-Za-z0-9+/]{24,}={0,2}").unwrap());
    for (i, line) in text.lines().enumerate() {
        if line.contains(ALLOW_COMMENT) {
            continue;
        }
        let mut hit = false;
        for p in patterns() {
            if let Some(m) = p.re.find(line) {
                // Templated values and references to variables are not literals.
                let value =
                    p.re.captures(line)
                        .and_then(|c| c.get(3))
                        .map_or(m.as_str(), |v| v.as_str());
                if value.contains("{{") || value.starts_with('$') || value.starts_with(ENV_PREFIX) {
                    continue;
                }
                let prefix: String = value.chars().take(4).collect();
                report.push(
                    Severity::Error,
                    "hardcoded-secret",
                    format!("{} found (starts with {prefix:?}…)", p.kind),
                    Some(Location::new(path, i + 1, m.start() + 1)),
                    Some(format!("move the value to the environment and use it from a template as ENV_NAME; or add `# {ALLOW_COMMENT}` to the line if it is not a secret")),
                );
                hit = true;
                break;
            }
        }
        if hit {
            continue;
        }
        for m in token.find_iter(line) {
            let s = m.as_str();
            let classes = [
                s.bytes().any(|b| b.is_ascii_lowercase()),
                s.bytes().any(|b| b.is_ascii_uppercase()),
                s.bytes().any(|b| b.is_ascii_digit()),
            ];
            if classes.iter().filter(|c| **c).count() >= 3 && entropy(s) > 4.0 {
                let prefix: String = s.chars().take(4).collect();
                report.push(
                    Severity::Warning,
                    "high-entropy-string",
                    format!("high-entropy string, possibly a secret (starts with {prefix:?}…)"),
                    Some(Location::new(path, i + 1, m.start() + 1)),
                    Some(format!("if it is a secret, move it to the environment; otherwise add `# {ALLOW_COMMENT}`")),
                );
                break;
            }
        }
    }
}

fn scan_file(path: &Path, report: &mut Report, seen: &mut BTreeSet<PathBuf>) {
    if !seen.insert(path.to_path_buf()) {
        return;
    }
    if let Ok(bytes) = std::fs::read(path) {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            scan_text(path, text, report);
        }
    }
}

fn mode_text(mode: Option<&Mode>, secret: bool) -> (String, Option<u32>) {
    match mode.map(|m| m.bits()) {
        Some(Ok(b)) => (format!("{b:04o}"), Some(b)),
        Some(Err(e)) => (format!("invalid ({e})"), None),
        None if secret => (
            "0600 (default for secret-bearing templates)".into(),
            Some(0o600),
        ),
        None => ("default (0644 less umask for new files)".into(), None),
    }
}

const WORLD_READABLE_DIRS: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
    "/srv/www/",
    "/var/www/",
    "/usr/share/nginx/html/",
];

/// Lints playbooks (and the inventory if given). Load errors become findings, not failures.
pub fn lint(paths: &[PathBuf], inventory: Option<&Path>) -> Report {
    let mut report = Report::default();
    let engine = Engine::new();
    let mut scanned = BTreeSet::new();
    for p in paths {
        scan_file(p, &mut report, &mut scanned);
    }
    let inv = match inventory.map(Inventory::load) {
        Some(Ok(i)) => Some(i),
        Some(Err(Error::Invalid(ds))) => {
            for d in ds {
                report.push_diagnostic("invalid-inventory", d);
            }
            None
        }
        _ => None,
    };
    if let Some(dir) = inventory {
        for sub in ["group_vars", "host_vars"] {
            if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
                for e in rd.flatten() {
                    scan_file(&e.path(), &mut report, &mut scanned);
                }
            }
        }
    }
    let plays = match crate::playbook::load_playbooks(paths) {
        Ok(p) => p,
        Err(Error::Invalid(ds)) => {
            for d in ds {
                report.push_diagnostic("invalid-playbook", d);
            }
            return report;
        }
        Err(e) => {
            report.push(
                Severity::Error,
                "invalid-playbook",
                e.to_string(),
                None,
                None,
            );
            return report;
        }
    };
    for d in crate::policy::check(&engine, &plays, &[], true) {
        report.push_diagnostic("env-outside-template", d);
    }
    let mut secret_groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for play in &plays {
        lint_play(
            play,
            &engine,
            inv.as_ref(),
            &mut report,
            &mut scanned,
            &mut secret_groups,
        );
    }
    for (var, groups) in secret_groups {
        if groups.len() > 1 {
            report.push(
                Severity::Warning,
                "secret-to-several-groups",
                format!(
                    "{var} is sent to several groups: {}",
                    groups.into_iter().collect::<Vec<_>>().join(", ")
                ),
                None,
                Some("check that every group needs it; prefer one secret per audience".into()),
            );
        }
    }
    report
        .findings
        .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    report
}

fn lint_play(
    play: &LoadedPlay,
    engine: &Engine,
    inv: Option<&Inventory>,
    report: &mut Report,
    scanned: &mut BTreeSet<PathBuf>,
    secret_groups: &mut BTreeMap<String, BTreeSet<String>>,
) {
    use FieldStep::{Index as I, Key as K};
    for f in &play.play.vars_files {
        scan_file(&play.dir.join(f), report, scanned);
    }
    let mut hosts = None;
    if let Some(inv) = inv {
        let mut hs = BTreeSet::new();
        for (gi, g) in play.play.groups.iter().enumerate() {
            if inv.has_group(g) {
                hs.extend(inv.hosts_of(g));
            } else {
                report.push(
                    Severity::Error,
                    "unknown-group",
                    format!(
                        "play {:?} targets group {g:?}, which the inventory does not define",
                        play.play.name
                    ),
                    Some(play.source.locate(&[I(play.index), K("groups"), I(gi)])),
                    Some(format!(
                        "known groups: {}",
                        inv.groups.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                );
            }
        }
        hosts = Some(hs.into_iter().collect::<Vec<_>>());
    }
    // Notifications and subscriptions.
    let subscribed: BTreeSet<&str> = play
        .handlers
        .iter()
        .filter_map(|h| h.task.with().and_then(|w| w.subscribe.as_deref()))
        .collect();
    let mut notified: BTreeSet<&str> = BTreeSet::new();
    for t in play.tasks.iter().chain(play.handlers.iter()) {
        if let Some(n) = t.task.and().and_then(|a| a.notify.as_deref()) {
            notified.insert(n);
            if !subscribed.contains(n) && !n.contains("{{") {
                report.push(
                    Severity::Warning,
                    "notify-without-handler",
                    format!(
                        "task {:?} notifies {n:?}, which no handler subscribes to",
                        t.task.display_name()
                    ),
                    Some(t.field_location(&[K("and"), K("notify")], None)),
                    Some(format!(
                        "add a handler with `with: {{subscribe: {n}}}`, or fix the name"
                    )),
                );
            }
        }
    }
    for h in &play.handlers {
        if let Some(s) = h.task.with().and_then(|w| w.subscribe.as_deref()) {
            if !notified.contains(s) {
                report.push(
                    Severity::Warning,
                    "handler-never-notified",
                    format!("handler {:?} subscribes to {s:?}, which no task notifies", h.task.display_name()),
                    Some(h.field_location(&[K("with"), K("subscribe")], None)),
                    Some(format!("add `and: {{notify: {s}}}` to the task that should trigger it, or remove the handler")),
                );
            }
        }
    }
    let mut flow = PlayFlow {
        play: play.play.name.clone(),
        groups: play.play.groups.clone(),
        hosts,
        templates: vec![],
    };
    let mut secret_dests: Vec<String> = vec![];
    for t in play.tasks.iter().chain(play.handlers.iter()) {
        let role = t.origin.role.as_deref();
        match &t.task {
            Task::Shell(s) => {
                if s.unsafe_ {
                    report.push(Severity::Warning, "shell-unsafe", "`unsafe: true` turns off the screening of substituted values for shell metacharacters".into(), Some(t.field_location(&[K("unsafe")], None)), Some("quote-proof the variables instead, or keep the values under your control".into()));
                }
                if pipe_to_shell().is_match(&s.cmd) {
                    report.push(
                        Severity::Warning,
                        "shell-pipe-to-shell",
                        "downloads a script and runs it unverified (curl ... | sh)".into(),
                        Some(t.field_location(&[K("cmd")], None)),
                        Some(
                            "download to a file, verify a checksum or signature, then run it"
                                .into(),
                        ),
                    );
                }
                if !t.task.sensitive() {
                    for d in &secret_dests {
                        if s.cmd.contains(d.as_str()) {
                            report.push(Severity::Warning, "reads-secret-file", format!("reads {d}, which holds secrets, without `sensitive: true`; a transformed secret (reversed, re-encoded) would escape masking"), Some(t.field_location(&[K("cmd")], None)), Some("add `sensitive: true` to the task".into()));
                        }
                    }
                }
            }
            Task::Copy(f) => {
                if let Ok(p) = crate::prepare::resolve("files", play, role, &f.src) {
                    scan_file(&p, report, scanned);
                } else if !f.src.contains("{{") {
                    report.push(
                        Severity::Error,
                        "missing-file",
                        format!("copy source {:?} not found", f.src),
                        Some(t.field_location(&[K("src")], None)),
                        Some(format!(
                            "searched: {}",
                            crate::prepare::search_paths("files", play, role, &f.src)
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                }
            }
            Task::Template(f) => {
                let path = match crate::prepare::resolve("templates", play, role, &f.src) {
                    Ok(p) => p,
                    Err(tried) => {
                        if !f.src.contains("{{") {
                            report.push(
                                Severity::Error,
                                "missing-template",
                                format!("template source {:?} not found", f.src),
                                Some(t.field_location(&[K("src")], None)),
                                Some(format!(
                                    "searched: {}",
                                    tried
                                        .iter()
                                        .map(|p| p.display().to_string())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )),
                            );
                        }
                        continue;
                    }
                };
                scan_file(&path, report, scanned);
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let dialect = crate::template::Dialect::of_path(&path.to_string_lossy());
                let refs = match engine.references(dialect, &text) {
                    Ok(r) => r,
                    Err(e) => {
                        report.push(
                            Severity::Error,
                            "template-syntax",
                            format!("template syntax error in {}: {e}", path.display()),
                            Some(t.field_location(&[K("src")], None)),
                            None,
                        );
                        continue;
                    }
                };
                let env: BTreeSet<String> = refs
                    .iter()
                    .filter(|r| r.name.starts_with(ENV_PREFIX))
                    .map(|r| r.name.clone())
                    .collect();
                let vars: BTreeSet<String> = refs
                    .iter()
                    .filter(|r| r.top_level && !r.name.starts_with(ENV_PREFIX))
                    .map(|r| r.name.clone())
                    .collect();
                let secret = !env.is_empty();
                let attrs = f.attributes.clone().unwrap_or_default();
                let (mode, bits) = mode_text(attrs.mode.as_ref(), secret);
                if secret {
                    for v in &env {
                        secret_groups
                            .entry(v.clone())
                            .or_default()
                            .extend(play.play.groups.iter().cloned());
                    }
                    secret_dests.push(f.dest.clone());
                    if let Some(b) = bits.filter(|b| b & 0o077 != 0) {
                        report.push(
                            Severity::Warning,
                            "secret-file-readable",
                            format!(
                                "{} receives {} but mode {b:04o} lets group or others read it",
                                f.dest,
                                env.iter().cloned().collect::<Vec<_>>().join(", ")
                            ),
                            Some(t.field_location(&[K("attributes"), K("mode")], None)),
                            Some("use mode 0600 (or 0640 with a dedicated group)".into()),
                        );
                    }
                    if attrs.mode.is_none() {
                        report.push(Severity::Warning, "secret-file-no-mode", format!("{} receives secrets and sets no mode (jetlike defaults it to 0600)", f.dest), Some(t.location()), Some("state the mode explicitly, e.g. attributes: {mode: 0o600}".into()));
                    }
                    if WORLD_READABLE_DIRS.iter().any(|d| f.dest.starts_with(d)) {
                        report.push(
                            Severity::Warning,
                            "secret-in-shared-dir",
                            format!(
                                "{} receives secrets under a world-accessible directory",
                                f.dest
                            ),
                            Some(t.field_location(&[K("dest")], None)),
                            Some(
                                "write secrets under a directory only its consumer can enter"
                                    .into(),
                            ),
                        );
                    }
                }
                flow.templates.push(TemplateFlow {
                    task: t.task.display_name(),
                    src: f.src.clone(),
                    dest: f.dest.clone(),
                    env: env.into_iter().collect(),
                    vars: vars.into_iter().collect(),
                    owner: attrs.owner.clone(),
                    group: attrs.group.clone(),
                    mode,
                });
            }
        }
    }
    report.flows.push(flow);
}

/// The human report.
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
                " ({} host{}: {})",
                h.len(),
                if h.len() == 1 { "" } else { "s" },
                h.join(", ")
            ));
        }
        s.push('\n');
        if p.templates.is_empty() {
            s.push_str("    (no templates)\n");
        }
        for t in &p.templates {
            let env = if t.env.is_empty() {
                "no secrets".to_string()
            } else {
                t.env.join(", ")
            };
            s.push_str(&format!("    {} → {}  [{env}]\n", t.src, t.dest));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<String> {
        let mut r = Report::default();
        scan_text(Path::new("x"), text, &mut r);
        r.findings.iter().map(|f| f.message.clone()).collect()
    }

    #[test]
    fn detects_well_known_tokens_without_printing_them() {
        let cases = [
            "key: AKIAIOSFODNN7EXAMPLE",
            "t: ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "-----BEGIN RSA PRIVATE KEY-----",
            "slack: xoxb-123456789012-abcdefghij",
            "stripe: sk_live_abcdefghijklmnop1234",
            "password: hunter2hunter2",
        ];
        for c in cases {
            let k = kinds(c);
            assert_eq!(k.len(), 1, "{c}: {k:?}");
            assert!(!k[0].contains(&c[c.len() - 8..]), "value printed: {k:?}");
        }
        assert!(kinds("password: \"{{ENV_DB}}\"").is_empty());
        assert!(kinds("password: hunter2hunter2 # jetlike:allow-secret").is_empty());
        assert!(kinds("name: demo-app").is_empty());
        assert_eq!(kinds("x: q8Zr2LmV9pXw4TkB7nYs3HcJ6dFa").len(), 1);
    }
}
