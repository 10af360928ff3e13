//! `jetlike man [DIR]`: man pages generated from the clap definitions (`clap_mangen`):
//! `jetlike.1` and one `jetlike-SUBCOMMAND.1` per subcommand.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ManError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The pages as (file name, roff text), the top-level page first.
pub fn pages(cmd: &clap::Command) -> Vec<(String, Vec<u8>)> {
    let mut cmd = cmd.clone();
    cmd.build();
    let mut out = vec![];
    let mut buf = vec![];
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd.clone()).render(&mut buf);
    out.push((format!("{}.1", cmd.get_name()), buf));
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        // clap takes `&'static str` names (without its `string` feature); a handful of short
        // strings for a one-shot command.
        let name: &'static str =
            Box::leak(format!("{}-{}", cmd.get_name(), sub.get_name()).into_boxed_str());
        let sub = sub.clone().name(name).bin_name(name);
        let mut buf = vec![];
        let _ = clap_mangen::Man::new(sub).render(&mut buf);
        out.push((format!("{name}.1"), buf));
    }
    out
}

/// Writes every page into `dir` (created if missing); returns the paths written.
pub fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<Vec<PathBuf>, ManError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let mut written = vec![];
    for (name, text) in pages(cmd) {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(err(&path))?;
        written.push(path);
    }
    Ok(written)
}
