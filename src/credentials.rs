//! One credential detector, at two strengths, for everything that must recognise a secret
//! written as text:
//! - [`scan_line`] (lint): precise, located findings of hard-coded secrets (well-known token
//!   formats, credential assignments, credentials in URLs, bearer tokens, credential flags,
//!   high-entropy strings), each with what of it may be shown ([`value_prefix`] at most);
//! - [`credential_lines`] (diffs): fail closed: everything [`scan_line`] finds, whatever an
//!   allow comment says, plus broader key names, looser token formats, long base64/hex runs,
//!   password-shaped words and every line of a private key block. A diff hides such a line
//!   when it cannot know which secret it holds (an old value on the target, a plain copy).

use std::sync::OnceLock;

use regex::Regex;

use crate::env_name::ENV_PREFIX;
use crate::error::value_prefix;

/// A line may silence secret detection with this comment.
pub const ALLOW_COMMENT: &str = "jetlike:allow-secret";

/// A secret-looking literal: what it looks like, where it starts (byte offset in the line)
/// and what of it may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHit {
    pub code: &'static str,
    pub kind: String,
    pub start: usize,
    /// Where the secret value itself starts (after a credential's key).
    pub value_start: usize,
    pub end: usize,
    pub prefix: Option<String>,
}

struct Pattern {
    kind: &'static str,
    re: Regex,
    /// Whether the start of the match may be shown (a format marker such as `AKIA`).
    show_prefix: bool,
}

fn token_patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        [
            (
                "private key block",
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
                false,
            ),
            ("AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", true),
            (
                "GitHub token",
                r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b",
                true,
            ),
            ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", true),
            (
                "Slack webhook URL",
                r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}",
                false,
            ),
            (
                "Stripe key",
                r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
                true,
            ),
            ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b", true),
            (
                "JSON Web Token",
                r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
                true,
            ),
        ]
        .into_iter()
        .map(|(kind, re, show_prefix)| Pattern {
            kind,
            re: Regex::new(re).unwrap(),
            show_prefix,
        })
        .collect()
    })
}

/// `key: value` / `key=value` where the key names a credential: `password`, `db_password`,
/// `PGPASSWORD`, `client_secret`, `aws_secret_access_key`, `api-key`, `private_key`...
fn credential_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?i)(?P<key>[a-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?key|client[_-]?key|signing[_-]?key|encryption[_-]?key)(?:[_.-][a-z0-9_.-]*)?)(?:["']?[ \t]*=|["'][ \t]*:|:[ \t])[ \t]*(?P<val>"[^"]*"?|'[^']*'?|[^\s"'`#,;&|)}\]]+)"#,
        )
        .unwrap()
    })
}

/// `scheme://user:password@host`.
fn url_credential_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:(?P<val>[^/\s@]+)@[^\s/]").unwrap()
    })
}

/// `Authorization: Bearer <token>`.
fn bearer_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i)\bbearer\s+(?P<val>[A-Za-z0-9._~+/=-]{8,})").unwrap())
}

/// A credential passed as the next argument of a flag: `--password hunter2`.
fn credential_flag_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?i)(?:^|\s)(?P<key>--(?:password|passwd|pass|token|secret|api-?key|auth-?token|client-secret))\s+(?P<val>"[^"]*"?|'[^']*'?|[^\s"'`;&|)]+)"#,
        )
        .unwrap()
    })
}

/// Keys that name something about a credential rather than hold one.
const NOT_A_CREDENTIAL_SUFFIXES: &[&str] = &[
    "_file",
    "_files",
    "_path",
    "_dir",
    "_url",
    "_uri",
    "_endpoint",
    "_host",
    "_name",
    "_names",
    "_length",
    "_len",
    "_min",
    "_max",
    "_size",
    "_ttl",
    "_expiry",
    "_expires",
    "_expiration",
    "_timeout",
    "_lifetime",
    "_age",
    "_env",
    "_var",
    "_type",
    "_kind",
    "_id",
    "_ref",
    "_policy",
    "_mode",
    "_format",
    "_header",
    "_field",
    "_enabled",
    "_required",
    "_command",
    "_cmd",
    "_store",
    "_manager",
    "_provider",
    "_source",
    "_count",
    "_version",
    "_regex",
    "_pattern",
    "_owner",
    "_group",
    "_user",
    "_rotation",
    "_backend",
];

