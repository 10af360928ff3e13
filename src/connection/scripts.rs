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

/// Exit codes of the write steps, mapped to messages by `put_error`.
pub const NO_PARENT: i32 = 70;
const NO_TEMP: i32 = 71;
const WRITE: i32 = 72;
const ATTRS: i32 = 73;
const RENAME: i32 = 74;
pub const NOT_A_FILE: i32 = 75;

/// Starts every script that writes files: new files are 0600 from creation (`umask 077`) and
/// created exclusively (`set -C`), and a temp file not yet renamed is removed on any exit.
const WRITE_PRELUDE: &str = "umask 077\nset -C\nt=\n\
    trap '[ -z \"$t\" ] || rm -f -- \"$t\"' EXIT\n\
    trap 'exit 129' HUP\ntrap 'exit 130' INT\ntrap 'exit 143' TERM\n";

/// What the script knows about the file it replaces, which decides the attribute steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Not inspected: test at run time.
    Unknown,
    Missing,
    File {
        mode: u32,
    },
}

/// Where the new content comes from on stdin.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// Everything up to the end of input.
    Rest,
    /// Exactly this many bytes, so that several files can follow one another.
    Exactly(usize),
}

/// The steps that write one file atomically: a fresh 0600 temp file with an unguessable name
/// beside `path`, the content, attributes (keeping the existing file's where none are asked),
/// then a rename. Needs `WRITE_PRELUDE` first. Few processes on purpose: a mode of 0600 needs
/// no `chmod`, a new file no `chown --reference`.
fn write_one(path: &str, attrs: &FileAttrs, existing: Existing, source: Source) -> String {
    let mut s = format!(
        r#"p={p}
case $p in */*) d=${{p%/*}}; d=${{d:-/}};; *) d=.;; esac
[ -d "$d" ] || exit {NO_PARENT}
n="$d/.jetlike.{name:032x}"
{{ : > "$n"; }} 2>/dev/null || exit {NO_TEMP}
t=$n
{read} >| "$t" || exit {WRITE}
"#,
        p = quote(path),
        name = rand::random::<u128>(),
        read = match source {
            Source::Rest => "cat".to_string(),
            Source::Exactly(n) => format!("head -c {n}"),
        }
    );
    if attrs.owner.is_none() || attrs.group.is_none() {
        match existing {
            Existing::Unknown => {
                s.push_str("[ -e \"$p\" ] && chown --reference=\"$p\" -- \"$t\" 2>/dev/null\n")
            }
            Existing::File { .. } => s.push_str("chown --reference=\"$p\" -- \"$t\" 2>/dev/null\n"),
            Existing::Missing => {}
        }
    }
    let chmod = |s: &mut String, m: u32| {
        if m != 0o600 {
            s.push_str(&format!("chmod {m:04o} -- \"$t\" || exit {ATTRS}\n"));
        }
    };
    match (attrs.mode, existing) {
        (Some(m), _) | (None, Existing::File { mode: m }) => chmod(&mut s, m),
        (None, Existing::Missing) => chmod(&mut s, 0o644),
        (None, Existing::Unknown) => s.push_str(&format!(
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
    s.push_str(&format!("mv -f -- \"$t\" \"$p\" || exit {RENAME}\nt=\n"));
    s
}

/// Writes stdin to `path` atomically (see `write_one`).
pub fn put(path: &str, attrs: &FileAttrs) -> String {
    format!(
        "{WRITE_PRELUDE}{}",
        write_one(path, attrs, Existing::Unknown, Source::Rest)
    )
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
elif [ -e "$p" ]; then echo "jetlike: $p exists and is not a regular file" >&2; exit {NOT_A_FILE}
else echo CREATED; fi
{put}"#,
        p = quote(path),
        put = put(path, attrs)
    )
}

/// Inspects several files in one go, for `ensure_all`: a status line per path (`F`, `N` for
/// not a regular file, `M1` / `M0` for missing with / without its directory), then one `stat`
/// and one `sha256sum` over all the regular files: two processes however many files. Last,
/// whether the host has perl, which writes them all in one process (see `perl_write_all`).
pub fn inspect(paths: &[&str]) -> String {
    let list: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    format!(
        r#"set --
for p in {list}; do
  if [ -f "$p" ]; then set -- "$@" "$p"; echo F
  elif [ -e "$p" ]; then echo N
  else
    case $p in */*) d=${{p%/*}}; d=${{d:-/}};; *) d=.;; esac
    if [ -d "$d" ]; then echo M1; else echo M0; fi
  fi
done
[ $# -eq 0 ] || {{ stat -c '%a %U %G' -- "$@" && sha256sum -- "$@"; }} || exit 1
command -v perl >/dev/null 2>&1 && echo {PERL}
"#,
        list = list.join(" ")
    )
}

/// `inspect`'s last line when the host has perl.
const PERL: &str = "JETLIKE-PERL";

/// What `inspect` found: the status of each path, and whether perl is there.
pub struct Inspected {
    pub statuses: Vec<FileStatus>,
    pub perl: bool,
}

/// Reads what `inspect` printed for `n` paths.
pub fn parse_inspect(out: &[u8], n: usize) -> Result<Inspected, ConnError> {
    let perl = out
        .split(|&b| b == b'\n')
        .any(|line| line == PERL.as_bytes());
    parse_statuses(out, n).map(|statuses| Inspected { statuses, perl })
}

fn parse_statuses(out: &[u8], n: usize) -> Result<Vec<FileStatus>, ConnError> {
    let text = String::from_utf8_lossy(out);
    let bad = || {
        ConnError::Failed(format!(
            "unexpected reply while inspecting files: {:?}",
            text.chars().take(120).collect::<String>()
        ))
    };
    let mut lines = text.lines();
    let kinds: Vec<&str> = lines.by_ref().take(n).collect();
    if kinds.len() != n {
        return Err(bad());
    }
    let files = kinds.iter().filter(|k| **k == "F").count();
    let stats: Vec<&str> = lines.by_ref().take(files).collect();
    let sums: Vec<&str> = lines.take(files).collect();
    if sums.len() != files {
        return Err(bad());
    }
    let (mut stats, mut sums) = (stats.into_iter(), sums.into_iter());
    kinds
        .iter()
        .map(|kind| match *kind {
            "M1" => Ok(FileStatus::Missing {
                parent_exists: true,
            }),
            "M0" => Ok(FileStatus::Missing {
                parent_exists: false,
            }),
            "N" => Ok(FileStatus::NotAFile),
            "F" => {
                let (stat, sum) = (stats.next().ok_or_else(bad)?, sums.next().ok_or_else(bad)?);
                let mut parts = stat.split(' ');
                let mode =
                    u32::from_str_radix(parts.next().ok_or_else(bad)?, 8).map_err(|_| bad())?;
                let owner = parts.next().ok_or_else(bad)?.to_string();
                let group = parts.next().ok_or_else(bad)?.to_string();
                // sha256sum prefixes a `\` when it had to escape the file name.
                let sha256 = sum
                    .trim_start_matches('\\')
                    .split(' ')
                    .next()
                    .ok_or_else(bad)?;
                if sha256.len() != 64 {
                    return Err(bad());
                }
                Ok(FileStatus::File {
                    sha256: sha256.to_string(),
                    mode,
                    owner,
                    group,
                    content: None,
                })
            }
            _ => Err(bad()),
        })
        .collect()
}

/// One file for `write_all`: its content follows the previous file's on stdin.
#[derive(Clone)]
pub struct Write<'a> {
    pub path: &'a str,
    pub attrs: &'a FileAttrs,
    pub existing: Existing,
    pub len: usize,
}

/// Printed after each file `write_all` put in place.
const WROTE: &str = "JETLIKE-WROTE";

/// Writes several files in order from one stream on stdin (each exactly its length), each
/// through the atomic steps of `put`, stopping at the first failure.
pub fn write_all(writes: &[Write<'_>]) -> String {
    let mut s = WRITE_PRELUDE.to_string();
    for w in writes {
        s.push_str(&write_one(
            w.path,
            w.attrs,
            w.existing,
            Source::Exactly(w.len),
        ));
        s.push_str("echo ");
        s.push_str(WROTE);
        s.push('\n');
    }
    s
}

/// `write_all` in one perl process instead of several processes per file: each file is
/// created 0600 with `O_EXCL` and an unguessable name beside its destination, filled with
/// exactly its length from stdin, given its attributes and renamed into place, in order,
/// stopping at the first failure with the same exit codes and markers as the shell steps.
/// Only core perl (`perl-base` on Debian); the program is paths and modes, never content.
pub fn perl_write_all(writes: &[Write<'_>]) -> String {
    let mut program = String::from(PERL_WRITER);
    for w in writes {
        let len = w.len;
        let (mode, preserve) = match (w.attrs.mode, w.existing) {
            (Some(m), _) | (None, Existing::File { mode: m }) => (m, true),
            (None, _) => (0o644, false),
        };
        let preserve = preserve
            && w.existing != Existing::Missing
            && (w.attrs.owner.is_none() || w.attrs.group.is_none());
        let opt = |v: &Option<String>| v.as_deref().map_or("undef".to_string(), perl_quote);
        program.push_str(&format!(
            "put({}, {len}, {}, {}, {}, {}, '{:032x}');\n",
            perl_quote(w.path),
            if mode == 0o600 {
                "undef".to_string()
            } else {
                format!("0{mode:o}")
            },
            u8::from(preserve),
            opt(&w.attrs.owner),
            opt(&w.attrs.group),
            rand::random::<u128>(),
        ));
    }
    format!("exec perl -e {}", quote(&program))
}

/// A perl single-quoted string: only `\` and `'` need escaping.
fn perl_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The body of `perl_write_all`; one `put(...)` call per file follows it.
const PERL_WRITER: &str = r#"use strict; use Fcntl;
umask 077; my $t;
END { unlink $t if defined $t }
$SIG{$_} = sub { exit 129 } for qw(HUP INT TERM);
sub fail { print STDERR "$_[1]\n"; exit $_[0] }
sub put { my ($p, $n, $mode, $preserve, $owner, $group, $name) = @_;
  my $d = $p =~ m{^(.*)/[^/]*$}s ? ($1 eq "" ? "/" : $1) : ".";
  -d $d or exit 70;
  sysopen(my $fh, "$d/.jetlike.$name", O_WRONLY|O_CREAT|O_EXCL, 0600) or fail(71, "$!");
  $t = "$d/.jetlike.$name";
  while ($n > 0) {
    my $r = sysread(STDIN, my $buf, $n < 65536 ? $n : 65536);
    $r or fail(72, defined $r ? "input ended early" : "$!");
    defined syswrite($fh, $buf) or fail(72, "$!");
    $n -= $r;
  }
  close($fh) or fail(72, "$!");
  if ($preserve) { my @s = stat($p); chown($s[4], $s[5], $t) if @s; }
  if (defined $mode) { chmod($mode, $t) or fail(73, "chmod: $!"); }
  if (defined $owner) {
    my $u = $owner =~ /^\d+$/ ? $owner : getpwnam($owner);
    defined $u or fail(73, "no such user $owner");
    chown($u, -1, $t) or fail(73, "chown $owner: $!");
  }
  if (defined $group) {
    my $g = $group =~ /^\d+$/ ? $group : getgrnam($group);
    defined $g or fail(73, "no such group $group");
    chown(-1, $g, $t) or fail(73, "chgrp $group: $!");
  }
  rename($t, $p) or fail(74, "$!");
  undef $t;
  print "JETLIKE-WROTE\n";
}
"#;

/// How many files `write_all` put in place, and the rest of its output (error text).
pub fn parse_written(out: &[u8]) -> (usize, Vec<u8>) {
    let mut done = 0;
    let mut rest = Vec::new();
    for line in out.split_inclusive(|&b| b == b'\n') {
        if line.strip_suffix(b"\n").unwrap_or(line) == WROTE.as_bytes() {
            done += 1;
        } else {
            rest.extend_from_slice(line);
        }
    }
    (done, rest)
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
        NOT_A_FILE => format!("{path} exists and is not a regular file; remove it or choose another dest"),
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
    use std::os::unix::fs::PermissionsExt;

    /// Runs a write script like the persistent shell does: `sh -c`, contents on stdin.
    fn run_writer(script: &str, input: &[u8]) -> (i32, usize, String) {
        use std::io::Write as _;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        let mut all = out.stdout;
        all.extend_from_slice(&out.stderr);
        let (done, rest) = parse_written(&all);
        (
            out.status.code().unwrap_or(-1),
            done,
            String::from_utf8_lossy(&rest).into_owned(),
        )
    }

    /// Names, contents and modes under `dir`, sorted: what a writer left behind.
    fn state(dir: &std::path::Path) -> Vec<(String, Vec<u8>, u32)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                let meta = e.metadata().unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap_or_default(),
                    meta.permissions().mode() & 0o7777,
                )
            })
            .collect();
        v.sort();
        v
    }

    /// The perl writer and the shell steps must leave exactly the same files, modes and
    /// markers, on success and when a file in the middle fails.
    #[test]
    fn perl_and_shell_writers_agree() {
        if std::process::Command::new("perl")
            .arg("-e1")
            .status()
            .is_err()
        {
            panic!("perl is needed for this test (perl-base)");
        }
        let attrs_600 = FileAttrs::default();
        let attrs_640 = FileAttrs {
            mode: Some(0o640),
            ..Default::default()
        };
        let attrs_owned = FileAttrs {
            mode: Some(0o600),
            owner: Some(whoami()),
            group: None,
        };
        for failing in [false, true] {
            let mut results = Vec::new();
            for perl in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let d = dir.path().to_str().unwrap().to_string();
                std::fs::write(format!("{d}/old.txt"), "old").unwrap();
                std::fs::set_permissions(
                    format!("{d}/old.txt"),
                    std::fs::Permissions::from_mode(0o604),
                )
                .unwrap();
                let paths = [
                    format!("{d}/new 'quoted' \\name.txt"),
                    format!("{d}/old.txt"),
                    if failing {
                        format!("{d}/missing/x.txt")
                    } else {
                        format!("{d}/mode.txt")
                    },
                    format!("{d}/after.txt"),
                ];
                let contents: [&[u8]; 4] = [b"\x00\xffbinary\n", b"new", b"640", b"after"];
                let writes = [
                    Write {
                        path: &paths[0],
                        attrs: &attrs_600,
                        existing: Existing::Missing,
                        len: contents[0].len(),
                    },
                    Write {
                        path: &paths[1],
                        attrs: &attrs_600,
                        existing: Existing::File { mode: 0o604 },
                        len: contents[1].len(),
                    },
                    Write {
                        path: &paths[2],
                        attrs: &attrs_640,
                        existing: Existing::Missing,
                        len: contents[2].len(),
                    },
                    Write {
                        path: &paths[3],
                        attrs: &attrs_owned,
                        existing: Existing::Missing,
                        len: contents[3].len(),
                    },
                ];
                let script = if perl {
                    perl_write_all(&writes)
                } else {
                    write_all(&writes)
                };
                let (rc, done, rest) = run_writer(&script, &contents.concat());
                results.push((rc, done, state(dir.path()), rest.is_empty()));
            }
            assert_eq!(results[0], results[1], "failing={failing}: shell vs perl");
            let (rc, done, files, _) = &results[0];
            if failing {
                assert_eq!((*rc, *done), (NO_PARENT, 2), "{files:?}");
                assert!(files.iter().all(|(n, ..)| n != "after.txt"), "{files:?}");
            } else {
                assert_eq!((*rc, *done), (0, 4), "{files:?}");
                let mode_of = |name: &str| files.iter().find(|f| f.0 == name).map(|f| f.2);
                assert_eq!(mode_of("old.txt"), Some(0o604), "an existing mode is kept");
                assert_eq!(mode_of("mode.txt"), Some(0o640));
                assert_eq!(mode_of("after.txt"), Some(0o600));
                assert_eq!(mode_of("new 'quoted' \\name.txt"), Some(0o644));
            }
            assert!(
                files.iter().all(|(n, ..)| !n.starts_with(".jetlike")),
                "temp file left: {files:?}"
            );
        }
    }

    fn whoami() -> String {
        let out = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

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
