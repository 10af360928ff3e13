//! Shell-command detectors for lint: downloads piped into an interpreter, and commands that
//! create private directories. (Secret-looking text is [`crate::credentials`]'s.)

use std::sync::OnceLock;

use regex::Regex;

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
                let f = InstallFlags::parse(prog, args);
                let closed = f.mode.as_deref().is_some_and(mode_closes_others);
                // `install -d` sets the mode on an existing directory too; `mkdir -p` does not.
                let reliable = if prog == "install" {
                    f.directory
                } else {
                    !f.parents
                };
                if closed && reliable {
                    out.extend(f.targets);
                }
            }
            "chmod" => {
                let args: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
                if let Some((mode, targets)) = args.split_first() {
                    if mode_closes_others(mode) {
                        out.extend(targets.iter().map(|t| (*t).clone()));
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

/// The options of an `install` or `mkdir` command that decide what it leaves closed.
struct InstallFlags {
    mode: Option<String>,
    /// `install -d` (always true for `mkdir`).
    directory: bool,
    /// `mkdir -p`.
    parents: bool,
    targets: Vec<String>,
}

impl InstallFlags {
    fn parse(prog: &str, args: &[String]) -> Self {
        let mut f = InstallFlags {
            mode: None,
            directory: prog == "mkdir",
            parents: false,
            targets: vec![],
        };
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            if let Some(m) = a.strip_prefix("--mode=") {
                f.mode = Some(m.to_string());
            } else if a == "--directory" {
                f.directory = true;
            } else if a == "--parents" {
                f.parents = true;
            } else if a == "-m" || a == "--mode" {
                f.mode = args.get(i + 1).cloned();
                i += 1;
            } else if let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) {
                i += f.short_flags(flags, args.get(i + 1));
            } else {
                f.targets.push(a.to_string());
            }
            i += 1;
        }
        f
    }

    /// Combined short flags: `-dm700`, `-pm 0700`, `-d`; how many following arguments they
    /// took (the mode of a trailing `m`).
    fn short_flags(&mut self, flags: &str, next: Option<&String>) -> usize {
        for (ci, ch) in flags.char_indices() {
            match ch {
                'd' => self.directory = true,
                'p' => self.parents = true,
                'm' => {
                    let inline = &flags[ci + 1..];
                    if inline.is_empty() {
                        self.mode = next.cloned();
                        return 1;
                    }
                    self.mode = Some(inline.to_string());
                    return 0;
                }
                _ => {}
            }
        }
        0
    }
}

/// An octal mode without any bit for others, or a symbolic one taking every right from them.
fn mode_closes_others(mode: &str) -> bool {
    let m = mode.trim_start_matches("0o");
    if !m.is_empty() && m.chars().all(|c| c.is_digit(8)) {
        return u32::from_str_radix(m, 8).is_ok_and(|b| b.trailing_zeros() >= 3);
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
                closes = true;
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
