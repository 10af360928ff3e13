//! The one way jetlike reads a file named by the project: playbooks, role files, `vars_files`,
//! `-e @file`, inventory files (`groups/`, `group_vars/`, `host_vars/`), templates,
//! `--env-file`, and copy sources while planning.
//!
//! Project files are written by many people and checked in CI on untrusted branches, so a path
//! may name anything: a FIFO, `/dev/zero`, a socket, a terminal. Every read here:
//!
//! 1. checks the path (following symlinks) names a regular file, so no device is even opened;
//! 2. opens it once with `O_NONBLOCK` (a FIFO swapped in after the check cannot block the
//!    open), then `fstat`s the opened descriptor: it must be a regular file, whatever the
//!    path named a moment before;
//! 3. reads at most a limit — [`TEXT_LIMIT`] for text the project writes by hand; a copy
//!    source may be as large as it is, but only as large as `fstat` said when it was opened.
//!
//! Anything else is an [`InputError`], which becomes a located diagnostic (exit 3) through
//! `InputError::diagnostic`, defined with the diagnostics in `error.rs`: this file is the
//! bottom layer and imports nothing from the crate.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest playbook, role file, vars file, inventory file, template or env file jetlike
/// reads: 16 MiB. Hand-written configuration is far smaller; anything larger is refused with an
/// error before it is read.
pub const TEXT_LIMIT: u64 = 16 << 20;

/// Why a project file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is {kind}, not a regular file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is {size} bytes, over the {limit}-byte limit for project files", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{} is not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
}

impl InputError {
    pub fn path(&self) -> &Path {
        match self {
            InputError::Io { path, .. }
            | InputError::NotRegular { path, .. }
            | InputError::TooLarge { path, .. }
            | InputError::NotUtf8 { path } => path,
        }
    }

    /// Whether the file does not exist (callers that search several places use this).
    pub fn is_not_found(&self) -> bool {
        matches!(self, InputError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            InputError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "check the path given on the command line or in the playbook".into()
            }
            InputError::Io { .. } => "check the file's permissions".into(),
            InputError::NotRegular { .. } => {
                "jetlike reads only regular files (or symlinks to them): replace it with a file"
                    .into()
            }
            InputError::TooLarge { .. } => format!(
                "project text files are limited to {} MiB; split the file or trim it",
                TEXT_LIMIT >> 20
            ),
            InputError::NotUtf8 { .. } => "save the file as UTF-8 text".into(),
        }
    }
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn io(path: &Path, source: std::io::Error) -> InputError {
    InputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens `path` for reading without ever blocking, and checks the opened descriptor is a
/// regular file. Returns the file and its size.
fn open_regular(path: &Path) -> Result<(std::fs::File, u64), InputError> {
    let not_regular = |ft| InputError::NotRegular {
        path: path.to_path_buf(),
        kind: kind_of(ft),
    };
    // Refuse devices before opening them (opening some has side effects).
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| io(path, e))?;
    // The path may have changed between the check and the open: trust only the descriptor.
    let meta = file.metadata().map_err(|e| io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(not_regular(meta.file_type()));
    }
    Ok((file, meta.len()))
}

/// Reads at most `limit` bytes of the regular file `path`; more is [`InputError::TooLarge`].
pub fn read_bytes_limited(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let (file, size) = open_regular(path)?;
    if size > limit {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    // The capacity is a hint: on a target where the size does not fit, start empty.
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // One byte more than the limit tells a file that grew past it from one that did not.
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

/// Reads a project text file (UTF-8, at most [`TEXT_LIMIT`] bytes).
pub fn read_text(path: &Path) -> Result<String, InputError> {
    let bytes = read_bytes_limited(path, TEXT_LIMIT)?;
    String::from_utf8(bytes).map_err(|_| InputError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// The size of the pieces a copy source is read in: it is never held whole.
pub const COPY_CHUNK: usize = 64 * 1024;

/// Opens a copy source (a regular file of any size, checked as every project file is) for
/// streaming; returns it with the size it has now.
pub fn open_copy_source(path: &Path) -> Result<(std::fs::File, u64), InputError> {
    open_regular(path)
}

/// Reads a copy source through `each` in [`COPY_CHUNK`] pieces, up to the size it had when
/// opened (a file growing while it is read cannot make jetlike read forever); returns the
/// number of bytes read, counted, not taken from `fstat` (a file shrinking while it is read
/// gives fewer).
pub fn stream_copy_source(path: &Path, each: &mut dyn FnMut(&[u8])) -> Result<u64, InputError> {
    let (file, size) = open_regular(path)?;
    let mut file = file.take(size);
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut total = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                each(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(path, e)),
        }
    }
}

/// Checks, without opening it, that `path` names a regular file (following symlinks).
pub fn check_regular(path: &Path) -> Result<(), InputError> {
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    if meta.file_type().is_file() {
        Ok(())
    } else {
        Err(InputError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        })
    }
}

/// What `path` names, for directory listings: `Ok(true)` for a regular file, `Ok(false)` for a
/// directory, an error for anything else (FIFO, device, socket, dangling symlink).
pub fn classify_entry(path: &Path) -> Result<bool, InputError> {
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    let ft = meta.file_type();
    if ft.is_file() {
        Ok(true)
    } else if ft.is_dir() {
        Ok(false)
    } else {
        Err(InputError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(ft),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn reads_regular_files_and_refuses_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f.yml");
        std::fs::write(&f, "a: 1\n").unwrap();
        assert_eq!(read_text(&f).unwrap(), "a: 1\n");
        let mut read = Vec::new();
        let n = stream_copy_source(&f, &mut |b| read.extend_from_slice(b)).unwrap();
        assert_eq!((n, &read[..]), (5, &b"a: 1\n"[..]));

        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let e = read_text(&fifo).unwrap_err();
        assert!(matches!(e, InputError::NotRegular { kind, .. } if kind.contains("FIFO")));
        assert!(stream_copy_source(&fifo, &mut |_| ()).is_err());

        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let e = read_text(&zero).unwrap_err();
        assert!(matches!(e, InputError::NotRegular { kind, .. } if kind.contains("character")));
        assert!(stream_copy_source(&zero, &mut |_| ()).is_err());

        assert!(matches!(
            read_text(dir.path()).unwrap_err(),
            InputError::NotRegular { .. }
        ));
        let missing = read_text(&dir.path().join("nope")).unwrap_err();
        assert!(missing.is_not_found());
        assert_eq!(missing.path(), dir.path().join("nope"));
    }

    #[test]
    fn limits_and_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("big");
        std::fs::write(&f, vec![b'a'; 100]).unwrap();
        assert_eq!(read_bytes_limited(&f, 100).unwrap().len(), 100);
        let e = read_bytes_limited(&f, 99).unwrap_err();
        assert!(matches!(
            e,
            InputError::TooLarge {
                size: 100,
                limit: 99,
                ..
            }
        ));
        assert!(e.diagnostic().help.unwrap().contains("MiB"));
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_text(&f).unwrap_err(),
            InputError::NotUtf8 { .. }
        ));
    }
}
