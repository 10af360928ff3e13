//! The open-file limit an SSH run needs: each host in flight holds a few descriptors (the
//! mux socket and the pipes of its remote shell, more while a command runs on a channel of
//! its own), so `--threads 500` would pass the usual soft limit of 1024. At start-up jetlike
//! raises its soft limit (never the hard one) to what `--threads` needs, or stops with an
//! error that says what to do, instead of failing hosts with EMFILE mid-run.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Descriptors per host in flight, counted generously: mux socket, the remote shell's
/// stdin/stdout, a channel's three pipes and its mux socket while a command runs on one.
pub const PER_HOST: u64 = 8;
/// The rest of the process: stdio, the runtime, files read, the signal pipe.
pub const BASE: u64 = 64;
/// Raised to at least this when raising at all, so small `--threads` leave headroom.
const COMFORTABLE: u64 = 4096;

/// Descriptors a run with `threads` hosts in flight may hold at once.
pub fn needed(threads: usize) -> u64 {
    BASE + PER_HOST * threads as u64
}

/// What to do about a `(soft, hard)` limit for `need` descriptors: `Ok(None)` enough
/// already, `Ok(Some(new_soft))` raise it, `Err(hard)` cannot.
fn plan(soft: u64, hard: u64, need: u64) -> Result<Option<u64>, u64> {
    if soft >= need {
        Ok(None)
    } else if hard >= need {
        Ok(Some(hard.min(need.max(COMFORTABLE))))
    } else {
        Err(hard)
    }
}

/// Makes sure `threads` hosts in flight cannot run out of descriptors: raises the soft
/// limit if needed; an error (for the user) when even the hard limit is too low.
pub fn ensure(threads: usize) -> Result<(), String> {
    let need = needed(threads);
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| format!("cannot read the open file limit: {e}"))?;
    match plan(soft, hard, need) {
        Ok(None) => Ok(()),
        Ok(Some(new_soft)) => setrlimit(Resource::RLIMIT_NOFILE, new_soft, hard).map_err(|e| {
            format!("cannot raise the open file limit from {soft} to {new_soft}: {e}")
        }),
        Err(hard) => {
            let fit = hard.saturating_sub(BASE) / PER_HOST;
            Err(format!(
                "--threads {threads} needs up to {need} open files, but this process may have \
                 at most {hard} (`ulimit -Hn`); lower --threads to {fit} or less, or raise the \
                 hard limit (`ulimit -n {need}` as a user allowed to, or LimitNOFILE= in a \
                 systemd unit)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raises_the_soft_limit_within_the_hard_one() {
        assert_eq!(plan(1024, 4096, 224), Ok(None));
        assert_eq!(plan(64, 1 << 20, 224), Ok(Some(4096)));
        assert_eq!(plan(64, 1000, 224), Ok(Some(1000)));
        assert_eq!(plan(1024, 1 << 20, needed(500)), Ok(Some(4096)));
        assert_eq!(plan(1024, 1 << 20, needed(10_000)), Ok(Some(80_064)));
        assert_eq!(plan(64, 100, 224), Err(100));
    }
}
