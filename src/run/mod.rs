//! Running plays: the `Runner` (plays, host batches, cancellation) over a `ConnectionPool`,
//! one `HostRun` per host and play walking its task list, consecutive file tasks sent in one
//! batch, each task attempted (items, condition, privilege, retries, check/diff/apply), and a
//! `Recorder` that turns all of it into events and keeps the one diff tally.
//!
//! Layers inside: `runner` → `host_run` → `file_batch`, `task_attempt` → `recorder`,
//! `connection_pool`.

mod connection_pool;
mod file_batch;
mod host_run;
mod recorder;
mod runner;
mod task_attempt;

pub use self::runner::{Outcome, RunOptions, Runner, SshOptions};
