//! Text-level detectors: hard-coded secrets (well-known token formats, credential assignments,
//! credentials in URLs, high-entropy strings), downloads piped into an interpreter, and shell
//! commands that create private directories. None of them returns a secret value: at most
//! [`value_prefix`].

use std::sync::OnceLock;

use regex::Regex;

use crate::error::value_prefix;
use crate::policy::ENV_PREFIX;

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
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
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
        || v.chars()
            .all(|c| c == '*' || c == 'x' || c == 'X' || c == '.' || c == '-')
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
    let mut hits = vec![];
    let mut spans: Vec<(usize, usize)> = vec![];
    for p in token_patterns() {
        for m in p.re.find_iter(line) {
            if overlaps(&spans, m.start(), m.end()) {
                continue;
            }
            spans.push((m.start(), m.end()));
            hits.push(SecretHit {
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
    for c in url_credential_re().captures_iter(line) {
        let (m, v) = (c.get(0).unwrap(), c.name("val").unwrap());
        if overlaps(&spans, m.start(), m.end()) || is_placeholder_like(v.as_str()) {
            continue;
        }
        spans.push((m.start(), m.end()));
        hits.push(SecretHit {
            code: "hardcoded-secret",
            kind: "password in a URL".into(),
            start: v.start(),
            value_start: v.start(),
            end: v.end(),
            prefix: value_prefix(v.as_str()),
        });
    }
    for c in bearer_re().captures_iter(line) {
        let v = c.name("val").unwrap();
        if overlaps(&spans, v.start(), v.end()) || is_not_a_literal(v.as_str()) {
            continue;
        }
        spans.push((v.start(), v.end()));
        hits.push(SecretHit {
            code: "hardcoded-secret",
            kind: "bearer token".into(),
            start: c.get(0).unwrap().start(),
            value_start: v.start(),
            end: v.end(),
            prefix: value_prefix(v.as_str()),
        });
    }
    for c in credential_flag_re().captures_iter(line) {
        let (key, v) = (c.name("key").unwrap(), c.name("val").unwrap());
        let value = unquote(v.as_str());
        if overlaps(&spans, v.start(), v.end()) || value.starts_with('-') || is_not_a_literal(value)
        {
            continue;
        }
        spans.push((key.start(), v.end()));
        hits.push(SecretHit {
            code: "hardcoded-secret",
            kind: format!("hard-coded credential `{}`", key.as_str()),
            start: key.start(),
            value_start: v.start(),
            end: v.end(),
            prefix: value_prefix(value),
        });
    }
    for c in credential_re().captures_iter(line) {
        let (m, key, v) = (
            c.get(0).unwrap(),
            c.name("key").unwrap(),
            c.name("val").unwrap(),
        );
        let value = unquote(v.as_str());
        let key_l = key.as_str().to_ascii_lowercase();
        if overlaps(&spans, v.start(), v.end())
            || NOT_A_CREDENTIAL_SUFFIXES.iter().any(|s| key_l.ends_with(s))
            || is_not_a_literal(value)
        {
            continue;
        }
        spans.push((m.start(), m.end()));
        hits.push(SecretHit {
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
    if hits.is_empty() {
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
                hits.push(SecretHit {
                    code: "high-entropy-string",
                    kind: "high-entropy string, possibly a secret".into(),
                    start: m.start(),
                    value_start: m.start(),
                    end: m.end(),
                    prefix: value_prefix(s),
                });
                break;
            }
        }
    }
    hits.sort_by_key(|h| h.start);
    hits
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

/// The interpreters a downloaded script may be fed to.
const INTERP: &str = r"(?:ba|z|da|k|fi|c|tc|a)?sh|python[0-9.]*|perl|ruby|node|php";
const FETCH: &str = r"(?:curl|wget|fetch)";

fn fetch_pipe_re() -> &'static [Regex] {
    static RE: OnceLock<Vec<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        let pre = r"(?:(?:sudo|doas)(?:\s+-\S+)*\s+|env(?:\s+\S+=\S*)*\s+|exec\s+)*";
        let dir = r"(?:/usr/local/bin/|/usr/bin/|/bin/)?";
        [
            // curl … | sh, | sudo bash, | python3, after any other pipes.
            format!(r"\b{FETCH}\b[^\n]*\|\s*{pre}{dir}(?P<i>{INTERP})\b(?P<rest>[^\n]*)"),
            // sh -c "$(curl …)", python3 -c "$(wget -O- …)", eval "$(curl …)", source <(curl …)
            format!(
                r#"(?:\b(?:{INTERP})\b[^|;&\n]*\s-[a-zA-Z]*[ce]\s+|\beval\s+|\bsource\s+|(?:^|[\s;&|(])\.\s+)["']?(?:\$\(|`|<\()\s*{FETCH}\b"#
            ),
            // bash <(curl …)
            format!(r"\b(?:{INTERP})\b(?:\s+-\S+)*\s+<\(\s*{FETCH}\b"),
        ]
        .iter()
        .map(|r| Regex::new(r).unwrap())
        .collect()
    })
}

/// Byte offset of a download that is run unverified by an interpreter, if `cmd` has one.
pub fn pipe_to_shell(cmd: &str) -> Option<usize> {
    let res = fetch_pipe_re();
    for c in res[0].captures_iter(cmd) {
        // `| python3 -m json.tool`, `| sh -c 'code'`: stdin is data, not the program.
        let rest = c.name("rest").map_or("", |m| m.as_str()).trim_start();
        let data_only = ["-c ", "-e ", "-m ", "-E "]
            .iter()
            .any(|f| rest.starts_with(f));
        if !data_only {
            return Some(c.get(0).unwrap().start());
        }
    }
    res[1..].iter().find_map(|r| r.find(cmd).map(|m| m.start()))
}

/// Directories a shell command leaves closed to others: `install -d -m 0700 DIR`,
/// `mkdir -m 0700 DIR` (without `-p`, so it fails rather than keep an existing directory's
/// mode), `chmod 0700 DIR` / `chmod o-rwx DIR` / `chmod go= DIR`.
pub fn private_dirs(cmd: &str) -> Vec<String> {
    let mut out = vec![];
    for simple in cmd.split(['\n', ';', '|', '&']) {
        let words: Vec<String> = simple
            .split_whitespace()
            .map(|w| w.trim_matches(['"', '\'']).to_string())
            .collect();
        let mut w = words.as_slice();
        while let Some(first) = w.first() {
            if first == "sudo" || first.contains('=') || first == "exec" {
                w = &w[1..];
            } else {
                break;
            }
        }
        let Some((prog, args)) = w.split_first() else {
            continue;
        };
        let prog = prog.rsplit('/').next().unwrap_or(prog);
        match prog {
            "install" | "mkdir" => {
                let mut mode = None;
                let mut dir_flag = prog == "mkdir";
                let mut parents = false;
                let mut targets = vec![];
                let mut i = 0;
                while i < args.len() {
                    let a = args[i].as_str();
                    if let Some(m) = a.strip_prefix("--mode=") {
                        mode = Some(m.to_string());
                    } else if a == "--directory" {
                        dir_flag = true;
                    } else if a == "--parents" {
                        parents = true;
                    } else if a == "-m" || a == "--mode" {
                        mode = args.get(i + 1).cloned();
                        i += 1;
                    } else if let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) {
                        // Combined short flags: -dm700, -pm 0700, -d.
                        for (ci, ch) in flags.char_indices() {
                            match ch {
                                'd' => dir_flag = true,
                                'p' => parents = true,
                                'm' => {
                                    let inline = &flags[ci + 1..];
                                    if inline.is_empty() {
                                        mode = args.get(i + 1).cloned();
                                        i += 1;
                                    } else {
                                        mode = Some(inline.to_string());
                                    }
                                    break;
                                }
                                _ => {}
                            }
                        }
                    } else {
                        targets.push(a.to_string());
                    }
                    i += 1;
                }
                let closed = mode.as_deref().is_some_and(mode_closes_others);
                // `install -d` sets the mode on an existing directory too; `mkdir -p` does not.
                let reliable = if prog == "install" {
                    dir_flag
                } else {
                    !parents
                };
                if closed && reliable {
                    out.extend(targets);
                }
            }
            "chmod" => {
                let args: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
                if let Some((mode, targets)) = args.split_first() {
                    if mode_closes_others(mode) {
                        out.extend(targets.iter().map(|t| t.to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    out.into_iter()
        .map(|d| d.trim_end_matches('/').to_string())
        .filter(|d| d.starts_with('/'))
        .collect()
}

/// An octal mode without any bit for others, or a symbolic one taking every right from them.
fn mode_closes_others(mode: &str) -> bool {
    let m = mode.trim_start_matches("0o");
    if !m.is_empty() && m.chars().all(|c| c.is_digit(8)) {
        return u32::from_str_radix(m, 8).is_ok_and(|b| b & 0o007 == 0);
    }
    // Symbolic: every clause touching others must leave them nothing, and one must exist.
    let mut closes = false;
    for clause in m.split(',') {
        let who_end = clause.find(['+', '-', '=']).unwrap_or(clause.len());
        let (who, rest) = clause.split_at(who_end);
        let touches = who.contains('o') || who.contains('a');
        if !touches {
            continue;
        }
        let (op, perms) = rest.split_at(rest.len().min(1));
        match op {
            "=" if perms.is_empty() => closes = true,
            "-" if perms.contains('r') && perms.contains('w') && perms.contains('x') => {
                closes = true
            }
            "+" => return false,
            _ => {}
        }
    }
    closes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<String> {
        scan_line(line).into_iter().map(|h| h.kind).collect()
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
    fn downloads_run_by_an_interpreter() {
        for cmd in [
            "curl -fsSL https://x.invalid/i.sh | sh",
            "wget -qO- https://x.invalid/i.sh | sudo bash",
            "curl -fsSL https://x.invalid/i.sh | sudo -E sh -s -- --yes",
            "curl -fsSL https://x.invalid/i.py | python3",
            "curl -fsSL https://x.invalid/i.pl | perl",
            "curl -s https://x.invalid/i.sh | tee /tmp/i.sh | bash",
            "sh -c \"$(curl -fsSL https://x.invalid/i.sh)\"",
            "bash -c \"$(wget -qO- https://x.invalid/i.sh)\"",
            "bash <(curl -fsSL https://x.invalid/i.sh)",
            "eval \"$(curl -fsSL https://x.invalid/env)\"",
            "source <(curl -fsSL https://x.invalid/env)",
        ] {
            assert!(pipe_to_shell(cmd).is_some(), "{cmd}");
        }
        for cmd in [
            "curl -fsSL https://x.invalid/a.json | python3 -m json.tool",
            "curl -fsSL https://x.invalid/i.sh -o /tmp/i.sh && sha256sum -c i.sha256",
            "curl -fsSL https://x.invalid/a | shasum",
            "echo hi | sh",
        ] {
            assert!(pipe_to_shell(cmd).is_none(), "{cmd}");
        }
    }

    #[test]
    fn private_directories() {
        assert_eq!(
            private_dirs("install -d -m 0700 /tmp/a && echo ok"),
            ["/tmp/a"]
        );
        assert_eq!(private_dirs("install -dm700 /tmp/a/"), ["/tmp/a"]);
        assert_eq!(private_dirs("mkdir -m 0700 /tmp/a"), ["/tmp/a"]);
        assert!(private_dirs("mkdir -p -m 0700 /tmp/a").is_empty());
        assert_eq!(
            private_dirs("mkdir -p /tmp/a && chmod 0750 /tmp/a"),
            ["/tmp/a"]
        );
        assert_eq!(private_dirs("chmod go-rwx /tmp/a"), ["/tmp/a"]);
        assert!(private_dirs("chmod 0755 /tmp/a").is_empty());
        assert!(private_dirs("install -m 0700 f /tmp/a").is_empty());
        assert!(private_dirs("mkdir -p /tmp/a").is_empty());
    }
}
