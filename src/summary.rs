//! What CI shows of a run: a Markdown summary (`--summary FILE`, for `$GITHUB_STEP_SUMMARY`
//! or a pull-request comment) and GitHub Actions annotations for failed tasks and unreachable
//! hosts (`--format github`). Both are built by a [`Collector`] that sees the same events the
//! output prints, and both go through the run's masker before they are written.
//!
//! The summary names files, attributes and secret *variable names*; it never holds file
//! content or a value.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::output::{Event, HostRecap, Observer, Status};
use crate::playbook::{LoadedPlay, LoadedTask};

/// `--format` of the run commands: extra CI output beside `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunFormat {
    /// GitHub Actions workflow commands (`::error`) for failed tasks and unreachable hosts.
    Github,
}

#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("cannot write the summary {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One file a task would change (or changed) on a host.
#[derive(Debug, Clone)]
struct FileChange {
    path: String,
    status: &'static str,
    attributes: Vec<String>,
    /// Lines added and removed; `None` when the content was not compared line by line.
    lines: Option<(usize, usize)>,
    secrets_changed: Vec<String>,
    secrets_may_change: Vec<String>,
}

#[derive(Debug, Clone)]
struct Failed {
    play: String,
    host: String,
    task: String,
    number: usize,
    message: String,
    /// The last lines of the command's output, as the human output shows it (masked).
    out: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<String, Vec<FileChange>>,
    failed: Vec<Failed>,
    unreachable: Vec<(String, String)>,
    recap: BTreeMap<String, HostRecap>,
    check: bool,
}

/// How many trailing lines of a failed command's output an annotation quotes.
const ANNOTATION_OUTPUT_LINES: usize = 5;

/// Records the events of a run for the summary and the annotations.
#[derive(Debug, Default)]
pub struct Collector {
    state: Mutex<State>,
}

impl Observer for Collector {
    fn event(&self, ev: &Event) {
        let mut s = self.state.lock().unwrap();
        match ev {
            Event::Play { check, .. } => s.check = *check,
            Event::Task(t) => {
                if t.status == Status::Failed && !t.ignored {
                    let message = t
                        .failure
                        .as_ref()
                        .map_or_else(|| "failed".into(), |f| f.message.clone());
                    s.failed.push(Failed {
                        play: t.play.clone(),
                        host: t.host.clone(),
                        task: t.task.clone(),
                        number: t.number,
                        message,
                        out: t.failure.as_ref().and_then(|f| f.out.clone()),
                    });
                }
                if let Some(d) = &t.diff {
                    let lines = (!d.hunks.is_empty()).then(|| {
                        let all = d.hunks.iter().flat_map(|h| &h.lines);
                        let added = all.clone().filter(|l| l.op == "+").count();
                        let removed = all.filter(|l| l.op == "-").count();
                        (added, removed)
                    });
                    let change = FileChange {
                        path: d.path.clone(),
                        status: t.status.label(),
                        attributes: d
                            .attribute_changes
                            .iter()
                            .map(|a| a.attribute.clone())
                            .collect(),
                        lines,
                        secrets_changed: d.secrets_changed.clone(),
                        secrets_may_change: d.secrets_may_change.clone(),
                    };
                    s.files.entry(t.host.clone()).or_default().push(change);
                }
            }
            Event::Unreachable { host, message, .. } => {
                s.unreachable.push((host.clone(), message.clone()));
            }
            Event::Recap { hosts } => s.recap = hosts.clone(),
            Event::DiffSummary { .. } | Event::Warning { .. } | Event::Output { .. } => {}
        }
    }
}

/// Text for a Markdown table cell or heading: HTML-escaped inside `<code>`, `|` included.
fn code(s: &str) -> String {
    let escaped = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "&#124;")
        .replace('\n', " ");
    format!("<code>{escaped}</code>")
}

fn names(v: &[String]) -> String {
    v.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
}

