//! Every command string jetlike sends to a shell: the bootstrap that reads a script from
//! stdin, the framing of the SSH persistent shell's requests, `exec 2>&1` for tasks, the
//! default `sudo` line, and the scripts of the file operations (stat, ensure, put, inspect,
//! the shell and perl writers) with the parsers of their replies. Paths and attributes go in
//! the scripts; content never does: it always travels on stdin. Exit codes and markers are
//! Rust constants interpolated into both writers, never retyped.

use super::error::{ConnError, WriteStep};
use super::file_status::{Change, FileAttrs, FileStatus, OldContent, FETCH_LIMIT};
use super::payload::COMMIT;

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

/// The only command line a shell reading its script from stdin gets: it reads exactly
/// `len` bytes (`head -c` does not read past them), so no rendered command (which may hold a
/// runtime secret) is ever an argv visible in `ps` or `/proc/*/cmdline`. Whatever follows
/// the script on stdin is the input of the script's commands.
pub fn bootstrap(len: usize) -> String {
    format!("eval \"$(head -c {len})\"")
}

/// A script with a NUL byte is refused before it is sent: no shell can run one (the
/// command substitution of `bootstrap` drops it, and `read -N` of a large request
/// (`agent_request`) would lose count of the request's length).
pub fn refuse_nul(script: &str) -> Result<(), ConnError> {
    if script.contains('\0') {
        return Err(ConnError::Failed(
            "the command holds a NUL byte, which no shell can run: remove it from the task"
                .to_string(),
        ));
    }
    Ok(())
}

/// `script` as the argument of `sh -c`.
pub fn sh_c(script: &str) -> String {
    format!("sh -c {}", quote(script))
}

/// A task's command: its stderr joins its stdout, so the two arrive in order.
pub fn run(cmd: &str) -> String {
    format!("exec 2>&1\n{cmd}")
}

/// The privilege line when the play has no `sudo_template`: non-interactive, `HOME` of the
/// target user, `command` in place of the command.
pub fn default_sudo(user: &str, command: &str) -> String {
    format!("sudo -n -H -u {} -- {command}", quote(user))
}

/// The SSH persistent shell: `bash -s` reading requests from the channel, or nothing (the
/// channel closes at once) on a host without bash.
pub const AGENT_SHELL: &str = "command -v bash >/dev/null 2>&1 && exec bash --noprofile --norc -s";

/// Holds a channel open on a host without bash, so the master does not idle out between
/// operations.
pub const KEEPALIVE: &str = "exec cat >/dev/null";

/// A channel of its own for one script (hosts without bash): the script follows on stdin.
pub fn channel_command(script_len: usize) -> String {
    sh_c(&bootstrap(script_len))
}

/// The end marker of one persistent shell: random, so no output can fake it.
pub fn agent_marker() -> String {
    format!("JETLIKE-END-{:032x}", rand::random::<u128>())
}

/// What precedes the exit code at the end of every reply of the persistent shell.
pub fn agent_needle(marker: &str) -> Vec<u8> {
    format!("\n{marker} ").into_bytes()
}

/// One request to the persistent shell: `script` runs in a subshell (`( eval '...' )`, so a
/// task's `cd`, `exit` or syntax error cannot disturb the next), stderr joined to stdout,
/// then the marker and the exit code are printed. With input, exactly `input_len` bytes
/// after the request are the script's stdin (read by `head -c`, the rest of a short read
/// drained), so the next request starts where the input ends.
///
/// Bash reads the commands of a script on a pipe one byte per `read(2)` (about half a
/// microsecond each here), so a request of `WHOLE_READ_FROM` bytes or more is sent after a
/// line that reads it whole with `read -N` (bytes: `LC_ALL=C`) and evaluates it: the 4 KB
/// file batch of a first run cost 2 ms of remote CPU per host. Smaller ones are sent as
/// they are (the extra `eval` would cost more than it saves). Bash older than 4.1 has no
/// `read -N`: the guard is false there and bash reads the same request as plain commands.
pub fn agent_request(script: &str, input_len: u64, marker: &str) -> String {
    let quoted = quote(script);
    let request = if input_len == 0 {
        format!("( eval {quoted} ) </dev/null 2>&1; printf '\\n%s %d\\n' {marker} \"$?\"\n")
    } else {
        format!(
            "head -c {input_len} | {{ ( eval {quoted} ) 2>&1; r=$?; cat >/dev/null; exit $r; }}; printf '\\n%s %d\\n' {marker} \"$?\"\n"
        )
    };
    if request.len() < WHOLE_READ_FROM {
        return request;
    }
    // The task must not see its own request in a variable: unset before it runs.
    let request = format!("unset -v __jetlike_req; {request}");
    format!(
        "{HAS_READ_N} && {{ LC_ALL=C IFS= read -r -d '' -N {} __jetlike_req; eval \"$__jetlike_req\"; }}\n{request}",
        request.len()
    )
}

