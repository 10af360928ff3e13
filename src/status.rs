//! `Status`: what happened to one task on one host. A model type at the bottom of the layers,
//! so that modules (which decide it) and output (which shows it) both import it from below.

use serde::Serialize;

/// What happened to one task on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Created,
    Modified,
    Matched,
    /// A shell command ran (Jet's "complete").
    Complete,
    Skipped,
    Failed,
    WouldCreate,
    WouldModify,
    WouldRun,
}

impl Status {
    /// The words shown to a person (`would create`, …).
    pub fn label(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Modified => "modified",
            Status::Matched => "matched",
            Status::Complete => "complete",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::WouldCreate => "would create",
            Status::WouldModify => "would modify",
            Status::WouldRun => "would run",
        }
    }
}