impl Collector {
    /// The Markdown summary. `command` names the run (`check-ssh`, ...).
    pub fn markdown(&self, command: &str) -> String {
        let s = self.state.lock().unwrap();
        let verb = if s.check { "would change" } else { "changed" };
        let total_files: usize = s
            .files
            .values()
            .flatten()
            .filter(|f| f.status != "matched")
            .count();
        let mut md = format!(
            "## jetlike {command}: {} host{}, {total_files} file change{} ({verb})\n\n",
            s.recap.len(),
            if s.recap.len() == 1 { "" } else { "s" },
            if total_files == 1 { "" } else { "s" },
        );
        md.push_str("| host | ok | changed | failed | skipped | unreachable |\n");
        md.push_str("|---|---:|---:|---:|---:|---:|\n");
        for (h, r) in &s.recap {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                code(h),
                r.ok,
                r.changed,
                r.failed,
                r.skipped,
                r.unreachable
            ));
        }
        for (host, files) in &s.files {
            let files: Vec<&FileChange> = files.iter().filter(|f| f.status != "matched").collect();
            if files.is_empty() {
                continue;
            }
            md.push_str(&format!("\n### {}\n\n", code(host)));
            md.push_str("| file | change | lines | secrets rotating |\n|---|---|---|---|\n");
            for f in files {
                let mut change = f.status.to_string();
                if !f.attributes.is_empty() {
                    change.push_str(&format!(" ({})", f.attributes.join(", ")));
                }
                let lines = match f.lines {
                    Some((a, r)) => format!("+{a} −{r}"),
                    None => "—".into(),
                };
                let mut secrets = names(&f.secrets_changed);
                let may: Vec<String> = f
                    .secrets_may_change
                    .iter()
                    .filter(|n| !f.secrets_changed.contains(n))
                    .cloned()
                    .collect();
                if !may.is_empty() {
                    if !secrets.is_empty() {
                        secrets.push_str("; ");
                    }
                    secrets.push_str(&format!("may change: {}", names(&may)));
                }
                md.push_str(&format!(
                    "| {} | {change} | {lines} | {secrets} |\n",
                    code(&f.path)
                ));
            }
        }
        if !s.failed.is_empty() || !s.unreachable.is_empty() {
            md.push_str("\n### Problems\n\n");
            for f in &s.failed {
                md.push_str(&format!(
                    "- {} task {} failed: {}\n",
                    code(&f.host),
                    code(&f.task),
                    code(&f.message)
                ));
            }
            for (h, m) in &s.unreachable {
                md.push_str(&format!("- {} unreachable: {}\n", code(h), code(m)));
            }
        }
        md
    }

    /// GitHub workflow commands: one `::error` per failed task (at the task in its playbook
    /// when `plays` has it) and per unreachable host.
    pub fn github_annotations(&self, plays: &[&LoadedPlay]) -> String {
        use crate::lint::annotations::{location_props, workflow_command};
        let s = self.state.lock().unwrap();
        let mut out = String::new();
        for f in &s.failed {
            let at = plays
                .iter()
                .filter(|p| p.play.name == f.play)
                .flat_map(|p| p.tasks.iter().chain(&p.handlers))
                .find(|t| t.number == f.number)
                .map(LoadedTask::location)
                .filter(|l| l.line > 0);
            let mut props = match &at {
                Some(l) => location_props(Some(Path::new(&l.file)), l.line, l.column),
                None => vec![],
            };
            props.push(("title", format!("{} failed on {}", f.task, f.host)));
            let mut message = format!("host {}: task {:?} failed: {}", f.host, f.task, f.message);
            if let Some(o) = f.out.as_deref().filter(|o| !o.trim().is_empty()) {
                let lines: Vec<&str> = o.lines().collect();
                let tail = &lines[lines.len().saturating_sub(ANNOTATION_OUTPUT_LINES)..];
                message.push_str("\noutput (last lines):\n");
                message.push_str(&tail.join("\n"));
            }
            out.push_str(&workflow_command("error", &props, &message));
        }
        for (h, m) in &s.unreachable {
            out.push_str(&workflow_command(
                "error",
                &[("title", format!("{h} unreachable"))],
                &format!("host {h} unreachable: {m}"),
            ));
        }
        out
    }
}

/// Writes `text` to `path` atomically: a temporary file (mode 0600) in the same directory,
/// then a rename over the target.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), SummaryError> {
    let err = |source| SummaryError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // tempfile creates the file with mode 0600.
    let mut tmp = tempfile::Builder::new()
        .prefix(".jetlike-summary.")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