/// Values that are not secrets: placeholders, references and templating.
///
/// Placeholders (`changeme`, `<password>`, `xxxx`, `***`, `TODO`...) are deliberately not
/// reported: they leak nothing, and example or default configuration is full of them.
fn is_not_a_literal(value: &str) -> bool {
    const PLACEHOLDERS: &[&str] = &[
        "changeme",
        "change_me",
        "change-me",
        "changeit",
        "replaceme",
        "replace_me",
        "replace-me",
        "placeholder",
        "example",
        "dummy",
        "redacted",
        "secret",
        "password",
        "todo",
        "tbd",
        "fixme",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "undefined",
    ];
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    v.chars().count() < 4
        || v.contains("{{")
        || v.contains("{%")
        || v.contains("${")
        || v.starts_with('$')
        || v.starts_with("%(")
        || v.starts_with(ENV_PREFIX)
        || v.starts_with(['!', '&', '*', '|', '>', '~'])
        || (v.starts_with('/') || v.starts_with("./") || v.starts_with("../"))
            && !v.contains(char::is_whitespace)
        || (lower.contains("://") && !url_credential_re().is_match(v))
        || PLACEHOLDERS.contains(&lower.as_str())
        || v.starts_with('<')
        || is_secret_source(v)
        || v.chars()
            .all(|c| c == '*' || c == 'x' || c == 'X' || c == '.' || c == '-')
}

/// A play's `secrets:` entry in flow style (`DB_PASSWORD: {provider: pass, key: prod/db}`,
/// `{command: [...]}`): where a secret comes from, not a secret.
fn is_secret_source(v: &str) -> bool {
    v.strip_prefix('{').is_some_and(|rest| {
        let rest = rest.trim_start();
        rest.starts_with("provider:") || rest.starts_with("command:")
    })
}

/// The value without its quotes; an unterminated quote (a file that does not parse) still
/// leaves the value.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q) {
            return inner.strip_suffix(q).unwrap_or(inner);
        }
    }
    v
}

// Counts are at most one line's length (files over 4 MiB are not scanned), far below the
// 2^52 where `usize as f64` starts to round.
#[allow(clippy::cast_precision_loss)]
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

fn overlaps(spans: &[(usize, usize)], s: usize, e: usize) -> bool {
    spans.iter().any(|&(a, b)| s < b && a < e)
}

/// Every secret-looking literal in one line (not silenced by [`ALLOW_COMMENT`]).
pub fn scan_line(line: &str) -> Vec<SecretHit> {
    if line.contains(ALLOW_COMMENT) {
        return vec![];
    }
    scan(line)
}

/// The hits of one line so far, and the byte spans they cover: a later detector skips what an
/// earlier (more specific) one matched.
#[derive(Default)]
struct Found {
    hits: Vec<SecretHit>,
    spans: Vec<(usize, usize)>,
}

/// [`scan_line`] without the allow comment: what a diff must hide whatever the line says.
/// Detectors run from the most specific (well-known token formats) to the broadest; the
/// entropy check runs only when nothing else matched.
fn scan(line: &str) -> Vec<SecretHit> {
    let mut found = Found::default();
    well_known_tokens(line, &mut found);
    url_passwords(line, &mut found);
    bearer_tokens(line, &mut found);
    credential_flags(line, &mut found);
    credential_assignments(line, &mut found);
    let mut hits = found.hits;
    if hits.is_empty() {
        hits.extend(high_entropy(line));
    }
    hits.sort_by_key(|h| h.start);
    hits
}

