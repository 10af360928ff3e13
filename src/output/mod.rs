//! The one output sink. Every byte jetlike writes — human or JSON events, task output, diffs,
//! warnings, errors, the recap, panics — goes through `Output`, which runs it through the
//! streaming masker for its file descriptor. Nothing else in the program prints.

mod event;
mod failures;
mod human;
mod recap;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use crate::mask::{MaskStream, Masker};

pub use self::event::{Event, Failure, HostRecap, LiveHead, TaskEvent};
/// `Status` lives below output (modules decide it); its old path stays.
pub use crate::status::Status;

/// How events are written: for people, or as JSON Lines.

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
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
    human: human::Human,
    pub verbosity: u8,
    streams: Mutex<Streams>,
    recap: Mutex<recap::Recap>,
    /// Failed and unreachable hosts by error, for the summary after the human recap.
    failures: Mutex<failures::Failures>,
    /// The live progress line (TTY, human output only), redrawn under the latest output.
    progress: Mutex<Option<Progress>>,
    observers: Mutex<Vec<Arc<dyn Observer>>>,
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
            human: human::Human { color, verbosity },
            verbosity,
            streams: Mutex::new(Streams {
                out: m.stream(),
                err: m.stream(),
            }),
            recap: Mutex::new(recap::Recap::default()),
            failures: Mutex::default(),
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
        self.write_out_inner(bytes, false);
    }

    /// `premasked`: `bytes` were masked already, by a stream of the masker in force over the
    /// whole output they come from (command output, see `capture`), and hold whole lines: the
    /// bytes this stream still holds back are flushed first, in order, then `bytes` follow
    /// without a second pass.
    fn write_out_inner(&self, bytes: &[u8], premasked: bool) {
        let progress = self.progress.lock().unwrap().clone();
        let mut s = self.streams.lock().unwrap();
        if premasked && progress.is_none() {
            // The common case of `-vvv` output: no copy of the (large) lines.
            let held = s.out.finish();
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(&held);
            let _ = o.write_all(bytes);
            let _ = o.flush();
            return;
        }
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
        who: &LiveHead,
        head: &[u8],
        text: &[u8],
        continued: bool,
        partial: bool,
    ) {
        // The first line is `head` followed by the first line of `text`.
        match self.format {
            Format::Human => {
                let n = memchr::memchr_iter(b'\n', text).count() + 1;
                let prefix_len = who.host.len() + 5;
                let mut s = Vec::with_capacity(head.len() + text.len() + n * prefix_len);
                let mut start = 0;
                for (i, end) in memchr::memchr_iter(b'\n', text)
                    .chain(std::iter::once(text.len()))
                    .enumerate()
                {
                    s.extend_from_slice(b"  ");
                    s.extend_from_slice(who.host.as_bytes());
                    s.extend_from_slice(if i == 0 && continued { b" + " } else { b" | " });
                    if i == 0 {
                        s.extend_from_slice(head);
                    }
                    s.extend_from_slice(&text[start..end]);
                    s.push(b'\n');
                    start = end + 1;
                }
                self.write_out_inner(&s, true);
            }
            Format::Json => {
                let mut lines = text.split(|&b| b == b'\n');
                let first_line = lines.next().unwrap_or_default();
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
                let text = format!("{}: {message}\n", self.human.paint("33", "warning"));
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

    /// Counts `host` as unreachable once more in the recap.
    pub fn record_unreachable(&self, host: &str) {
        self.recap.lock().unwrap().unreachable(host);
    }

    /// The recap so far, per host.
    pub fn recap(&self) -> BTreeMap<String, HostRecap> {
        self.recap.lock().unwrap().hosts()
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
        self.tally(ev);
        match self.format {
            Format::Json => {
                let value = serde_json::to_value(ev).unwrap_or_default();
                self.write_json(value);
            }
            Format::Human => {
                let mut text = self.human.event(ev);
                if let Event::Recap { .. } = ev {
                    let heading = self.human.paint("1", "FAILURES");
                    text.push_str(&self.failures.lock().unwrap().render(&heading));
                }
                self.write_out(text.as_bytes());
            }
        }
    }

    /// Counts `ev` in the recap, and a failure (not an ignored one) in the failure summary.
    fn tally(&self, ev: &Event) {
        match ev {
            Event::Task(t) => {
                self.recap.lock().unwrap().task(t);
                if let (Some(f), false) = (&t.failure, t.ignored) {
                    let masker = current_masker();
                    let what = format!("task {:?}", t.task);
                    let mut failures = self.failures.lock().unwrap();
                    failures.add(&masker, &what, &t.host, &f.message);
                }
            }
            Event::Unreachable { host, message, .. } => {
                self.record_unreachable(host);
                let masker = current_masker();
                let mut failures = self.failures.lock().unwrap();
                failures.add(&masker, "unreachable", host, message);
            }
            _ => {}
        }
    }
}
