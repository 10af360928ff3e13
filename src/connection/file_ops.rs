//! The file operations of a connection, written once over any `Transport`: `run`, `stat`,
//! `put`, the one-round-trip `ensure`, and `ensure_all`, which converges any number of files
//! in two round trips (inspect all, then write those that differ). SSH uses them for
//! everything; the local connection for everything done as another user (without a
//! privilege it reads and writes in-process instead, see `local`).

use super::error::{put_error, ConnError, WriteStep};
use super::file_status::{wanted_facts, Ensured, FileAttrs, FileStatus, WantedFile};
use super::payload::Payload;
use super::privilege::Privilege;
use super::scripts;
use super::transport::{OutputSink, RunOutput, Transport};

/// The largest content `ensure` sends along with its test, in one round trip, whether or not
/// the target needs it; a larger one is sent only once a first round trip found it differs.
pub const INLINE_LIMIT: u64 = 64 * 1024;

/// Runs a task's command, its stderr joined to its stdout.
pub async fn run<T: Transport>(
    t: &T,
    cmd: &str,
    privilege: Option<&Privilege>,
    sink: &mut dyn OutputSink,
) -> Result<i32, ConnError> {
    Ok(t.exec(&scripts::run(cmd), &[], privilege, sink).await?.rc)
}

/// One round trip: existence, hash, mode, owner and group (and content if asked).
pub async fn stat<T: Transport>(
    t: &T,
    path: &str,
    with_content: bool,
    privilege: Option<&Privilege>,
) -> Result<FileStatus, ConnError> {
    let out = t
        .exec_collect(&scripts::stat(path, with_content), &[], privilege)
        .await?;
    if out.rc != 0 {
        return Err(ConnError::Failed(format!(
            "stat of {path} failed (exit {}): {}",
            out.rc,
            String::from_utf8_lossy(&out.out).trim()
        )));
    }
    scripts::parse_stat(&out.out, with_content)
}

/// Writes `content` atomically (see `scripts::put`).
pub async fn put<T: Transport>(
    t: &T,
    path: &str,
    content: &Payload,
    attrs: &FileAttrs,
    privilege: Option<&Privilege>,
) -> Result<(), ConnError> {
    let out = t
        .exec_collect(
            &scripts::put(path, attrs, content.len()),
            &[content],
            privilege,
        )
        .await?;
    written(path, out, &[]).map(|_| ())
}

/// The outcome of a write script: its failing step's message (what it printed after the
/// reply's `head`), or why a copy source changed when that aborted it.
fn written(path: &str, out: RunOutput, head: &[u8]) -> Result<RunOutput, ConnError> {
    if out.rc != 0 {
        let detail = out.out.strip_prefix(head).unwrap_or(&out.out);
        return Err(ConnError::Failed(failure(path, &out, detail)));
    }
    Ok(out)
}

/// Why writing `path` failed: the source's change if the script stopped at the verdict (the
/// remote cannot have written anything else, as the verdict is the only thing it waits for
/// after the content), else the failing step.
fn failure(path: &str, out: &RunOutput, detail: &[u8]) -> String {
    match &out.source_error {
        Some(why) if out.rc == WriteStep::Aborted.code() => why.clone(),
        _ => put_error(path, out.rc, detail),
    }
}

/// One round trip: the script reports the target's facts and writes only if they differ
/// from the wanted ones (see `scripts::ensure`); what changed is decided here, from the
/// reported facts, by `FileStatus::decide`. Content over `INLINE_LIMIT` takes two: `stat`,
/// then `put` only if it differs, so an unchanged large file is never sent.
pub async fn ensure<T: Transport>(
    t: &T,
    path: &str,
    content: &Payload,
    want_sha256: &str,
    attrs: &FileAttrs,
    privilege: Option<&Privilege>,
) -> Result<Ensured, ConnError> {
    if content.len() > INLINE_LIMIT {
        let ensured = stat(t, path, false, privilege)
            .await?
            .decide(path, want_sha256, attrs)?;
        if !ensured.matched() {
            put(t, path, content, attrs, privilege).await?;
        }
        return Ok(ensured);
    }
    let facts = wanted_facts(want_sha256, attrs);
    let script = scripts::ensure(path, attrs, &facts, content.len());
    let out = t.exec_collect(&script, &[content], privilege).await?;
    let nl = memchr::memchr(b'\n', &out.out).map_or(out.out.len(), |i| i + 1);
    let status = scripts::parse_stat(&out.out[..nl], false);
    // After the facts line comes what the failing write step printed.
    let head = if status.is_ok() { &out.out[..nl] } else { &[] };
    let head = head.to_vec();
    written(path, out, &head)?;
    status
        .map_err(|_| ConnError::Failed(format!("unexpected reply while writing {path}")))?
        .decide(path, want_sha256, attrs)
}

