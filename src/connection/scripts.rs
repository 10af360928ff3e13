//! The shell snippets a remote host (or `sudo` locally) runs for file operations. Paths and
//! attributes go in the script; content never does: it always travels on stdin.

use super::{ConnError, FileAttrs, FileStatus};

/// POSIX single-quoting: safe for any byte string.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Prints `F mode owner group sha256` (then the content if asked), `N` for a non-file,
/// or `M 1` / `M 0` for a missing file whose parent directory does / does not exist.
pub fn stat(path: &str, with_content: bool) -> String {
    format!(
        r#"p={p}
if [ -f "$p" ]; then
  s=$(stat -c '%a %U %G' -- "$p") || exit 1
  h=$(sha256sum < "$p") || exit 1
  printf 'F %s %s\n' "$s" "${{h%% *}}"
  {cat}
elif [ -e "$p" ]; then echo N
elif [ -d "$(dirname -- "$p")" ]; then echo 'M 1'
else echo 'M 0'; fi"#,
        p = quote(path),
        cat = if with_content { r#"cat -- "$p""# } else { ":" }
    )
}

pub fn parse_stat(out: &[u8], with_content: bool) -> Result<FileStatus, ConnError> {
    let nl = out.iter().position(|&b| b == b'\n').unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..nl]);
    let bad = || {
        ConnError::Failed(format!(
            "unexpected reply to stat: {:?}",
            head.chars().take(80).collect::<String>()
        ))
    };
    let mut parts = head.split(' ');
    match parts.next() {
        Some("M") => Ok(FileStatus::Missing {
            parent_exists: parts.next() == Some("1"),
        }),
        Some("N") => Ok(FileStatus::NotAFile),
        Some("F") => {
            let mode = u32::from_str_radix(parts.next().ok_or_else(bad)?, 8).map_err(|_| bad())?;
            let owner = parts.next().ok_or_else(bad)?.to_string();
            let group = parts.next().ok_or_else(bad)?.to_string();
            let sha256 = parts.next().ok_or_else(bad)?.to_string();
            let content = with_content.then(|| out.get(nl + 1..).unwrap_or_default().to_vec());
            Ok(FileStatus::File {
                sha256,
                mode,
                owner,
                group,
                content,
            })
        }
        _ => Err(bad()),
    }
}

/// Exit codes of the put script, mapped to messages by `put_error`.
const NO_PARENT: i32 = 70;
const NO_TEMP: i32 = 71;
const WRITE: i32 = 72;
const ATTRS: i32 = 73;
const RENAME: i32 = 74;

