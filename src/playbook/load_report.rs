//! What loading found wrong, each problem with the `jetlike lint` finding code it maps to.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{Diagnostic, Error};

/// Everything found wrong while loading, each problem with the `jetlike lint` finding code it
/// maps to, plus what a linter needs to keep going after a problem.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub problems: Vec<(&'static str, Diagnostic)>,
    /// (playbook, play index) of plays some of whose tasks or handlers did not load: checks
    /// across tasks (notify/subscribe) would be unreliable there.
    pub incomplete: BTreeSet<(PathBuf, usize)>,
    /// Files the playbooks name (`vars_files`, role files), whether or not they loaded.
    pub named_files: BTreeSet<PathBuf>,
    /// Role directories found, whether or not their files loaded.
    pub role_dirs: BTreeSet<PathBuf>,
}

impl LoadReport {
    pub(crate) fn push(&mut self, code: &'static str, d: Diagnostic) {
        self.problems.push((code, d));
    }
    /// Every diagnostic of `e`, located at least in `file`.
    pub(crate) fn push_all(&mut self, code: &'static str, e: Error, file: &Path) {
        match e {
            Error::Invalid(ds) => {
                for d in ds {
                    self.push(code, d.in_file(file));
                }
            }
            other => self.push(code, Diagnostic::new(other.to_string()).in_file(file)),
        }
    }
}
