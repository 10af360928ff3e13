//! Shell and handler hygiene warnings: `unsafe: true`, download-and-run pipelines, notify
//! names no handler subscribes to and handlers nothing notifies.

use std::collections::BTreeSet;

use super::linter::Linter;
use super::scan;
use crate::playbook::{FieldStep, LoadedPlay, LoadedTask};

/// The message and hint of `isdefined-quoted` for `name`.
pub(super) fn isdefined_quoted_finding(name: &str, what: &str) -> (String, String) {
    (
        format!(
            "`isdefined \"{name}\"` in {what} is always true: isdefined tests the value of its argument (as in Jet), and a quoted name is a string, always defined"
        ),
        format!("write `(isdefined {name})` to test whether the variable `{name}` is defined"),
    )
}

impl Linter<'_> {
    /// `isdefined "name"` in a task's templated fields: always true, in Jet and here.
    pub(super) fn isdefined_quoted(&mut self, t: &LoadedTask) {
        for (field, text) in t.task.templated_fields() {
            for (name, line, column) in crate::template::quoted_isdefined(text) {
                let offset = crate::policy::byte_offset(text, line, column);
                let what = format!(
                    "{} of task {:?}",
                    crate::playbook::field_path_string(&field),
                    t.task.display_name()
                );
                let (message, hint) = isdefined_quoted_finding(&name, &what);
                let at = t.field_location(&field, Some((text, offset)));
                self.report.warn("isdefined-quoted", message, at, hint);
            }
        }
    }

    pub(super) fn shell_hygiene(&mut self, t: &LoadedTask, cmd: &str, unsafe_: bool) {
        use FieldStep::Key as K;
        if unsafe_ {
            self.report.warn(
                "shell-unsafe",
                "`unsafe: true` turns off the screening of substituted values for shell metacharacters".into(),
                t.field_location(&[K("unsafe")], None),
                "quote-proof the variables instead, or keep the values under your control".into(),
            );
        }
        if let Some(off) = scan::pipe_to_shell(cmd) {
            self.report.warn(
                "shell-pipe-to-shell",
                "downloads a script and runs it unverified (curl ... | sh, sh -c \"$(curl ...)\", bash <(curl ...))".into(),
                t.field_location(&[K("cmd")], Some((cmd, off))),
                "download to a file, verify a checksum or signature, then run it".into(),
            );
        }
    }

    pub(super) fn notifications(&mut self, play: &LoadedPlay) {
        use FieldStep::Key as K;
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
                    self.report.warn(
                        "notify-without-handler",
                        format!(
                            "task {:?} notifies {n:?}, which no handler subscribes to",
                            t.task.display_name()
                        ),
                        t.field_location(&[K("and"), K("notify")], None),
                        format!("add a handler with `with: {{subscribe: {n}}}`, or fix the name"),
                    );
                }
            }
        }
        for h in &play.handlers {
            if let Some(s) = h.task.with().and_then(|w| w.subscribe.as_deref()) {
                if !notified.contains(s) && !notified.iter().any(|n| n.contains("{{")) {
                    self.report.warn(
                        "handler-never-notified",
                        format!("handler {:?} subscribes to {s:?}, which no task notifies", h.task.display_name()),
                        h.field_location(&[K("with"), K("subscribe")], None),
                        format!("add `and: {{notify: {s}}}` to the task that should trigger it, or remove the handler"),
                    );
                }
            }
        }
    }
}
