//! How events look to a person: one line per task with its mark and status, the details under
//! it (command, rc, error, output tail, diff), the play header, the diff footer and the recap
//! table. Pure string building; the sink (`output/mod.rs`) masks and writes the result.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::event::{Event, Failure, HostRecap, TaskEvent};
use crate::status::Status;

/// "" for one, "s" for any other count.
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Renders events for a terminal (colour only when `color`).
pub(super) struct Human {
    pub(super) color: bool,
    pub(super) verbosity: u8,
}

impl Human {
    /// `s` in the ANSI colour `code`, when colour is on.
    pub(super) fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub(super) fn event(&self, ev: &Event) -> String {
        match ev {
            Event::Play { play, hosts, check } => {
                let mode = if *check {
                    " (check mode: nothing will change)"
                } else {
                    ""
                };
                format!(
                    "{} {play} ▸ {hosts} host{}{mode}\n",
                    self.paint("1", "PLAY"),
                    plural(*hosts)
                )
            }
            Event::Task(t) => self.task(t),
            Event::Output {
                host,
                lines,
                continued,
                ..
            } => output_lines(host, lines, *continued),
            Event::Unreachable { host, message, .. } => format!(
                "{} {host} => unreachable: {message}\n",
                self.paint("31", "!")
            ),
            Event::Warning { message } => format!("warning: {message}\n"),
            Event::DiffSummary {
                files,
                secrets,
                check,
                secrets_may_change,
                secret_files_not_compared,
            } => diff_summary(
                *files,
                *secrets,
                *check,
                *secrets_may_change,
                *secret_files_not_compared,
            ),
            Event::Recap { hosts } => self.recap(hosts),
        }
    }

    fn task(&self, t: &TaskEvent) -> String {
        let (mark, code) = match t.status {
            Status::Failed if t.ignored => ("✗", "33"),
            Status::Failed => ("✗", "31"),
            Status::Skipped => ("-", "2"),
            _ if t.changed && t.status != Status::Matched => ("✓", "33"),
            _ => ("✓", "32"),
        };
        let mut status = t.status.label().to_string();
        if !t.changes.is_empty() {
            let _ = write!(status, " ({})", t.changes.join(", "));
        }
        if t.ignored {
            status.push_str(" (ignored)");
        }
        let item = t
            .item
            .as_ref()
            .map(|i| format!(" [item: {i}]"))
            .unwrap_or_default();
        let mut s = format!(
            "{} {} [{}/{}] {}{item} => {}\n",
            self.paint(code, mark),
            t.host,
            t.number,
            t.total,
            t.task,
            self.paint(code, &status)
        );
        if let Some(cmd) = &t.cmd {
            let _ = writeln!(s, "    cmd: {cmd}");
        }
        if let Some(msg) = &t.msg {
            for line in msg.lines() {
                let _ = writeln!(s, "    {line}");
            }
        }
        if let Some(f) = &t.failure {
            failure(&mut s, f, t.cmd.is_none());
        } else if let (Some(rc), true) = (t.rc, self.verbosity >= 3) {
            let _ = writeln!(s, "    rc: {rc}");
        }
        if let Some(n) = t.suppressed_lines {
            let _ = writeln!(
                s,
                "    output suppressed: {n} line{} (sensitive task)",
                plural(n)
            );
        }
        if let Some(d) = &t.diff {
            let created = matches!(t.status, Status::Created | Status::WouldCreate);
            self.diff(&mut s, &d.render(created));
        }
        s
    }

    /// The unified diff, indented, its added, removed and hunk lines coloured.
    fn diff(&self, s: &mut String, rendered: &str) {
        for line in rendered.lines() {
            let code = if line.starts_with('+') && !line.starts_with("+++") {
                "32"
            } else if line.starts_with('-') && !line.starts_with("---") {
                "31"
            } else if line.starts_with("@@") {
                "36"
            } else {
                ""
            };
            let l = if code.is_empty() {
                line.to_string()
            } else {
                self.paint(code, line)
            };
            let _ = writeln!(s, "    {l}");
        }
    }

    fn recap(&self, hosts: &BTreeMap<String, HostRecap>) -> String {
        let w = hosts.keys().map(String::len).max().unwrap_or(4).max(4);
        let mut s = format!(
            "{}\n  {:<w$}  {:>6}  {:>7}  {:>6}  {:>7}  {:>11}  {:>7}\n",
            self.paint("1", "RECAP"),
            "host",
            "ok",
            "changed",
            "failed",
            "skipped",
            "unreachable",
            "ignored"
        );
        for (h, r) in hosts {
            let line = format!(
                "  {h:<w$}  {:>6}  {:>7}  {:>6}  {:>7}  {:>11}  {:>7}",
                r.ok, r.changed, r.failed, r.skipped, r.unreachable, r.ignored
            );
            let code = if r.failed > 0 || r.unreachable > 0 {
                "31"
            } else if r.changed > 0 {
                "33"
            } else {
                "32"
            };
            s.push_str(&self.paint(code, &line));
            s.push('\n');
        }
        if hosts.len() > TOTALS_FROM {
            s.push_str(&totals(hosts, w));
        }
        s
    }
}

