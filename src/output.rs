//! The one output sink. Every byte jetlike writes — human or JSON events, task output, diffs,
//! warnings, errors, the recap, panics — goes through `Output`, which runs it through the
//! streaming masker for its file descriptor. Nothing else in the program prints.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde::Serialize;

use crate::mask::{MaskStream, Masker};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// What happened to one task on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Created,
    Modified,
    Matched,
    /// A shell command ran (Jet's "complete").
    Complete,
    Skipped,
    Failed,
    WouldCreate,
    WouldModify,
    WouldRun,
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Modified => "modified",
            Status::Matched => "matched",
            Status::Complete => "complete",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::WouldCreate => "would create",
            Status::WouldModify => "would modify",
            Status::WouldRun => "would run",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<i32>,
    /// The last lines of the output (at most `capture::TAIL_LINES`), masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    /// How many earlier lines `out` leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_lines_omitted: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskEvent {
    pub play: String,
    pub host: String,
    pub task: String,
    pub module: &'static str,
    pub number: usize,
    pub total: usize,
    pub status: Status,
    /// Whether the task counts as changed (a shell command may be marked unchanged).
    pub changed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<i32>,
    /// For sensitive tasks: how many lines of output were suppressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_lines: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// Content diff (check mode, `--diff`): structured in JSON, unified text for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Box<crate::diff::FileDiff>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub ignored: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HostRecap {
    pub ok: usize,
    pub changed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub unreachable: usize,
    /// Failed with `ignore_errors`: neither ok nor failed.
    pub ignored: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Play {
        play: String,
        hosts: usize,
        check: bool,
    },
    Task(Box<TaskEvent>),
    /// Command output as it arrives (`-vvv`): whole lines, already masked, of one task on one
    /// host. A line longer than `capture::MAX_LINE_PIECE` comes in pieces: `partial` says the
    /// last line goes on in the next event, `continued` that the first one goes on from the
    /// previous event.
    Output {
        play: String,
        host: String,
        task: String,
        number: usize,
        lines: Vec<String>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        continued: bool,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        partial: bool,
    },
    /// The footer of a check (or `--diff`) run.
    DiffSummary {
        files: usize,
        secrets: usize,
        check: bool,
    },
    Unreachable {
        play: String,
        host: String,
        message: String,
    },
    Warning {
        message: String,
    },
    Recap {
        hosts: BTreeMap<String, HostRecap>,
    },
}

/// Sees every event the sink is given (the CI summary and annotations, src/summary.rs).
pub trait Observer: Send + Sync {
    fn event(&self, ev: &Event);
}

struct Streams {
    out: MaskStream,
    err: MaskStream,
}

/// The sink. Cheap to share (`Arc<Output>`); writes are serialized, so lines never interleave.
pub struct Output {
    format: Format,
    color: bool,
    pub verbosity: u8,
    streams: Mutex<Streams>,
    recap: Mutex<BTreeMap<String, HostRecap>>,
    /// What the diffs shown so far say about secrets, for the footer.
    diff_tally: Mutex<DiffTally>,
    /// The live progress line (TTY, human output only), redrawn under the latest output.
    progress: Mutex<Option<Progress>>,
    observers: Mutex<Vec<Arc<dyn Observer>>>,
}

/// Per host, the secret variables the diffs say would change, may change, and how many
/// secret-bearing files could not be compared at all.
#[derive(Debug, Default)]
struct DiffTally {
    changed: BTreeSet<(String, String)>,
    may_change: BTreeSet<(String, String)>,
    not_compared: usize,
}

impl DiffTally {
    fn record(&mut self, host: &str, d: &crate::diff::FileDiff) {
        let key = |v: &String| (host.to_string(), v.clone());
        self.changed.extend(d.secrets_changed.iter().map(key));
        self.may_change.extend(d.secrets_may_change.iter().map(key));
        self.not_compared += usize::from(d.secrets_unknown);
    }

    /// Secret values that may change: not counted as changing anywhere else.
    fn may(&self) -> usize {
        self.may_change.difference(&self.changed).count()
    }
}

/// Hosts done / in flight / failed and the latest task, for the live line.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    pub total: usize,
    pub done: usize,
    pub in_flight: usize,
    pub failed: usize,
    pub current: String,
}

