//! The events the run reports: one type per thing a person or a JSON consumer is told
//! (`Event`, the per-task `TaskEvent` and its `Failure`, a host's `HostRecap`), plus the
//! `LiveHead` naming whose command output a live line is. Plain data, serialised as JSON Lines.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::status::Status;

/// Why a task failed, as shown under it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<i32>,
    /// The last lines of the output (at most `capture::TAIL_LINES`), masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    /// How many earlier lines `out` leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_lines_omitted: Option<usize>,
    pub message: String,
}

/// One task (one item of it) on one host.
#[derive(Debug, Clone, Serialize)]
pub struct TaskEvent {
    pub play: String,
    pub host: String,
    pub task: String,
    pub module: &'static str,
    pub number: usize,
    pub total: usize,
    pub status: Status,
    /// Whether the task counts as changed (a shell command may be marked unchanged).
    pub changed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<i32>,
    /// For sensitive tasks: how many lines of output were suppressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_lines: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// Content diff (check mode, `--diff`): structured in JSON, unified text for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Box<crate::diff::FileDiff>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// What `!echo` or `!debug` says (masked like everything else; never for a sensitive task).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    pub ignored: bool,
}

/// The counts of one host at the end of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostRecap {
    pub ok: usize,
    pub changed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub unreachable: usize,
    /// Failed with `ignore_errors`: neither ok nor failed.
    pub ignored: usize,
}

/// Who a live line belongs to. It lives here, with the events, so that `capture` (which
/// produces live lines) depends on `output` and not the other way round.
#[derive(Debug, Clone)]
pub struct LiveHead {
    pub play: String,
    pub host: String,
    pub task: String,
    pub number: usize,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Everything the run reports, in the order it happens.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Play {
        play: String,
        hosts: usize,
        check: bool,
    },
    Task(Box<TaskEvent>),
    /// Command output as it arrives (`-vvv`): whole lines, already masked, of one task on one
    /// host. A line longer than `capture::MAX_LINE_PIECE` comes in pieces: `partial` says the
    /// last line goes on in the next event, `continued` that the first one goes on from the
    /// previous event.
    Output {
        play: String,
        host: String,
        task: String,
        number: usize,
        lines: Vec<String>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        continued: bool,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        partial: bool,
    },
    /// The footer of a check (or `--diff`) run, from the run's one diff tally
    /// (`run::recorder`).
    DiffSummary {
        files: usize,
        secrets: usize,
        check: bool,
        /// Secret values that may change and are not counted as changing.
        secrets_may_change: usize,
        /// Secret-bearing files that could not be compared at all.
        #[serde(skip_serializing_if = "is_zero")]
        secret_files_not_compared: usize,
    },
    Unreachable {
        play: String,
        host: String,
        message: String,
    },
    Warning {
        message: String,
    },
    Recap {
        hosts: BTreeMap<String, HostRecap>,
    },
}