/// Past this many hosts the recap ends with a line of totals (a long table is not read).
const TOTALS_FROM: usize = 20;

/// The recap's totals line: the sum of every column, and how many hosts each concerns.
fn totals(hosts: &BTreeMap<String, HostRecap>, w: usize) -> String {
    let sum = |f: fn(&HostRecap) -> usize| hosts.values().map(f).sum::<usize>();
    let with = |f: fn(&HostRecap) -> usize| hosts.values().filter(|r| f(r) > 0).count();
    let label = format!("{} hosts", super::failures::thousands(hosts.len()));
    format!(
        "  {label:<w$}  {:>6}  {:>7}  {:>6}  {:>7}  {:>11}  {:>7}\n  ({} host{} changed, {} failed, {} unreachable)\n",
        sum(|r| r.ok),
        sum(|r| r.changed),
        sum(|r| r.failed),
        sum(|r| r.skipped),
        sum(|r| r.unreachable),
        sum(|r| r.ignored),
        super::failures::thousands(with(|r| r.changed)),
        plural(with(|r| r.changed)),
        with(|r| r.failed),
        with(|r| r.unreachable),
    )
}

/// The failure details under a task line (`show_cmd`: the event did not show it already).
fn failure(s: &mut String, f: &Failure, show_cmd: bool) {
    if show_cmd {
        if let Some(cmd) = &f.cmd {
            let _ = writeln!(s, "    cmd: {cmd}");
        }
    }
    if let Some(rc) = f.rc {
        let _ = writeln!(s, "    rc: {rc}");
    }
    let _ = writeln!(s, "    error: {}", f.message);
    if let Some(out) = &f.out {
        match f.out_lines_omitted {
            Some(n) if n > 0 => {
                let _ = writeln!(
                    s,
                    "    out (last {} lines; {n} earlier line{} not shown): |",
                    out.lines().count(),
                    plural(n)
                );
            }
            _ => s.push_str("    out: |\n"),
        }
        for line in out.lines() {
            let _ = writeln!(s, "      {line}");
        }
    }
}

/// Live command output lines, each prefixed by its host (`+` on a line continued from the
/// previous event).
fn output_lines(host: &str, lines: &[String], continued: bool) -> String {
    let mut s = String::with_capacity(lines.iter().map(|l| l.len() + host.len() + 6).sum());
    for (i, l) in lines.iter().enumerate() {
        let mark = if i == 0 && continued { '+' } else { '|' };
        s.push_str("  ");
        s.push_str(host);
        s.push(' ');
        s.push(mark);
        s.push(' ');
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// The footer of a check or `--diff` run.
fn diff_summary(
    files: usize,
    secrets: usize,
    check: bool,
    may: usize,
    not_compared: usize,
) -> String {
    let verb = if check { "would change" } else { "changed" };
    let mut s = format!(
        "{files} file{} {verb}; {secrets} secret value{} {verb}",
        plural(files),
        plural(secrets)
    );
    if may > 0 {
        let verb = if check {
            "may change"
        } else {
            "may have changed"
        };
        let _ = write!(s, ", {may} {verb}");
    }
    if not_compared > 0 {
        let _ = write!(
            s,
            "; secrets in {not_compared} file{} could not be compared",
            plural(not_compared)
        );
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_recap_ends_with_totals() {
        let mut hosts = BTreeMap::new();
        for i in 0..2000 {
            let r = HostRecap {
                ok: 3,
                changed: usize::from(i % 2 == 0),
                failed: usize::from(i < 5),
                ..HostRecap::default()
            };
            hosts.insert(format!("node-{i:04}"), r);
        }
        let h = Human {
            color: false,
            verbosity: 0,
        };
        let out = h.recap(&hosts);
        let tail: Vec<&str> = out.lines().rev().take(2).collect();
        assert_eq!(
            tail,
            [
                "  (1,000 hosts changed, 5 failed, 0 unreachable)",
                "  2,000 hosts    6000     1000       5        0            0        0",
            ]
        );
        hosts.retain(|k, _| k.as_str() < "node-0010");
        assert!(!h.recap(&hosts).contains("hosts changed"));
    }
}
