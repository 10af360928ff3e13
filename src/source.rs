//! Where a `!copy` or `!template` `src` is read from. One resolver serves the pre-run checks,
//! the run itself and lint, so the rules cannot drift apart: the search order (the role's
//! directory, beside the playbook, the project's), kernel and device trees refused (lexically
//! and once symlinks are resolved), and the first existing non-directory found (the reader,
//! `crate::input_file`, then refuses anything but a regular file).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::playbook::{LoadedPlay, LoadedRole};

/// The directory a relative `src` is looked for under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Files,
    Templates,
}

impl SourceKind {
    pub fn dir(self) -> &'static str {
        match self {
            SourceKind::Files => "files",
            SourceKind::Templates => "templates",
        }
    }

    fn module(self) -> &'static str {
        match self {
            SourceKind::Files => "copy",
            SourceKind::Templates => "template",
        }
    }
}

/// Kernel and device trees a `src` may never come from: `/proc/self/environ` or
/// `/proc/self/mem` would ship jetlike's own environment or memory to a target.
const KERNEL_DIRS: &[&str] = &["/proc", "/sys", "/dev"];

/// What a `src` resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Found(PathBuf),
    /// A candidate lies under a kernel or device tree (the path found there).
    Kernel(PathBuf),
    /// Not found; the paths tried.
    Missing(Vec<PathBuf>),
}

/// Why a `src` cannot be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error("{module} source {src:?} is {}, under /proc, /sys or /dev: refusing to read it", path.display())]
    Kernel {
        module: &'static str,
        src: String,
        path: PathBuf,
    },
    #[error("{module} source {src:?} not found; searched: {}", list(tried))]
    Missing {
        module: &'static str,
        src: String,
        tried: Vec<PathBuf>,
    },
}

/// The help text for a [`SourceError::Kernel`].
pub const KERNEL_HELP: &str = "kernel and device files (such as /proc/self/environ) can hold jetlike's own environment and secrets; copy a regular file from files/";

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Resolved {
    /// The path, or why there is none.
    pub fn into_result(self, kind: SourceKind, src: &str) -> Result<PathBuf, SourceError> {
        match self {
            Resolved::Found(p) => Ok(p),
            Resolved::Kernel(path) => Err(SourceError::Kernel {
                module: kind.module(),
                src: src.to_string(),
                path,
            }),
            Resolved::Missing(tried) => Err(SourceError::Missing {
                module: kind.module(),
                src: src.to_string(),
                tried,
            }),
        }
    }
}

/// Where `src` is looked for, in order: the role's dir, beside the playbook, the project's.
pub fn search_paths(
    kind: SourceKind,
    play: &LoadedPlay,
    role: Option<&LoadedRole>,
    src: &str,
) -> Vec<PathBuf> {
    if Path::new(src).is_absolute() {
        return vec![PathBuf::from(src)];
    }
    let mut out = vec![];
    if let Some(r) = role {
        out.push(r.dir.join(kind.dir()).join(src));
    }
    out.push(play.dir.join(kind.dir()).join(src));
    out.push(play.project_dir().join(kind.dir()).join(src));
    let mut seen = BTreeSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// Resolves a rendered `src`: the kernel-tree check comes first, for every candidate up to
/// the one that exists, so no path to `/proc` is ever opened.
pub fn resolve_source(
    kind: SourceKind,
    play: &LoadedPlay,
    role: Option<&LoadedRole>,
    src: &str,
) -> Resolved {
    let paths = search_paths(kind, play, role, src);
    if let Some(bad) = kernel_path(&paths) {
        return Resolved::Kernel(bad);
    }
    // `exists`, not `is_file`: a FIFO or device found here is then refused by the reader
    // (`crate::input_file`) with a precise error, rather than reported missing.
    match paths.iter().find(|p| p.exists() && !p.is_dir()) {
        Some(p) => Resolved::Found(p.clone()),
        None => Resolved::Missing(paths),
    }
}

/// The first candidate that is (lexically, or once symlinks are resolved) under a kernel or
/// device tree, as the path that was found there.
fn kernel_path(candidates: &[PathBuf]) -> Option<PathBuf> {
    let under = |p: &Path| KERNEL_DIRS.iter().any(|d| p.starts_with(d));
    for c in candidates {
        let absolute = if c.is_absolute() {
            c.clone()
        } else {
            std::env::current_dir().ok()?.join(c)
        };
        let normal: PathBuf = absolute.components().fold(PathBuf::new(), |mut p, c| {
            match c {
                Component::ParentDir => {
                    p.pop();
                }
                Component::CurDir => {}
                c => p.push(c),
            }
            p
        });
        if under(&normal) {
            return Some(normal);
        }
        if let Ok(real) = std::fs::canonicalize(c) {
            if under(&real) {
                return Some(real);
            }
            // The first existing candidate is the one `resolve_source` picks.
            if !real.is_dir() {
                return None;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_trees_are_refused_lexically_and_through_links() {
        assert_eq!(
            kernel_path(&[PathBuf::from("/proc/self/status")]),
            Some(PathBuf::from("/proc/self/status"))
        );
        assert_eq!(
            kernel_path(&[PathBuf::from("/tmp/../proc/self/environ")]),
            Some(PathBuf::from("/proc/self/environ"))
        );
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("status");
        std::os::unix::fs::symlink("/proc/self/status", &link).unwrap();
        assert!(kernel_path(&[link]).unwrap().starts_with("/proc"));
    }
}