/// Writes stdin to a fresh 0600 temp file (mktemp) beside `path`, applies attributes (keeping
/// the existing file's when none are asked), then renames it into place.
pub fn put(path: &str, attrs: &FileAttrs) -> String {
    // Few processes on purpose: this runs once per changed file.
    let mut s = format!(
        r#"p={p}
case $p in */*) d=${{p%/*}}; d=${{d:-/}};; *) d=.;; esac
[ -d "$d" ] || exit {NO_PARENT}
umask 077
set -C
t="$d/.jetlike.$$.${{RANDOM:-0}}${{RANDOM:-0}}"
trap 'rm -f -- "$t"' EXIT HUP INT TERM
if ! {{ cat > "$t"; }} 2>/dev/null; then
  rm -f -- "$t"; t=$(mktemp "$d/.jetlike.XXXXXXXXXX") || exit {NO_TEMP}
  cat >| "$t" || exit {WRITE}
fi
"#,
        p = quote(path)
    );
    if attrs.owner.is_none() || attrs.group.is_none() {
        s.push_str("[ -e \"$p\" ] && chown --reference=\"$p\" -- \"$t\" 2>/dev/null\n");
    }
    match attrs.mode {
        Some(m) => s.push_str(&format!("chmod {m:04o} -- \"$t\" || exit {ATTRS}\n")),
        None => s.push_str(&format!(
            "if [ -e \"$p\" ]; then chmod --reference=\"$p\" -- \"$t\" || exit {ATTRS}\n\
             else chmod 644 -- \"$t\" || exit {ATTRS}; fi\n"
        )),
    }
    if let Some(o) = &attrs.owner {
        s.push_str(&format!("chown -- {} \"$t\" || exit {ATTRS}\n", quote(o)));
    }
    if let Some(g) = &attrs.group {
        s.push_str(&format!("chgrp -- {} \"$t\" || exit {ATTRS}\n", quote(g)));
    }
    s.push_str(&format!(
        "mv -f -- \"$t\" \"$p\" || exit {RENAME}\ntrap - EXIT\n"
    ));
    s
}

/// Compares the target with the wanted hash and attributes and, only if anything differs,
/// writes stdin through the same atomic steps as `put`: one round trip for the usual case.
/// Prints `MATCHED`, `CREATED`, or `MODIFIED changes,...` before writing.
pub fn ensure(path: &str, attrs: &FileAttrs, want_sha256: &str) -> String {
    let mut checks = format!("[ \"$h\" = {want_sha256} ] || c=\"$c,content\"\n");
    if let Some(m) = attrs.mode {
        checks.push_str(&format!("[ \"$1\" = {m:o} ] || c=\"$c,mode\"\n"));
    }
    if let Some(o) = &attrs.owner {
        checks.push_str(&format!("[ \"$2\" = {} ] || c=\"$c,owner\"\n", quote(o)));
    }
    if let Some(g) = &attrs.group {
        checks.push_str(&format!("[ \"$3\" = {} ] || c=\"$c,group\"\n", quote(g)));
    }
    format!(
        r#"p={p}
if [ -f "$p" ]; then
  set -- $(stat -c '%a %U %G' -- "$p") || exit 1
  h=$(sha256sum < "$p") || exit 1
  h=${{h%% *}}
  c=
  {checks}  if [ -z "$c" ]; then echo MATCHED; exit 0; fi
  echo "MODIFIED ${{c#,}}"
elif [ -e "$p" ]; then echo "jetlike: $p exists and is not a regular file" >&2; exit 75
else echo CREATED; fi
{put}"#,
        p = quote(path),
        put = put(path, attrs)
    )
}

/// Reads the status line `ensure` printed: (created, changes); matched is (false, []).
pub fn parse_ensure(out: &[u8]) -> Option<(bool, Vec<String>)> {
    let first = out.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(first).ok()?;
    match line.split_once(' ').map_or((line, ""), |(a, b)| (a, b)) {
        ("MATCHED", _) => Some((false, vec![])),
        ("CREATED", _) => Some((true, vec![])),
        ("MODIFIED", c) => Some((false, c.split(',').map(str::to_owned).collect())),
        _ => None,
    }
}

pub fn put_error(path: &str, rc: i32, out: &[u8]) -> String {
    let detail = String::from_utf8_lossy(out).trim().to_string();
    let what = match rc {
        NO_PARENT => format!(
            "the parent directory of {path} does not exist; create it first (for example with a !shell task running mkdir -p)"
        ),
        NO_TEMP => format!("cannot create a temporary file beside {path}"),
        WRITE => format!("cannot write a temporary file beside {path}"),
        ATTRS => format!("cannot set owner, group or mode for {path}"),
        RENAME => format!("cannot move the new file into place at {path}"),
        75 => format!("{path} exists and is not a regular file; remove it or choose another dest"),
        _ => format!("writing {path} failed (exit {rc})"),
    };
    if detail.is_empty() {
        what
    } else {
        format!("{what}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("abc/d.txt"), "abc/d.txt");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn parses_stat_replies() {
        assert_eq!(
            parse_stat(b"M 0\n", false).unwrap(),
            FileStatus::Missing {
                parent_exists: false
            }
        );
        let f = parse_stat(b"F 640 root adm abcd\nbody", true).unwrap();
        assert_eq!(
            f,
            FileStatus::File {
                sha256: "abcd".into(),
                mode: 0o640,
                owner: "root".into(),
                group: "adm".into(),
                content: Some(b"body".to_vec())
            }
        );
        assert!(parse_stat(b"garbage", false).is_err());
    }
}
