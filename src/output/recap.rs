//! The recap: per host, how many tasks were ok, changed, failed, skipped, unreachable or
//! ignored, accumulated from the events as the sink sees them.

use std::collections::BTreeMap;

use super::event::{HostRecap, TaskEvent};
use crate::status::Status;

/// The counts of every host seen so far.
#[derive(Debug, Default)]
pub(super) struct Recap {
    hosts: BTreeMap<String, HostRecap>,
}

impl Recap {
    pub(super) fn unreachable(&mut self, host: &str) {
        self.hosts.entry(host.to_string()).or_default().unreachable += 1;
    }

    pub(super) fn task(&mut self, t: &TaskEvent) {
        let h = self.hosts.entry(t.host.clone()).or_default();
        match t.status {
            Status::Failed if t.ignored => h.ignored += 1,
            Status::Failed => h.failed += 1,
            Status::Skipped => h.skipped += 1,
            _ => {
                h.ok += 1;
                if t.changed {
                    h.changed += 1;
                }
            }
        }
    }

    pub(super) fn hosts(&self) -> BTreeMap<String, HostRecap> {
        self.hosts.clone()
    }
}