/// The masker in force; the panic hook reads it.
static MASKER: OnceLock<RwLock<Arc<Masker>>> = OnceLock::new();

fn masker_cell() -> &'static RwLock<Arc<Masker>> {
    MASKER.get_or_init(|| RwLock::new(Arc::new(Masker::empty())))
}

/// The masker in force (the one every sink uses).
pub fn current_masker() -> Arc<Masker> {
    masker_cell().read().unwrap().clone()
}

/// Installs the panic hook: a panic message is masked before it reaches stderr.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let masker = masker_cell().read().map(|m| m.clone()).ok();
        let text = format!("jetlike panicked (this is a bug): {info}\n");
        let bytes = match masker {
            Some(m) => m.mask(text.as_bytes()),
            None => b"jetlike panicked (this is a bug)\n".to_vec(),
        };
        let _ = std::io::stderr().write_all(&bytes);
    }));
}

/// Masks every string of a JSON value in place, object keys included.
pub fn mask_json(masker: &Masker, value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            let masked = masker.mask_str(s);
            if masked != *s {
                *s = masked;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| mask_json(masker, v)),
        Value::Object(m) => {
            let entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            for (k, mut v) in entries {
                mask_json(masker, &mut v);
                m.insert(masker.mask_str(&k), v);
            }
        }
        _ => {}
    }
}