/// Converges `files` in order in as few round trips as possible, stopping at the first
/// failure (see `Connection::ensure_all`).
pub async fn ensure_all<T: Transport>(
    t: &T,
    files: &[WantedFile<'_>],
    privilege: Option<&Privilege>,
) -> Vec<Result<Ensured, ConnError>> {
    // A path written twice must see its first write: split the batch before a repeat.
    let mut results = Vec::with_capacity(files.len());
    let mut start = 0;
    while start < files.len() {
        let end = (start + 1..files.len())
            .find(|&i| files[start..i].iter().any(|f| f.path == files[i].path))
            .unwrap_or(files.len());
        let part = ensure_batch(t, &files[start..end], privilege).await;
        let complete = part.len() == end - start && part.iter().all(Result::is_ok);
        results.extend(part);
        if !complete {
            break;
        }
        start = end;
    }
    results
}

/// `ensure_all` for files with distinct paths: one round trip inspects them all, one writes
/// those that differ. A single file keeps `ensure`'s one round trip.
async fn ensure_batch<T: Transport>(
    t: &T,
    files: &[WantedFile<'_>],
    privilege: Option<&Privilege>,
) -> Vec<Result<Ensured, ConnError>> {
    if let [f] = files {
        return vec![ensure(t, f.path, f.content, f.sha256, f.attrs, privilege).await];
    }
    let inspected = match inspect(t, files, privilege).await {
        Ok(i) => i,
        Err(e) => return vec![Err(e)],
    };
    let plan = plan_writes(files, &inspected.statuses);
    let mut results = plan.results;
    if plan.writes.is_empty() {
        return results;
    }
    let writes: Vec<scripts::Write<'_>> = plan.writes.iter().map(|(_, w)| w.clone()).collect();
    let script = if inspected.perl {
        scripts::perl_write_all(&writes)
    } else {
        scripts::write_all(&writes)
    };
    let out = match t.exec_collect(&script, &plan.input, privilege).await {
        Ok(out) => out,
        Err(e) => {
            results.truncate(plan.writes[0].0);
            results.push(Err(e));
            return results;
        }
    };
    let (done, rest) = scripts::parse_written(&out.out);
    if out.rc != 0 || done < writes.len() {
        // Files after the one that failed were not attempted.
        let (failed_at, w) = &plan.writes[done.min(writes.len() - 1)];
        results.truncate(*failed_at);
        results.push(Err(ConnError::Failed(failure(w.path, &out, &rest))));
    }
    results
}

/// The first round trip of a batch: the status of every file, and whether perl is there.
async fn inspect<T: Transport>(
    t: &T,
    files: &[WantedFile<'_>],
    privilege: Option<&Privilege>,
) -> Result<scripts::Inspected, ConnError> {
    let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
    let out = t
        .exec_collect(&scripts::inspect(&paths), &[], privilege)
        .await?;
    if out.rc != 0 {
        return Err(ConnError::Failed(format!(
            "inspecting {} failed (exit {}): {}",
            files[0].path,
            out.rc,
            String::from_utf8_lossy(&out.out).trim()
        )));
    }
    scripts::parse_inspect(&out.out, files.len())
}

/// What a batch will write, decided from what `inspect` found.
struct PlannedWrites<'a> {
    /// One decision per file, up to and including the first that failed.
    results: Vec<Result<Ensured, ConnError>>,
    /// The files that differ, by their index in the batch.
    writes: Vec<(usize, scripts::Write<'a>)>,
    /// Their contents, in order (sent back to back, each with its verdict byte).
    input: Vec<&'a Payload>,
}

fn plan_writes<'a>(files: &[WantedFile<'a>], statuses: &[FileStatus]) -> PlannedWrites<'a> {
    let mut plan = PlannedWrites {
        results: Vec::with_capacity(files.len()),
        writes: Vec::new(),
        input: Vec::new(),
    };
    for (i, (f, status)) in files.iter().zip(statuses).enumerate() {
        let decided = status.decide(f.path, f.sha256, f.attrs);
        let Ok(ensured) = &decided else {
            plan.results.push(decided);
            break;
        };
        if !ensured.matched() {
            let existing = match status {
                FileStatus::File { mode, .. } => scripts::Existing::File { mode: *mode },
                _ => scripts::Existing::Missing,
            };
            plan.writes.push((
                i,
                scripts::Write {
                    path: f.path,
                    attrs: f.attrs,
                    existing,
                    len: f.content.len(),
                },
            ));
            plan.input.push(f.content);
        }
        plan.results.push(decided);
    }
    plan
}
