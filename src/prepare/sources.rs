//! The sources a task names, during the pre-run checks: a rendered `src` resolved by the one
//! resolver (`crate::source`) with located diagnostics, and copy sources hashed once (read in
//! pieces, never held whole).

use std::path::PathBuf;
use std::sync::Arc;

use super::{src_diagnostic, Checker};
use crate::error::{Diagnostic, DiagnosticCode};
use crate::field_path::FieldStep;
use crate::playbook::{LoadedPlay, LoadedTask};
use crate::source::{resolve_source, SourceError, SourceKind, KERNEL_HELP};

impl Checker<'_> {
    /// The path a rendered `src` resolves to, or the located diagnostic (once) saying why
    /// there is none: a kernel or device tree, or not found where it was looked for.
    pub(super) fn resolve_src(
        &mut self,
        play: &LoadedPlay,
        task: &LoadedTask,
        kind: SourceKind,
        src: &str,
    ) -> Option<PathBuf> {
        let role = task.origin.role.as_deref();
        match resolve_source(kind, play, role, src).into_result(kind, src) {
            Ok(p) => Some(p),
            Err(e @ SourceError::Kernel { .. }) => {
                self.once(
                    format!("kernel {kind:?} {src}"),
                    src_diagnostic(play, task, e.to_string()).help(KERNEL_HELP),
                );
                None
            }
            Err(SourceError::Missing { tried, .. }) => {
                let searched = tried
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                self.once(
                    format!("missing {kind:?} {src} {:?}", role.map(|r| &r.name)),
                    src_diagnostic(
                        play,
                        task,
                        format!("{} source {src:?} not found", task.task.module()),
                    )
                    .help(format!("searched: {searched}")),
                );
                None
            }
        }
    }

    /// Hashes a copy source once (through the one bounded reader) for every task that uses it.
    pub(super) fn hash_copy_source(&mut self, task: &LoadedTask, path: PathBuf) {
        let std::collections::hash_map::Entry::Vacant(slot) = self.prepared.files.entry(path)
        else {
            return;
        };
        let path = slot.key().clone();
        match crate::connection::SourceFile::hash(&path) {
            Ok(b) => {
                slot.insert(Arc::new(b));
            }
            Err(e) => self.once(
                format!("read {}", path.display()),
                Diagnostic::new(format!("cannot read copy source: {e}"))
                    .code(DiagnosticCode::MissingFile)
                    .at(Some(task.field_location(&[FieldStep::Key("src")], None)))
                    .help(e.help()),
            ),
        }
    }
}