/// Well-known token formats (AWS, GitHub, Slack, Stripe, PEM headers...).
fn well_known_tokens(line: &str, found: &mut Found) {
    for p in token_patterns() {
        for m in p.re.find_iter(line) {
            if overlaps(&found.spans, m.start(), m.end()) {
                continue;
            }
            found.spans.push((m.start(), m.end()));
            found.hits.push(SecretHit {
                code: "hardcoded-secret",
                kind: p.kind.to_string(),
                start: m.start(),
                value_start: m.start(),
                end: m.end(),
                prefix: if p.show_prefix {
                    value_prefix(m.as_str())
                } else {
                    None
                },
            });
        }
    }
}

/// `scheme://user:PASSWORD@host`.
fn url_passwords(line: &str, found: &mut Found) {
    for c in url_credential_re().captures_iter(line) {
        let (m, v) = (c.get(0).unwrap(), c.name("val").unwrap());
        if overlaps(&found.spans, m.start(), m.end()) || is_placeholder_like(v.as_str()) {
            continue;
        }
        found.spans.push((m.start(), m.end()));
        found.hits.push(SecretHit {
            code: "hardcoded-secret",
            kind: "password in a URL".into(),
            start: v.start(),
            value_start: v.start(),
            end: v.end(),
            prefix: value_prefix(v.as_str()),
        });
    }
}

/// `Authorization: Bearer TOKEN`.
fn bearer_tokens(line: &str, found: &mut Found) {
    for c in bearer_re().captures_iter(line) {
        let v = c.name("val").unwrap();
        if overlaps(&found.spans, v.start(), v.end()) || is_not_a_literal(v.as_str()) {
            continue;
        }
        found.spans.push((v.start(), v.end()));
        found.hits.push(SecretHit {
            code: "hardcoded-secret",
            kind: "bearer token".into(),
            start: c.get(0).unwrap().start(),
            value_start: v.start(),
            end: v.end(),
            prefix: value_prefix(v.as_str()),
        });
    }
}

/// Command-line flags such as `--password VALUE`.
fn credential_flags(line: &str, found: &mut Found) {
    for c in credential_flag_re().captures_iter(line) {
        let (key, v) = (c.name("key").unwrap(), c.name("val").unwrap());
        let value = unquote(v.as_str());
        if overlaps(&found.spans, v.start(), v.end())
            || value.starts_with('-')
            || is_not_a_literal(value)
        {
            continue;
        }
        found.spans.push((key.start(), v.end()));
        found.hits.push(SecretHit {
            code: "hardcoded-secret",
            kind: format!("hard-coded credential `{}`", key.as_str()),
            start: key.start(),
            value_start: v.start(),
            end: v.end(),
            prefix: value_prefix(value),
        });
    }
}

/// `password: VALUE`, `api_key=VALUE` and the like.
fn credential_assignments(line: &str, found: &mut Found) {
    for c in credential_re().captures_iter(line) {
        let (m, key, v) = (
            c.get(0).unwrap(),
            c.name("key").unwrap(),
            c.name("val").unwrap(),
        );
        let value = unquote(v.as_str());
        let key_l = key.as_str().to_ascii_lowercase();
        if overlaps(&found.spans, v.start(), v.end())
            || NOT_A_CREDENTIAL_SUFFIXES.iter().any(|s| key_l.ends_with(s))
            || is_not_a_literal(value)
        {
            continue;
        }
        found.spans.push((m.start(), m.end()));
        found.hits.push(SecretHit {
            code: "hardcoded-secret",
            kind: format!(
                "hard-coded credential `{}`",
                key.as_str().trim_start_matches('-')
            ),
            start: key.start(),
            value_start: v.start(),
            end: v.end(),
            prefix: value_prefix(value),
        });
    }
}

