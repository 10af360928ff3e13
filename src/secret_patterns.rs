//! What a line holding a credential looks like: key names (`password = ...`, `"api_key": ...`,
//! `PWD=...`), URLs with user info, well-known token formats, JWTs, private key blocks and long
//! base64 runs. The diff renderer hides such lines when it cannot know which secret they hold
//! (an old value on the target, or a plain file copied as is). Shared so that `lint` can use
//! the same patterns.

use std::sync::OnceLock;

use regex::Regex;

/// One kind of credential-looking text.
pub struct CredentialPattern {
    pub kind: &'static str,
    pub re: Regex,
}

/// The patterns, most specific first. They match anywhere in a line, case as noted.
pub fn patterns() -> &'static [CredentialPattern] {
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
    if let Some(p) = patterns().iter().find(|p| p.re.is_match(line)) {
        return Some(p.kind);
    }
    long_token(line).then_some("long token")
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
}
