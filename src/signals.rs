//! SIGINT, SIGTERM and SIGHUP: a CI job being cancelled or a closed terminal stops a run as
//! cleanly as Ctrl-C does. The first signal sets the cancel flag (in-flight work finishes,
//! nothing new starts); the second exits at once with 130, removing local temporary files.
//!
//! The signals are awaited on a thread of their own, with its own small runtime, so that a
//! run whose workers are busy (hashing or writing a large file) still stops at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::output::Output;

/// The exit code of an interrupted run.
pub const INTERRUPTED: i32 = crate::exit_code::ExitCode::Interrupted.code();

struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Option<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(Signals {
            int: signal(SignalKind::interrupt()).ok()?,
            term: signal(SignalKind::terminate()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
    }
}

/// Starts watching; returns once the handlers are installed, so no early signal is lost.
pub fn watch(cancel: Arc<AtomicBool>, out: Arc<Output>) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("jetlike-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready_tx.send(());
                return;
            };
            rt.block_on(async move {
                let signals = Signals::new();
                let _ = ready_tx.send(());
                let Some(mut signals) = signals else {
                    return;
                };
                signals.next().await;
                cancel.store(true, Ordering::SeqCst);
                out.warn(
                    "interrupted: finishing in-flight work, starting nothing new \
                     (interrupt again to stop at once)",
                );
                signals.next().await;
                crate::temp_files::remove_all();
                out.warn("interrupted again: stopping now");
                crate::connection::local::kill_all_sessions();
                // The masters see their client gone and exit shortly (MASTER_IDLE_SECS).
                std::process::exit(INTERRUPTED);
            });
        });
    if spawned.is_ok() {
        let _ = ready_rx.recv();
    }
}