/// The first long mixed-case-and-digit token with high entropy: possibly a secret.
fn high_entropy(line: &str) -> Option<SecretHit> {
    static TOKEN: OnceLock<Regex> = OnceLock::new();
    let token = TOKEN.get_or_init(|| Regex::new(r"[A-Za-z0-9+/]{24,}={0,2}").unwrap());
    for m in token.find_iter(line) {
        let s = m.as_str();
        let classes = [
            s.bytes().any(|b| b.is_ascii_lowercase()),
            s.bytes().any(|b| b.is_ascii_uppercase()),
            s.bytes().any(|b| b.is_ascii_digit()),
        ];
        if classes.iter().all(|c| *c) && entropy(s) > 4.0 {
            return Some(SecretHit {
                code: "high-entropy-string",
                kind: "high-entropy string, possibly a secret".into(),
                start: m.start(),
                value_start: m.start(),
                end: m.end(),
                prefix: value_prefix(s),
            });
        }
    }
    None
}

/// `text` with every secret-looking value cut to its prefix: for messages that quote user text
/// (a task's name is its command when it has none).
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let hits: Vec<SecretHit> = text.lines().flat_map(scan_line).collect();
    if hits.is_empty() {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut last = 0;
        for h in scan_line(line.trim_end_matches('\n')) {
            out.push_str(&line[last..h.value_start]);
            out.push_str(h.prefix.as_deref().unwrap_or(""));
            out.push('…');
            last = h.end;
        }
        out.push_str(&line[last..]);
    }
    out.into()
}

fn is_placeholder_like(v: &str) -> bool {
    is_not_a_literal(v) && !v.contains("://")
}

/// One kind of credential-looking text, in the broad (fail-closed) set.
struct CredentialPattern {
    pub kind: &'static str,
    pub re: Regex,
}

/// The broad patterns, most specific first: looser than [`scan_line`]'s (any key naming a
/// key, cookie, salt or session; shorter token formats), since a diff hides on suspicion.
fn broad_patterns() -> &'static [CredentialPattern] {
    static P: OnceLock<Vec<CredentialPattern>> = OnceLock::new();
    P.get_or_init(|| {
        [
            (
                "private key block",
                r"-----(BEGIN|END) [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----",
            ),
            ("AWS access key id", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
            (
                "GitHub token",
                r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
            ),
            ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
            ("Stripe key", r"\b[sr]k_(live|test)_[A-Za-z0-9]{10,}"),
            (
                "JSON Web Token",
                r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            ),
            ("URL with credentials", r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/?#@]+@"),
            ("bearer token", r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{6,}"),
            (
                "credential flag",
                r"(?i)(^|\s)--?(pass(word)?|token|secret|api-?key|auth)([\s=]|$)",
            ),
            (
                "credential assignment",
                r#"(?i)(pass(word|wd|phrase)?|pwd|secret|token|key|credentials?|auth\w*|bearer|cookie|session[_-]?id|salt|private)\w*["']?\s*[:=]"#,
            ),
        ]
        .into_iter()
        .map(|(kind, re)| CredentialPattern {
            kind,
            re: Regex::new(re).unwrap(),
        })
        .collect()
    })
}

/// A run of 32 or more base64 (or URL-safe base64, or hex) characters mixing at least two of
/// lower case, upper case and digits: a key, a token, a PEM body line.
fn long_token(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"[A-Za-z0-9+/_-]{32,}").unwrap());
    re.find_iter(line).any(|m| {
        let s = m.as_str();
        let classes = [
            s.bytes().any(|b| b.is_ascii_lowercase()),
            s.bytes().any(|b| b.is_ascii_uppercase()),
            s.bytes().any(|b| b.is_ascii_digit()),
        ];
        classes.iter().filter(|c| **c).count() >= 2
    })
}

/// Which kind of credential the line looks like it holds, if any.
pub fn credential_kind(line: &str) -> Option<&'static str> {
    if !scan(line).is_empty() {
        return Some("hard-coded secret");
    }
    if let Some(p) = broad_patterns().iter().find(|p| p.re.is_match(line)) {
        return Some(p.kind);
    }
    if long_token(line) {
        return Some("long token");
    }
    password_shaped(line).then_some("password-shaped token")
}

