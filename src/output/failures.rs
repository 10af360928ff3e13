//! The failure summary at the end of a human-format run: one block per distinct error (a
//! task's failure message, or why a host was unreachable), with how many hosts hit it and
//! the first few of their names, so 2,000 failing hosts read as a handful of causes. The
//! messages are grouped after masking (two secrets never split a group, so the grouping
//! tells nothing about them) and with the host's own name and IPv4 addresses taken out (an
//! unreachable message names its host). JSON output has the per-host events instead.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::mask::Masker;

/// Host names shown per group; the rest are counted.
const SHOWN_HOSTS: usize = 5;

/// Hosts per (what failed, masked and generalised message).
#[derive(Debug, Default)]
pub(super) struct Failures {
    groups: BTreeMap<(String, String), BTreeSet<String>>,
}

fn ipv4() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\b\d{1,3}(\.\d{1,3}){3}\b").unwrap())
}

/// `message` as its group knows it: masked, `host` and IPv4 addresses replaced.
fn generalise(masker: &Masker, host: &str, message: &str) -> String {
    let masked = masker.mask_str(message);
    let named = if host.is_empty() {
        masked
    } else {
        masked.replace(host, "<host>")
    };
    ipv4().replace_all(&named, "<address>").into_owned()
}

impl Failures {
    /// `host` failed: `what` is "unreachable" or the task's name.
    pub(super) fn add(&mut self, masker: &Masker, what: &str, host: &str, message: &str) {
        let key = (
            masker.mask_str(what),
            generalise(masker, host, message.trim()),
        );
        self.groups.entry(key).or_default().insert(host.to_string());
    }

    /// The summary (empty when nothing failed); the sink masks it again like all output.
    pub(super) fn render(&self, heading: &str) -> String {
        if self.groups.is_empty() {
            return String::new();
        }
        let hosts: BTreeSet<&String> = self.groups.values().flatten().collect();
        let mut groups: Vec<_> = self.groups.iter().collect();
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(b.0)));
        let mut s = format!(
            "{heading} ({} host{}, {} distinct error{})\n",
            thousands(hosts.len()),
            plural(hosts.len()),
            thousands(groups.len()),
            plural(groups.len())
        );
        for ((what, message), hosts) in groups {
            let mut lines = message.lines();
            let first = lines.next().unwrap_or_default();
            let _ = writeln!(s, "  {what}: {first}");
            for l in lines {
                let _ = writeln!(s, "    {l}");
            }
            let names: Vec<&str> = hosts.iter().take(SHOWN_HOSTS).map(String::as_str).collect();
            let _ = write!(
                s,
                "    {} host{}: {}",
                thousands(hosts.len()),
                plural(hosts.len()),
                names.join(", ")
            );
            if hosts.len() > SHOWN_HOSTS {
                let _ = write!(s, " … and {} more", thousands(hosts.len() - SHOWN_HOSTS));
            }
            s.push('\n');
        }
        s
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `n` with a comma every three digits (1,995).
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut s = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            s.push(',');
        }
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn counts_get_commas() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1995), "1,995");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn hosts_are_grouped_by_their_masked_generalised_error() {
        let masker = Masker::new([Secret::new("ENV_A", "hunter2-secret")].iter());
        let mut f = Failures::default();
        for i in 0..2000 {
            let h = format!("node-{i:04}");
            let addr = format!("10.0.{}.{}", i / 256, i % 256);
            f.add(
                &masker,
                "unreachable",
                &h,
                &format!("cannot connect to {h} ({addr}:22): Connection refused"),
            );
        }
        f.add(&masker, "deploy", "a", "token hunter2-secret rejected");
        f.add(&masker, "deploy", "b", "token hunter2-secret rejected");
        let out = f.render("FAILURES");
        assert!(!out.contains("hunter2"), "{out}");
        insta::assert_snapshot!(out, @r"
        FAILURES (2,002 hosts, 2 distinct errors)
          unreachable: cannot connect to <host> (<address>:22): Connection refused
            2,000 hosts: node-0000, node-0001, node-0002, node-0003, node-0004 … and 1,995 more
          deploy: token *** rejected
            2 hosts: a, b
        ");
    }
}
