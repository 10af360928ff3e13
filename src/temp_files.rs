//! Temporary files jetlike is writing on this machine right now (`.jetlike.*` beside a
//! destination), so that a second interrupt, which exits at once without unwinding, still
//! removes them: a half-written file may hold part of a secret.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

fn registry() -> &'static Mutex<HashSet<PathBuf>> {
    static R: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// A registered temporary file; dropping the guard forgets it (the writer renamed or removed
/// it by then).
pub struct InFlight(PathBuf);

impl InFlight {
    pub fn register(path: &Path) -> InFlight {
        registry()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_path_buf());
        InFlight(path.to_path_buf())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        registry()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.0);
    }
}

/// Removes every temporary file still being written (before an immediate exit).
pub fn remove_all() {
    let paths: Vec<PathBuf> = registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .drain()
        .collect();
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}