/// From what size a request is read whole (see `agent_request`).
const WHOLE_READ_FROM: usize = 512;

/// True in a bash with `read -N` (4.1 and later).
const HAS_READ_N: &str = "((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 401))";

/// Prints the `F mode owner group sha256` line of the regular file `$p` (parsed by
/// `parse_stat`) and leaves those four facts in `$1`..`$4` (see `fact_position`).
const FILE_FACTS: &str = r#"s=$(stat -c '%a %U %G' -- "$p") || exit 1
  h=$(sha256sum < "$p") || exit 1
  set -- $s "${h%% *}"
  printf 'F %s %s\n' "$s" "${h%% *}""#;

/// Where `FILE_FACTS` leaves each fact.
const fn fact_position(change: Change) -> u8 {
    match change {
        Change::Mode => 1,
        Change::Owner => 2,
        Change::Group => 3,
        Change::Content => 4,
    }
}

/// Sets `d` to the directory of `$p` as the write steps see it (`.` for a bare name).
const PARENT_OF_P: &str = "case $p in */*) d=${p%/*}; d=${d:-/};; *) d=.;; esac";

/// Prints `F mode owner group sha256` (then, if asked, `S size` and the content when it is
/// at most `FETCH_LIMIT` bytes), `N` for a non-file, or `M 1` / `M 0` for a missing file
/// whose parent directory does / does not exist.
pub fn stat(path: &str, with_content: bool) -> String {
    let cat = format!(
        r#"z=$(stat -c %s -- "$p") || exit 1
  echo "S $z"
  [ "$z" -gt {FETCH_LIMIT} ] || head -c {} -- "$p""#,
        FETCH_LIMIT + 1
    );
    format!(
        r#"p={p}
if [ -f "$p" ]; then
  {FILE_FACTS}
  {cat}
elif [ -e "$p" ]; then echo N
elif [ -d "$(dirname -- "$p")" ]; then echo 'M 1'
else echo 'M 0'; fi"#,
        p = quote(path),
        cat = if with_content { &cat } else { ":" }
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
            let (mode, owner, group) = parse_mode_owner_group(&mut parts).ok_or_else(bad)?;
            let sha256 = parts.next().ok_or_else(bad)?.to_string();
            let content = if with_content {
                Some(parse_content(out.get(nl + 1..).unwrap_or_default()).ok_or_else(bad)?)
            } else {
                None
            };
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

/// The `S size` line and the content after it (see `stat`).
fn parse_content(out: &[u8]) -> Option<OldContent> {
    let nl = memchr::memchr(b'\n', out)?;
    let size: u64 = std::str::from_utf8(out[..nl].strip_prefix(b"S ")?)
        .ok()?
        .parse()
        .ok()?;
    let body = &out[nl + 1..];
    Some(if size > FETCH_LIMIT || body.len() as u64 > FETCH_LIMIT {
        OldContent::TooLarge {
            size: size.max(body.len() as u64),
        }
    } else {
        OldContent::Bytes(body.to_vec())
    })
}

/// The `%a %U %G` words of `stat -c`: octal mode, owner, group.
fn parse_mode_owner_group<'a>(
    words: &mut impl Iterator<Item = &'a str>,
) -> Option<(u32, String, String)> {
    let mode = u32::from_str_radix(words.next()?, 8).ok()?;
    let owner = words.next()?.to_string();
    let group = words.next()?.to_string();
    Some((mode, owner, group))
}

/// Exit codes of the write steps (see `WriteStep`), as the scripts use them.
const NO_PARENT: i32 = WriteStep::NoParent.code();
const NO_TEMP: i32 = WriteStep::NoTemp.code();
const WRITE: i32 = WriteStep::Write.code();
const ATTRS: i32 = WriteStep::Attrs.code();
const RENAME: i32 = WriteStep::Rename.code();
const ABORTED: i32 = WriteStep::Aborted.code();

/// The exit code of a writer stopped by each signal (128 + its number), in both writers.
const SIGNAL_EXITS: [(&str, i32); 3] = [("HUP", 129), ("INT", 130), ("TERM", 143)];

/// Starts every script that writes files: new files are 0600 from creation (`umask 077`) and
/// created exclusively (`set -C`), and a temp file not yet renamed is removed on any exit.
fn write_prelude() -> String {
    let mut s =
        String::from("umask 077\nset -C\nt=\ntrap '[ -z \"$t\" ] || rm -f -- \"$t\"' EXIT\n");
    for (signal, code) in SIGNAL_EXITS {
        s.push_str(&format!("trap 'exit {code}' {signal}\n"));
    }
    s
}

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

/// The steps that write one file atomically: a fresh 0600 temp file with an unguessable name
/// beside `path`, the content (exactly `len` bytes of stdin), the verdict byte after it
/// (anything but `payload::COMMIT` removes the temp file: see `payload`), attributes (keeping
/// the existing file's where none are asked), then a rename. Needs `WRITE_PRELUDE` first. Few
/// processes on purpose: a mode of 0600 needs no `chmod`, a new file no `chown --reference`.
fn write_one(path: &str, attrs: &FileAttrs, existing: Existing, len: u64) -> String {
    let mut s = format!(
        r#"p={p}
{PARENT_OF_P}
[ -d "$d" ] || exit {NO_PARENT}
n="$d/.jetlike.{name:032x}"
{{ : > "$n"; }} 2>/dev/null || exit {NO_TEMP}
t=$n
head -c {len} >| "$t" || exit {WRITE}
[ "$(head -c 1)" = {commit} ] || exit {ABORTED}
"#,
        p = quote(path),
        name = rand::random::<u128>(),
        commit = char::from(COMMIT),
    );
    if attrs.owner.is_none() || attrs.group.is_none() {
        match existing {
            Existing::Unknown => {
                s.push_str("[ -e \"$p\" ] && chown --reference=\"$p\" -- \"$t\" 2>/dev/null\n");
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

/// Writes `len` bytes of stdin (and their verdict) to `path` atomically (see `write_one`).
pub fn put(path: &str, attrs: &FileAttrs, len: u64) -> String {
    format!(
        "{}{}",
        write_prelude(),
        write_one(path, attrs, Existing::Unknown, len)
    )
}

/// Reports the target's facts as `stat` does (without content) and, only if they differ
/// from `wanted` (`file_status::wanted_facts`) and a file can go there, writes stdin through
/// the same atomic steps as `put`: one round trip. The test must run remotely, since the
/// content follows on the same stdin, but it is generated from the same facts that
/// `FileStatus::decide` compares, and the reply is decided by `decide`, never by the shell.
pub fn ensure(path: &str, attrs: &FileAttrs, wanted: &[(Change, String)], len: u64) -> String {
    let same: Vec<String> = wanted
        .iter()
        .map(|(change, value)| format!("[ \"${}\" = {} ]", fact_position(*change), quote(value)))
        .collect();
    format!(
        r#"p={p}
if [ -f "$p" ]; then
  {FILE_FACTS}
  if {same}; then exit 0; fi
elif [ -e "$p" ]; then echo N; exit 0
else
  {PARENT_OF_P}
  if [ -d "$d" ]; then echo 'M 1'; else echo 'M 0'; exit 0; fi
fi
{put}"#,
        p = quote(path),
        same = same.join(" && "),
        put = put(path, attrs, len)
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
    {PARENT_OF_P}
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
                let (mode, owner, group) =
                    parse_mode_owner_group(&mut stat.split(' ')).ok_or_else(bad)?;
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
    /// Of the content; its verdict byte follows it.
    pub len: u64,
}

/// Printed after each file `write_all` put in place.
const WROTE: &str = "JETLIKE-WROTE";

/// Writes several files in order from one stream on stdin (each exactly its length), each
/// through the atomic steps of `put`, stopping at the first failure.
pub fn write_all(writes: &[Write<'_>]) -> String {
    let mut s = write_prelude();
    for w in writes {
        s.push_str(&write_one(w.path, w.attrs, w.existing, w.len));
        s.push_str("echo ");
        s.push_str(WROTE);
        s.push('\n');
    }
    s
}

/// `write_all` in one perl process instead of several processes per file: each file is
/// created 0600 with `O_EXCL` and an unguessable name beside its destination, filled with
/// exactly its length from stdin, confirmed by its verdict byte, given its attributes and renamed into place, in order,
/// stopping at the first failure with the same exit codes and markers as the shell steps.
/// Only core perl (`perl-base` on Debian); the program is paths and modes, never content.
pub fn perl_write_all(writes: &[Write<'_>]) -> String {
    let mut program = perl_writer();
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

/// The body of `perl_write_all`; one `put(...)` call per file follows it. Exit codes,
/// signal exits and the marker are the shell writer's constants.
fn perl_writer() -> String {
    let mut signals = String::new();
    for (signal, code) in SIGNAL_EXITS {
        signals.push_str(&format!("$SIG{{{signal}}} = sub {{ exit {code} }};\n"));
    }
    format!(
        r#"use strict; use Fcntl;
umask 077; my $t;
END {{ unlink $t if defined $t }}
{signals}sub fail {{ print STDERR "$_[1]\n"; exit $_[0] }}
sub put {{ my ($p, $n, $mode, $preserve, $owner, $group, $name) = @_;
  my $d = $p =~ m{{^(.*)/[^/]*$}}s ? ($1 eq "" ? "/" : $1) : ".";
  -d $d or exit {NO_PARENT};
  sysopen(my $fh, "$d/.jetlike.$name", O_WRONLY|O_CREAT|O_EXCL, 0600) or fail({NO_TEMP}, "$!");
  $t = "$d/.jetlike.$name";
  while ($n > 0) {{
    my $r = sysread(STDIN, my $buf, $n < 65536 ? $n : 65536);
    $r or fail({WRITE}, defined $r ? "input ended early" : "$!");
    defined syswrite($fh, $buf) or fail({WRITE}, "$!");
    $n -= $r;
  }}
  close($fh) or fail({WRITE}, "$!");
  my $v = "";
  sysread(STDIN, $v, 1) == 1 && $v eq "{commit}" or exit {ABORTED};
  if ($preserve) {{ my @s = stat($p); chown($s[4], $s[5], $t) if @s; }}
  if (defined $mode) {{ chmod($mode, $t) or fail({ATTRS}, "chmod: $!"); }}
  if (defined $owner) {{
    my $u = $owner =~ /^\d+$/ ? $owner : getpwnam($owner);
    defined $u or fail({ATTRS}, "no such user $owner");
    chown($u, -1, $t) or fail({ATTRS}, "chown $owner: $!");
  }}
  if (defined $group) {{
    my $g = $group =~ /^\d+$/ ? $group : getgrnam($group);
    defined $g or fail({ATTRS}, "no such group $group");
    chown(-1, $g, $t) or fail({ATTRS}, "chgrp $group: $!");
  }}
  rename($t, $p) or fail({RENAME}, "$!");
  undef $t;
  print "{WROTE}\n";
}}
"#,
        commit = char::from(COMMIT),
    )
}

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
        // A script that decides not to write exits without reading: a broken pipe here is
        // expected, not a failure.
        let _ = child.stdin.take().unwrap().write_all(input);
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

    /// Feeds `requests` (script, input) to `bash -s` as the persistent shell gets them, in a
    /// UTF-8 locale, and splits its output into (output, exit code) per reply. With
    /// `old_bash`, the guard of the whole-read line is false, as in a bash without `read -N`.
    fn agent_replies(old_bash: bool, requests: &[(&str, &[u8])]) -> Vec<(String, i32)> {
        use std::io::Write as _;
        let marker = agent_marker();
        let mut stream = Vec::new();
        for (script, input) in requests {
            let mut request = agent_request(script, input.len() as u64, &marker);
            if old_bash {
                request = request.replace(HAS_READ_N, "false");
            }
            stream.extend_from_slice(request.as_bytes());
            stream.extend_from_slice(input);
        }
        let mut child = std::process::Command::new("bash")
            .args(["--noprofile", "--norc", "-s"])
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&stream).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let needle = String::from_utf8(agent_needle(&marker)).unwrap();
        let mut replies = Vec::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(&needle) {
            let (output, tail) = (&rest[..at], &rest[at + needle.len()..]);
            let nl = tail.find('\n').unwrap();
            replies.push((output.to_string(), tail[..nl].parse().unwrap()));
            rest = &tail[nl + 1..];
        }
        assert_eq!(rest, "", "output after the last reply");
        replies
    }

    #[test]
    fn the_persistent_shell_runs_each_request_whole_and_alone() {
        // Large requests (read whole) and small ones (read as commands), multibyte text
        // in both: lengths are in bytes, and the task keeps its own locale.
        let pad = format!("# {}\n", "é—".repeat(200));
        let multibyte = "printf '%s\\n' 'é ü'; s=é; echo ${#s} \"[$LC_ALL]\"";
        let large = format!("{pad}{multibyte}");
        let large_input = format!("{pad}cat; echo");
        let requests: &[(&str, &[u8])] = &[
            (multibyte, b""),
            (&large, b""),
            ("  printf '%s|\\n' 'a\\b  '  ", b""),
            ("cd /; exit 3", b""),
            ("pwd; echo \"[${__jetlike_req-unset}]\"", b""),
            (
                &format!(
                    "{pad}echo \"[${{__jetlike_req-unset}}]\"; (set; env) | grep -c 'é—é—é—é—'"
                ),
                b"",
            ),
            ("cat; echo", b"input\xc3\xa9 bytes\n: 99\n"),
            (&large_input, b"more \xc3\xa9 input\n"),
            ("set -e; false; echo not reached", b""),
            ("if then", b""),
            (&format!("{pad}if then"), b""),
            ("echo still here", b""),
        ];
        assert!(agent_request(&large, 0, "M").len() > WHOLE_READ_FROM + 100);
        for old_bash in [false, true] {
            let replies = agent_replies(old_bash, requests);
            let got: Vec<(&str, i32)> = replies.iter().map(|(o, rc)| (o.as_str(), *rc)).collect();
            assert_eq!(got.len(), requests.len(), "old bash: {old_bash}");
            assert_eq!(got[0], ("é ü\n1 []\n", 0));
            assert_eq!(got[1], ("é ü\n1 []\n", 0));
            assert_eq!(got[2], ("a\\b  |\n", 0));
            assert_eq!(got[3], ("", 3));
            assert_ne!(
                got[4].0.lines().next(),
                Some("/"),
                "a cd reached the next task"
            );
            assert!(got[4].0.ends_with("[unset]\n"), "{:?}", got[4]);
            // Nothing the task can list (variables, environment) holds its own request.
            assert_eq!(got[5], ("[unset]\n0\n", 1));
            assert_eq!(got[6], ("inputé bytes\n: 99\n\n", 0));
            assert_eq!(got[7], ("more é input\n\n", 0));
            assert_eq!(got[8], ("", 1));
            assert_ne!(got[9].1, 0);
            assert_ne!(got[10].1, 0);
            assert_eq!(got[11], ("still here\n", 0));
        }
    }

    #[test]
    fn a_script_with_a_nul_byte_is_refused() {
        assert!(refuse_nul("echo a\0b").is_err());
        assert!(refuse_nul("echo ab").is_ok());
    }

    /// Contents back to back on stdin, each confirmed by its verdict byte.
    fn framed(contents: &[&[u8]]) -> Vec<u8> {
        contents
            .iter()
            .flat_map(|c| [*c, &[COMMIT]])
            .flatten()
            .copied()
            .collect()
    }

    /// A verdict other than `COMMIT` leaves nothing behind, in both writers: the first file
    /// is written, the second (aborted) neither replaces its destination nor leaves a temp
    /// file, and the third is not attempted.
    #[test]
    fn an_aborted_write_leaves_nothing() {
        let attrs = FileAttrs::default();
        for perl in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path().to_str().unwrap().to_string();
            std::fs::write(format!("{d}/b"), "old").unwrap();
            let paths = [format!("{d}/a"), format!("{d}/b"), format!("{d}/c")];
            let writes: Vec<Write<'_>> = paths
                .iter()
                .map(|p| Write {
                    path: p,
                    attrs: &attrs,
                    existing: Existing::Unknown,
                    len: 3,
                })
                .collect();
            let script = if perl {
                perl_write_all(&writes)
            } else {
                write_all(&writes)
            };
            let (rc, done, _) = run_writer(&script, b"AAA1BB\x000CCC0");
            assert_eq!((rc, done), (ABORTED, 1), "perl={perl}");
            let files = state(dir.path());
            let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
            assert_eq!(names, ["a", "b"], "perl={perl}");
            assert_eq!(files[1].1, b"old", "perl={perl}");
        }
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
                        len: contents[0].len() as u64,
                    },
                    Write {
                        path: &paths[1],
                        attrs: &attrs_600,
                        existing: Existing::File { mode: 0o604 },
                        len: contents[1].len() as u64,
                    },
                    Write {
                        path: &paths[2],
                        attrs: &attrs_640,
                        existing: Existing::Missing,
                        len: contents[2].len() as u64,
                    },
                    Write {
                        path: &paths[3],
                        attrs: &attrs_owned,
                        existing: Existing::Missing,
                        len: contents[3].len() as u64,
                    },
                ];
                let script = if perl {
                    perl_write_all(&writes)
                } else {
                    write_all(&writes)
                };
                let (rc, done, rest) = run_writer(&script, &framed(&contents));
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

    /// File name, content before, wanted attributes, and `(created, changes)` (`None`:
    /// refused).
    type Case<'a> = (
        &'a str,
        Option<&'a [u8]>,
        FileAttrs,
        Option<(bool, &'a [&'a str])>,
    );

    /// The shell test of `ensure` and `FileStatus::decide` come from the same facts: the
    /// script writes exactly when `decide`, given the facts it reported, says "not matched".
    #[test]
    fn ensure_writes_exactly_when_decide_says_so() {
        use crate::connection::file_status::wanted_facts;
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        let new = b"new content\n";
        let sha = hex::encode(Sha256::digest(new));
        let mode_640 = FileAttrs {
            mode: Some(0o640),
            ..Default::default()
        };
        let cases: [Case<'_>; 5] = [
            ("missing", None, FileAttrs::default(), Some((true, &[]))),
            ("same", Some(new), FileAttrs::default(), Some((false, &[]))),
            (
                "old",
                Some(b"old"),
                FileAttrs::default(),
                Some((false, &["content"])),
            ),
            ("mode", Some(new), mode_640, Some((false, &["mode"]))),
            ("nodir/x", None, FileAttrs::default(), None),
        ];
        for (name, before, attrs, want) in cases {
            let path = format!("{d}/{name}");
            if let Some(b) = before {
                std::fs::write(&path, b).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
            let script = ensure(&path, &attrs, &wanted_facts(&sha, &attrs), new.len() as u64);
            let (rc, _, reply) = run_writer(&script, &framed(&[new]));
            assert_eq!(rc, 0, "{name}: {reply}");
            let decided = parse_stat(reply.as_bytes(), false)
                .unwrap()
                .decide(&path, &sha, &attrs);
            let written = std::fs::read(&path).ok().as_deref() == Some(&new[..]);
            match (decided, want) {
                (Ok(e), Some((created, changes))) => {
                    let got: Vec<&str> = e.changes.iter().map(String::as_str).collect();
                    assert_eq!((e.created, &got[..]), (created, changes), "{name}");
                    assert_eq!(written, !e.matched() || before == Some(new), "{name}");
                    if !e.matched() {
                        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                        assert_eq!(mode & 0o777, attrs.mode.unwrap_or(0o644), "{name}");
                    }
                }
                (Err(_), None) => assert!(!written, "{name}"),
                (got, _) => panic!("{name}: {got:?}"),
            }
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
        let f = parse_stat(b"F 640 root adm abcd\nS 4\nbody", true).unwrap();
        assert_eq!(
            f,
            FileStatus::File {
                sha256: "abcd".into(),
                mode: 0o640,
                owner: "root".into(),
                group: "adm".into(),
                content: Some(OldContent::Bytes(b"body".to_vec()))
            }
        );
        let big = parse_stat(b"F 640 root adm abcd\nS 999999999\n", true).unwrap();
        assert!(matches!(
            big,
            FileStatus::File {
                content: Some(OldContent::TooLarge { size: 999_999_999 }),
                ..
            }
        ));
        assert!(parse_stat(b"garbage", false).is_err());
    }
}