impl Output {
    pub fn new(format: Format, verbosity: u8) -> Arc<Self> {
        let color = format == Format::Human
            && std::io::stdout().is_terminal()
            && !crate::environment::no_color();
        let m = masker_cell().read().unwrap().clone();
        Arc::new(Output {
            format,
            color,
            verbosity,
            streams: Mutex::new(Streams {
                out: m.stream(),
                err: m.stream(),
            }),
            recap: Mutex::new(BTreeMap::new()),
            diff_tally: Mutex::new(DiffTally::default()),
            progress: Mutex::new(None),
            observers: Mutex::new(vec![]),
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The masker in force.
    pub fn masker(&self) -> Arc<Masker> {
        current_masker()
    }

    /// Replaces the masker; called once the secret set is complete, before any task output.
    /// Pending bytes are flushed through the old masker first.
    pub fn set_masker(&self, masker: Arc<Masker>) {
        *masker_cell().write().unwrap() = masker.clone();
        let mut s = self.streams.lock().unwrap();
        let pending_out = s.out.finish();
        let pending_err = s.err.finish();
        let _ = std::io::stdout().write_all(&pending_out);
        let _ = std::io::stderr().write_all(&pending_err);
        s.out = masker.stream();
        s.err = masker.stream();
    }

    fn write_out(&self, bytes: &[u8]) {
        self.write_out_inner(bytes, false)
    }

    /// `premasked`: `bytes` were masked already, by a stream of the masker in force over the
    /// whole output they come from (command output, see `capture`), and hold whole lines: the
    /// bytes this stream still holds back are flushed first, in order, then `bytes` follow
    /// without a second pass.
    fn write_out_inner(&self, bytes: &[u8], premasked: bool) {
        let progress = self.progress.lock().unwrap().clone();
        let mut s = self.streams.lock().unwrap();
        let mut masked = if premasked {
            let mut m = s.out.finish();
            m.extend_from_slice(bytes);
            m
        } else {
            s.out.push(bytes)
        };
        if let Some(p) = progress {
            // Clear the live line, print, redraw it below (all through the masker).
            let line = format!(
                "[{}/{} hosts done, {} in flight, {} failed] {}",
                p.done, p.total, p.in_flight, p.failed, p.current
            );
            let line: String = line.chars().take(100).collect();
            let mut framed = b"\r\x1b[2K".to_vec();
            framed.append(&mut masked);
            framed.extend(s.out.push(line.as_bytes()));
            framed.extend(s.out.finish());
            masked = framed;
        }
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(&masked);
        let _ = o.flush();
    }

    /// Command output lines (`-vvv`) of one task on one host, masked already by the task's own
    /// stream: `head` + `text` is whole lines without the last newline (`partial`: the last
    /// one goes on in the next call; `continued`: the first one continues the previous call's
    /// last).
    pub fn output_lines(
        &self,
        who: &crate::capture::LiveHead,
        head: &[u8],
        text: &[u8],
        continued: bool,
        partial: bool,
    ) {
        let mut lines = text.split(|&b| b == b'\n');
        // The first line is `head` followed by the first line of `text`.
        let first_line = lines.next().unwrap_or_default();
        match self.format {
            Format::Human => {
                let n = memchr::memchr_iter(b'\n', text).count() + 1;
                let mut s = Vec::with_capacity(head.len() + text.len() + n * (who.host.len() + 5));
                let mut put = |i: usize, parts: &[&[u8]]| {
                    s.extend_from_slice(b"  ");
                    s.extend_from_slice(who.host.as_bytes());
                    s.extend_from_slice(if i == 0 && continued { b" + " } else { b" | " });
                    for p in parts {
                        s.extend_from_slice(p);
                    }
                    s.push(b'\n');
                };
                put(0, &[head, first_line]);
                for (i, l) in lines.enumerate() {
                    put(i + 1, &[l]);
                }
                self.write_out_inner(&s, true);
            }
            Format::Json => {
                let mut all =
                    vec![String::from_utf8_lossy(&[head, first_line].concat()).into_owned()];
                all.extend(lines.map(|l| String::from_utf8_lossy(l).into_owned()));
                let ev = Event::Output {
                    play: who.play.clone(),
                    host: who.host.clone(),
                    task: who.task.clone(),
                    number: who.number,
                    lines: all,
                    continued,
                    partial,
                };
                let mut line = serde_json::to_vec(&ev).unwrap_or_default();
                line.push(b'\n');
                self.write_out_inner(&line, true);
            }
        }
    }

    /// Starts the live progress line: only on a terminal, only for human output.
    pub fn start_progress(&self, total: usize) {
        if self.format == Format::Human && std::io::stdout().is_terminal() {
            *self.progress.lock().unwrap() = Some(Progress {
                total,
                ..Default::default()
            });
        }
    }

    /// Updates the live line, if any, and redraws it.
    pub fn update_progress(&self, f: impl FnOnce(&mut Progress)) {
        let active = {
            let mut p = self.progress.lock().unwrap();
            match p.as_mut() {
                Some(p) => {
                    f(p);
                    true
                }
                None => false,
            }
        };
        if active {
            self.write_out(b"");
        }
    }

    /// Removes the live line for good (before the recap).
    pub fn stop_progress(&self) {
        if self.progress.lock().unwrap().take().is_some() {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(b"\r\x1b[2K");
            let _ = o.flush();
        }
    }

    fn write_err(&self, bytes: &[u8]) {
        let mut s = self.streams.lock().unwrap();
        let masked = s.err.push(bytes);
        let _ = std::io::stderr().write_all(&masked);
    }

    /// Flushes whatever the maskers still hold back; call before exiting.
    pub fn finish(&self) {
        let mut s = self.streams.lock().unwrap();
        let o = s.out.finish();
        let e = s.err.finish();
        let _ = std::io::stdout().write_all(&o);
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().write_all(&e);
    }

    /// An error for a person (stderr); in JSON mode also a JSON event on stdout.
    pub fn error(&self, text: &str) {
        if self.format == Format::Json {
            let line = serde_json::json!({"event": "error", "message": text});
            self.write_json(line);
        }
        self.write_err(text.as_bytes());
    }

    pub fn warn(&self, message: &str) {
        match self.format {
            Format::Json => self.emit(&Event::Warning {
                message: message.to_string(),
            }),
            Format::Human => {
                let text = format!("{}: {message}\n", self.paint("33", "warning"));
                self.write_err(text.as_bytes());
            }
        }
    }

    /// One JSON Lines event. Every string (and key) is masked *before* serialising: a secret
    /// printed by a child in an escaped form (JSON, shell) would be escaped a second time by
    /// serialisation and no longer match. The serialised line then goes through the stream
    /// masker too, like every other byte.
    fn write_json(&self, mut value: serde_json::Value) {
        let masker = masker_cell().read().unwrap().clone();
        if !masker.is_empty() {
            mask_json(&masker, &mut value);
        }
        let line = serde_json::to_string(&value).unwrap_or_default();
        self.write_out(format!("{line}\n").as_bytes());
    }

    /// Plain text for `show-inventory` and similar reports.
    pub fn text(&self, s: &str) {
        self.write_out(s.as_bytes());
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn record_unreachable(&self, host: &str) {
        self.recap
            .lock()
            .unwrap()
            .entry(host.to_string())
            .or_default()
            .unreachable += 1;
    }

    fn record(&self, t: &TaskEvent) {
        let mut r = self.recap.lock().unwrap();
        let h = r.entry(t.host.clone()).or_default();
        match t.status {
            Status::Failed if t.ignored => h.ignored += 1,
            Status::Failed => h.failed += 1,
            Status::Skipped => h.skipped += 1,
            _ => {
                h.ok += 1;
                if t.changed {
                    h.changed += 1;
                }
            }
        }
    }

    pub fn recap(&self) -> BTreeMap<String, HostRecap> {
        self.recap.lock().unwrap().clone()
    }

    /// Adds an observer of every event emitted from now on.
    pub fn observe(&self, o: Arc<dyn Observer>) {
        self.observers.lock().unwrap().push(o);
    }

    /// Plain text on stderr, masked like every other byte.
    pub fn text_err(&self, s: &str) {
        self.write_err(s.as_bytes());
    }

    pub fn emit(&self, ev: &Event) {
        for o in self.observers.lock().unwrap().iter() {
            o.event(ev);
        }
        if let Event::Task(t) = ev {
            self.record(t);
            if let Some(d) = &t.diff {
                self.diff_tally.lock().unwrap().record(&t.host, d);
            }
        }
        if let Event::Unreachable { host, .. } = ev {
            self.record_unreachable(host);
        }
        match self.format {
            Format::Json => {
                let mut value = serde_json::to_value(ev).unwrap_or_default();
                if let (Event::DiffSummary { .. }, Some(m)) = (ev, value.as_object_mut()) {
                    let t = self.diff_tally.lock().unwrap();
                    m.insert("secrets_may_change".into(), t.may().into());
                    if t.not_compared > 0 {
                        m.insert("secret_files_not_compared".into(), t.not_compared.into());
                    }
                }
                self.write_json(value);
            }
            Format::Human => {
                let text = self.human(ev);
                self.write_out(text.as_bytes());
            }
        }
    }

    fn human(&self, ev: &Event) -> String {
        match ev {
            Event::Play { play, hosts, check } => {
                let mode = if *check {
                    " (check mode: nothing will change)"
                } else {
                    ""
                };
                format!(
                    "{} {play} ▸ {hosts} host{}{mode}\n",
                    self.paint("1", "PLAY"),
                    if *hosts == 1 { "" } else { "s" }
                )
            }
            Event::Task(t) => self.human_task(t),
            Event::Output {
                host,
                lines,
                continued,
                ..
            } => {
                let mut s =
                    String::with_capacity(lines.iter().map(|l| l.len() + host.len() + 6).sum());
                for (i, l) in lines.iter().enumerate() {
                    let mark = if i == 0 && *continued { '+' } else { '|' };
                    s.push_str("  ");
                    s.push_str(host);
                    s.push(' ');
                    s.push(mark);
                    s.push(' ');
                    s.push_str(l);
                    s.push('\n');
                }
                s
            }
            Event::Unreachable { host, message, .. } => format!(
                "{} {host} => unreachable: {message}\n",
                self.paint("31", "!")
            ),
            Event::Warning { message } => format!("warning: {message}\n"),
            Event::DiffSummary {
                files,
                secrets,
                check,
            } => {
                let verb = if *check { "would change" } else { "changed" };
                let t = self.diff_tally.lock().unwrap();
                let mut s = format!(
                    "{} file{} {verb}; {} secret value{} {verb}",
                    files,
                    if *files == 1 { "" } else { "s" },
                    secrets,
                    if *secrets == 1 { "" } else { "s" }
                );
                let may = t.may();
                if may > 0 {
                    let verb = if *check {
                        "may change"
                    } else {
                        "may have changed"
                    };
                    s.push_str(&format!(", {may} {verb}"));
                }
                if t.not_compared > 0 {
                    s.push_str(&format!(
                        "; secrets in {} file{} could not be compared",
                        t.not_compared,
                        if t.not_compared == 1 { "" } else { "s" }
                    ));
                }
                s.push('\n');
                s
            }
            Event::Recap { hosts } => self.human_recap(hosts),
        }
    }

    fn human_task(&self, t: &TaskEvent) -> String {
        let (mark, code) = match t.status {
            Status::Failed if t.ignored => ("✗", "33"),
            Status::Failed => ("✗", "31"),
            Status::Skipped => ("-", "2"),
            Status::Matched => ("✓", "32"),
            _ if t.changed => ("✓", "33"),
            _ => ("✓", "32"),
        };
        let mut status = t.status.label().to_string();
        if !t.changes.is_empty() {
            status.push_str(&format!(" ({})", t.changes.join(", ")));
        }
        if t.ignored {
            status.push_str(" (ignored)");
        }
        let item = t
            .item
            .as_ref()
            .map(|i| format!(" [item: {i}]"))
            .unwrap_or_default();
        let mut s = format!(
            "{} {} [{}/{}] {}{item} => {}\n",
            self.paint(code, mark),
            t.host,
            t.number,
            t.total,
            t.task,
            self.paint(code, &status)
        );
        if let Some(cmd) = &t.cmd {
            s.push_str(&format!("    cmd: {cmd}\n"));
        }
        if let Some(f) = &t.failure {
            if t.cmd.is_none() {
                if let Some(cmd) = &f.cmd {
                    s.push_str(&format!("    cmd: {cmd}\n"));
                }
            }
            if let Some(rc) = f.rc {
                s.push_str(&format!("    rc: {rc}\n"));
            }
            s.push_str(&format!("    error: {}\n", f.message));
            if let Some(out) = &f.out {
                match f.out_lines_omitted {
                    Some(n) if n > 0 => s.push_str(&format!(
                        "    out (last {} lines; {n} earlier line{} not shown): |\n",
                        out.lines().count(),
                        if n == 1 { "" } else { "s" }
                    )),
                    _ => s.push_str("    out: |\n"),
                }
                for line in out.lines() {
                    s.push_str(&format!("      {line}\n"));
                }
            }
        } else if let (Some(rc), true) = (t.rc, self.verbosity >= 3) {
            s.push_str(&format!("    rc: {rc}\n"));
        }
        if let Some(n) = t.suppressed_lines {
            s.push_str(&format!(
                "    output suppressed: {n} line{} (sensitive task)\n",
                if n == 1 { "" } else { "s" }
            ));
        }
        if let Some(d) = &t.diff {
            let created = matches!(t.status, Status::Created | Status::WouldCreate);
            for line in d.render(created).lines() {
                let code = if line.starts_with('+') && !line.starts_with("+++") {
                    "32"
                } else if line.starts_with('-') && !line.starts_with("---") {
                    "31"
                } else if line.starts_with("@@") {
                    "36"
                } else {
                    ""
                };
                let l = if code.is_empty() {
                    line.to_string()
                } else {
                    self.paint(code, line)
                };
                s.push_str(&format!("    {l}\n"));
            }
        }
        s
    }

    fn human_recap(&self, hosts: &BTreeMap<String, HostRecap>) -> String {
        let w = hosts.keys().map(|h| h.len()).max().unwrap_or(4).max(4);
        let mut s = format!(
            "{}\n  {:<w$}  {:>6}  {:>7}  {:>6}  {:>7}  {:>11}  {:>7}\n",
            self.paint("1", "RECAP"),
            "host",
            "ok",
            "changed",
            "failed",
            "skipped",
            "unreachable",
            "ignored"
        );
        for (h, r) in hosts {
            let line = format!(
                "  {h:<w$}  {:>6}  {:>7}  {:>6}  {:>7}  {:>11}  {:>7}",
                r.ok, r.changed, r.failed, r.skipped, r.unreachable, r.ignored
            );
            let code = if r.failed > 0 || r.unreachable > 0 {
                "31"
            } else if r.changed > 0 {
                "33"
            } else {
                "32"
            };
            s.push_str(&self.paint(code, &line));
            s.push('\n');
        }
        s
    }
}