/// A word of 8 to 128 characters mixing upper case, lower case and digits, spread enough to
/// be generated (`Xk9#mP2$vL7@qR4!`, `AbCdEf12345678`), that is neither a path nor a URL.
fn password_shaped(line: &str) -> bool {
    line.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ',' | ';'))
        .map(|w| w.trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | '{' | '}')))
        .filter(|w| (8..=128).contains(&w.len()))
        .filter(|w| !w.contains("://") && !w.starts_with(['/', '.', '~', '$']))
        .any(|w| {
            w.bytes().any(|b| b.is_ascii_uppercase())
                && w.bytes().any(|b| b.is_ascii_lowercase())
                && w.bytes().any(|b| b.is_ascii_digit())
                && entropy(w) >= 3.0
        })
}

pub fn looks_like_credential(line: &str) -> bool {
    credential_kind(line).is_some()
}

/// For each line of a text: whether it looks like a credential, counting every line of a
/// private key block (`-----BEGIN ... PRIVATE KEY-----` to its `END` line) as one, so that a
/// short last body line is not missed.
pub fn credential_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<bool> {
    static BEGIN: OnceLock<Regex> = OnceLock::new();
    static END: OnceLock<Regex> = OnceLock::new();
    let begin = BEGIN.get_or_init(|| Regex::new(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY").unwrap());
    let end = END.get_or_init(|| Regex::new(r"-----END [A-Z0-9 ]*-----").unwrap());
    let mut in_block = false;
    lines
        .into_iter()
        .map(|l| {
            if begin.is_match(l) {
                in_block = true;
            }
            let hit = in_block || looks_like_credential(l);
            if end.is_match(l) {
                in_block = false;
            }
            hit
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<String> {
        scan_line(line).into_iter().map(|h| h.kind).collect()
    }

    #[test]
    fn secret_declarations_are_not_credentials() {
        for line in [
            "    DB_PASSWORD: {provider: pass, key: prod/db}",
            "    API_TOKEN: { command: [op, read, \"op://prod/api/token\"] }",
        ] {
            assert!(kinds(line).is_empty(), "{line}: {:?}", kinds(line));
        }
        assert!(!kinds("    DB_PASSWORD: hunter2-hunter2-xyz").is_empty());
        assert!(!kinds("    DB_PASSWORD: '{provide: hunter2-hunter2-xyz}'").is_empty());
    }

    #[test]
    fn credential_keys_with_prefixes_and_suffixes() {
        for line in [
            "db_password: hunter2hunter2",
            "DB_PASSWORD: hunter2hunter2",
            "PGPASSWORD: hunter2hunter2",
            "client_secret: abcdefgh1234",
            "aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "export PGPASSWORD=hunter2hunter2",
            "\"api_key\":\"0123456789abcdef\"",
            "password = \"SuperSecretValue1\"",
            "echo password=hunter2hunter2",
            "secret_key_base: 8f7a6e5d4c3b",
            "--db-password=hunter2hunter2",
            "vars: {password: \"unterminated1234}",
            "mysql --password hunter2hunter2 -e 'select 1'",
        ] {
            let k = kinds(line);
            assert_eq!(k.len(), 1, "{line}: {k:?}");
            assert!(k[0].starts_with("hard-coded credential"), "{line}: {k:?}");
        }
    }

    #[test]
    fn not_credentials() {
        for line in [
            "password: \"{{ENV_DB}}\"",
            "password: \"{{ db_password }}\"",
            "password: ''",
            "password:",
            "password: changeme",
            "db_password: <your password here>",
            "password: \"********\"",
            "token: ENV_TOKEN",
            "export PGPASSWORD=\"$(cat /run/secrets/pg)\"",
            "PGPASSWORD=${PGPASSWORD}",
            "password_file: /run/secrets/db",
            "token_url: https://auth.example.com/token",
            "tokenizer: bert-base",
            "password_min_length: 12",
            "secret: true",
            "password: !vault |",
            "name: demo-app",
            "cmd: cd $(pwd)",
            "token = {{ENV_DEMO_API_TOKEN}}",
            "# from the environment (DEMO_API_TOKEN) via --loadenv",
            "password: hunter2hunter2 # jetlike:allow-secret",
            "mysql --password \"$DB_PW\" -e 'select 1'",
            "tool --token --verbose",
            "curl -H \"Authorization: Bearer {{token}}\"",
        ] {
            assert!(kinds(line).is_empty(), "{line}: {:?}", kinds(line));
        }
    }

    #[test]
    fn well_known_formats_and_urls() {
        for (line, kind) in [
            ("key: AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
            (
                "t: ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "GitHub token",
            ),
            ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key block"),
            ("slack: xoxb-123456789012-abcdefghij", "Slack token"),
            ("stripe: sk_live_abcdefghijklmnop1234", "Stripe key"),
            (
                "db: postgres://app:Zq8mW4xK2w@db:5432/app",
                "password in a URL",
            ),
        ] {
            assert_eq!(kinds(line), [kind], "{line}");
        }
        assert!(kinds("db: postgres://app:{{pw}}@db/app").is_empty());
        assert_eq!(kinds("x: q8Zr2LmV9pXw4TkB7nYs3HcJ6dFa").len(), 1);
    }

    #[test]
    fn prefixes_never_reveal_short_values() {
        let h = &scan_line("password: s3cr3tpw")[0];
        assert_eq!(h.prefix.as_deref(), Some("s3cr"));
        let h = &scan_line("password: s3cr3t")[0];
        assert_eq!(h.prefix, None);
        assert_eq!(scan_line("-----BEGIN RSA PRIVATE KEY-----")[0].prefix, None);
    }

    #[test]
    fn redaction_keeps_keys_and_prefixes() {
        assert_eq!(
            redact("shell: echo password=hunter2hunter2 {{ENV_X}}"),
            "shell: echo password=hunt… {{ENV_X}}"
        );
        assert_eq!(redact("key AKIAIOSFODNN7EXAMPLE x"), "key AKIA… x");
        assert_eq!(redact("nothing here"), "nothing here");
        assert_eq!(
            redact("add `DB_PASSWORD=...` to .env"),
            "add `DB_PASSWORD=...` to .env"
        );
    }

    #[test]
    fn credential_lines_are_recognised() {
        for l in [
            "password = hunter2",
            "  db_password: x",
            "\"pass\": \"abc\"",
            "PWD=abc",
            "key = abc",
            "access_key=abc",
            "signing_key: abc",
            "url = redis://:pw@h:6379",
            "dsn: postgres://u:pw@h/db",
            "AKIAABCDEFGHIJKLMNOP",
            "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "xoxb-123456789012-abc",
            "sk_live_abcdefghijklmnop",
            "eyJhbGciOi.eyJzdWIiOi.sig",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "Authorization: Bearer abc.def.ghi",
            "mysql --password x",
        ] {
            assert!(looks_like_credential(l), "{l}");
        }
        for l in [
            "host = db2",
            "port: 5433",
            "# a comment",
            "name = keyboard",
            "url = https://example.com/path",
        ] {
            assert!(!looks_like_credential(l), "{l}");
        }
    }

    #[test]
    fn every_line_of_a_key_block_counts() {
        let t = "a\n-----BEGIN PRIVATE KEY-----\nshort\nAB==\n-----END PRIVATE KEY-----\nb\n";
        assert_eq!(
            credential_lines(t.lines()),
            [false, true, true, true, true, false]
        );
    }

    #[test]
    fn generated_looking_words_count_as_credentials_in_diffs() {
        for l in [
            "api = Xk9#mP2$vL7@qR4!",
            "AbCdEfGh12345678",
            "  Zq9xK2mLp0Rt5vWb,",
            "x: \"Tr0ub4dor&3x\"",
        ] {
            assert!(looks_like_credential(l), "{l}");
        }
        for l in [
            "name = nginx-1.25.3",
            "listen 8080;",
            "server_name www.example.com;",
            "include /etc/nginx/conf.d/HttpServer2.conf;",
            "url = https://Example.com/Path2024",
            "level = INFO",
            "Version 2",
        ] {
            assert!(!looks_like_credential(l), "{l}");
        }
    }
}
