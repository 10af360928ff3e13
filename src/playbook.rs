//! The playbook model (plays, roles, tasks as YAML tags) and its loading from disk.
//!
//! Typed structs with `deny_unknown_fields` make unknown fields and module tags errors with a
//! line and column; a position index (`yaml_spans`) lets later checks point into the same files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Diagnostic, Error, Location, Result};
use crate::yaml_spans::{self, Node, Step};

pub use crate::vars::{merge, Vars};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Play {
    pub name: String,
    pub groups: Vec<String>,
    #[serde(default)]
    pub roles: Vec<RoleInvocation>,
    #[serde(default)]
    pub defaults: Option<Vars>,
    #[serde(default)]
    pub vars: Option<Vars>,
    #[serde(default)]
    pub vars_files: Vec<String>,
    pub sudo: Option<String>,
    pub sudo_template: Option<String>,
    pub ssh_user: Option<String>,
    pub ssh_port: Option<u16>,
    pub batch_size: Option<usize>,
    #[serde(default)]
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub handlers: Vec<Task>,
    /// The secrets this play's template files may use, each with its source (see
    /// `secret_decl`). Without it, template files read `ENV_` variables from `--loadenv`.
    #[serde(default)]
    pub secrets: Option<crate::secret_spec::Declaration>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInvocation {
    pub role: String,
    #[serde(default)]
    pub vars: Option<Vars>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleFile {
    pub name: String,
    #[serde(default)]
    pub defaults: Option<Vars>,
    #[serde(default)]
    pub tasks: Vec<String>,
    #[serde(default)]
    pub handlers: Vec<String>,
}

/// A task: the module is chosen by the YAML tag (`!shell`, `!copy`, `!template`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub enum Task {
    #[serde(rename = "shell")]
    Shell(ShellTask),
    #[serde(rename = "copy")]
    Copy(FileTask),
    #[serde(rename = "template")]
    Template(FileTask),
}

pub const MODULES: &[&str] = &["shell", "copy", "template"];

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellTask {
    pub name: Option<String>,
    pub cmd: String,
    pub save: Option<String>,
    /// How much output `save:` (and `failed_when`/`changed_when` reading `out`) may keep:
    /// bytes, or `64MiB`, `512KiB`, `1GiB`. Default `capture::DEFAULT_SAVE_LIMIT` (16 MiB);
    /// a larger output fails the task.
    pub save_limit: Option<Size>,
    pub failed_when: Option<String>,
    pub changed_when: Option<String>,
    #[serde(default, rename = "unsafe")]
    pub unsafe_: bool,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

/// A size written as a number of bytes or as text with a unit (`64MiB`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    pub fn bytes(&self) -> std::result::Result<u64, String> {
        match self {
            Size::Bytes(n) => Ok(*n),
            Size::Text(t) => crate::capture::parse_size(t),
        }
    }
}

impl ShellTask {
    /// The save limit in bytes (an invalid one was reported at load).
    pub fn save_limit(&self) -> u64 {
        self.save_limit
            .as_ref()
            .and_then(|s| s.bytes().ok())
            .unwrap_or(crate::capture::DEFAULT_SAVE_LIMIT)
    }
}

/// `!copy` and `!template` take the same fields; `src` resolves under `files/` or `templates/`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileTask {
    pub name: Option<String>,
    pub src: String,
    pub dest: String,
    pub attributes: Option<Attributes>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    /// `diff: false`: check mode and `--diff` say whether the content changes, never how (the
    /// target's current content is not even read).
    #[serde(default = "show_diff")]
    pub diff: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

fn show_diff() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attributes {
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<Mode>,
}

/// A file mode written `0o640` (Jet; YAML reads it as an integer) or `"0640"` / `"0o640"`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Mode {
    Int(u32),
    Text(String),
}

impl Mode {
    /// Checks a mode as written in the playbook (`written`: the source text of an unquoted
    /// number, when known). YAML reads `644` as the decimal number 644 (octal 1204), almost
    /// certainly not what was meant: an integer written in decimal whose digits all look
    /// octal (3 or 4 digits 0-7) is an error, as is anything over 0o7777.
    pub fn validate(&self, written: Option<&str>) -> std::result::Result<u32, String> {
        if let Mode::Int(n) = self {
            let decimal = match written {
                Some(w) => w.chars().all(|c| c.is_ascii_digit()).then(|| w.to_string()),
                // Position unknown: judge by the value.
                None => Some(n.to_string()),
            };
            if let Some(d) = decimal {
                if (3..=4).contains(&d.len()) && d.chars().all(|c| ('0'..='7').contains(&c)) {
                    return Err(format!(
                        "mode {d} is the decimal number {d} (octal {n:o}), not octal {d}; write 0o{d} or \"{d:0>4}\""
                    ));
                }
            }
        }
        self.bits()
    }

    pub fn bits(&self) -> std::result::Result<u32, String> {
        let bits = match self {
            Mode::Int(n) => *n,
            Mode::Text(s) => {
                let digits = s.trim().trim_start_matches("0o");
                // The value is not quoted back: a mistyped field may hold anything.
                u32::from_str_radix(digits, 8)
                    .map_err(|_| "mode is not an octal number like \"0640\" or 0o640".to_string())?
            }
        };
        if bits > 0o7777 {
            return Err(format!(
                "mode {bits:o} (octal) is out of range (at most 0o7777); write it as 0o640 or \"0640\""
            ));
        }
        Ok(bits)
    }
}

/// `with:` — logic applied before the module runs.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreLogic {
    pub condition: Option<String>,
    pub subscribe: Option<String>,
    pub sudo: Option<String>,
    pub items: Option<Items>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub delegate_to: Option<String>,
}

/// `items:` is either a list or the name of a variable holding a list.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Items {
    List(Vec<Value>),
    Var(String),
}

/// `and:` — logic applied after the module ran.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostLogic {
    pub notify: Option<String>,
    #[serde(default)]
    pub ignore_errors: bool,
    #[serde(default)]
    pub retry: u32,
    #[serde(default)]
    pub delay: u64,
}

impl Task {
    pub fn module(&self) -> &'static str {
        match self {
            Task::Shell(_) => "shell",
            Task::Copy(_) => "copy",
            Task::Template(_) => "template",
        }
    }
    pub fn name(&self) -> Option<&str> {
        match self {
            Task::Shell(t) => t.name.as_deref(),
            Task::Copy(t) | Task::Template(t) => t.name.as_deref(),
        }
    }
    pub fn display_name(&self) -> String {
        self.name()
            .map(str::to_owned)
            .unwrap_or_else(|| match self {
                Task::Shell(t) => format!("shell: {}", t.cmd.lines().next().unwrap_or("")),
                Task::Copy(t) | Task::Template(t) => format!("{}: {}", self.module(), t.dest),
            })
    }
    pub fn with(&self) -> Option<&PreLogic> {
        match self {
            Task::Shell(t) => t.with.as_ref(),
            Task::Copy(t) | Task::Template(t) => t.with.as_ref(),
        }
    }
    pub fn and(&self) -> Option<&PostLogic> {
        match self {
            Task::Shell(t) => t.and.as_ref(),
            Task::Copy(t) | Task::Template(t) => t.and.as_ref(),
        }
    }
    /// `sensitive: true` or `no_log: true`: the task's output is never printed.
    pub fn sensitive(&self) -> bool {
        match self {
            Task::Shell(t) => t.sensitive || t.no_log,
            Task::Copy(t) | Task::Template(t) => t.sensitive || t.no_log,
        }
    }

    /// Every string field that is rendered as a template, with its YAML path (relative to the
    /// task). The policy check walks exactly this list, so a new field must be added here.
    pub fn templated_fields(&self) -> Vec<(Vec<FieldStep>, &str)> {
        use FieldStep::{Index as I, Key as K};
        let mut out: Vec<(Vec<FieldStep>, &str)> = vec![];
        if let Some(n) = self.name() {
            out.push((vec![K("name")], n));
        }
        match self {
            Task::Shell(t) => {
                out.push((vec![K("cmd")], &t.cmd));
                for (k, v) in [
                    ("save", &t.save),
                    ("failed_when", &t.failed_when),
                    ("changed_when", &t.changed_when),
                ] {
                    if let Some(v) = v {
                        out.push((vec![K(k)], v));
                    }
                }
            }
            Task::Copy(t) | Task::Template(t) => {
                out.push((vec![K("src")], &t.src));
                out.push((vec![K("dest")], &t.dest));
                if let Some(a) = &t.attributes {
                    for (k, v) in [("owner", &a.owner), ("group", &a.group)] {
                        if let Some(v) = v {
                            out.push((vec![K("attributes"), K(k)], v));
                        }
                    }
                    if let Some(Mode::Text(m)) = &a.mode {
                        out.push((vec![K("attributes"), K("mode")], m));
                    }
                }
            }
        }
        if let Some(w) = self.with() {
            for (k, v) in [
                ("condition", &w.condition),
                ("subscribe", &w.subscribe),
                ("sudo", &w.sudo),
                ("delegate_to", &w.delegate_to),
            ] {
                if let Some(v) = v {
                    out.push((vec![K("with"), K(k)], v));
                }
            }
            match &w.items {
                Some(Items::Var(v)) => out.push((vec![K("with"), K("items")], v)),
                Some(Items::List(list)) => {
                    for (i, item) in list.iter().enumerate() {
                        collect_strings(item, vec![K("with"), K("items"), I(i)], &mut out);
                    }
                }
                None => {}
            }
        }
        if let Some(a) = self.and() {
            if let Some(n) = &a.notify {
                out.push((vec![K("and"), K("notify")], n));
            }
        }
        out
    }
}

/// How a templated field is written: most are Handlebars text; conditions are bare
/// sub-expressions (`(eq a "b")`); `items:` may name a variable.
pub fn field_as_template<'a>(field: &[FieldStep], text: &'a str) -> std::borrow::Cow<'a, str> {
    let last = field.iter().rev().find_map(|s| match s {
        FieldStep::Key(k) => Some(*k),
        _ => None,
    });
    let is_items_var = field.len() == 2 && last == Some("items");
    match last {
        Some("condition" | "failed_when" | "changed_when") if !text.contains("{{") => {
            format!("{{{{#if {text}}}}}{{{{/if}}}}").into()
        }
        _ if is_items_var && !text.contains("{{") => format!("{{{{{}}}}}", text.trim()).into(),
        _ => text.into(),
    }
}

/// A step of a field path inside a task, owned so it can be stored with a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldStep {
    Key(&'static str),
    Index(usize),
    Name(String),
}

impl std::fmt::Display for FieldStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldStep::Key(k) => f.write_str(k),
            FieldStep::Name(k) => f.write_str(k),
            FieldStep::Index(i) => write!(f, "[{i}]"),
        }
    }
}

pub fn field_path_string(path: &[FieldStep]) -> String {
    let mut s = String::new();
    for step in path {
        if !s.is_empty() && !matches!(step, FieldStep::Index(_)) {
            s.push('.');
        }
        s.push_str(&step.to_string());
    }
    s
}

/// Every string inside a value (vars, items), with its path: any of them may be templated.
pub fn collect_strings<'a>(
    value: &'a Value,
    path: Vec<FieldStep>,
    out: &mut Vec<(Vec<FieldStep>, &'a str)>,
) {
    match value {
        Value::String(s) => out.push((path, s)),
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                let mut p = path.clone();
                p.push(FieldStep::Index(i));
                collect_strings(v, p, out);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                let mut p = path.clone();
                p.push(FieldStep::Name(k.clone()));
                collect_strings(v, p, out);
            }
        }
        _ => {}
    }
}

/// A YAML source file kept with its position index.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub index: Option<Node>,
}

impl Source {
    /// The source text of the unquoted scalar at `path` (see `yaml_spans`).
    pub fn plain_source(&self, path: &[FieldStep]) -> Option<String> {
        let steps = Self::steps(path);
        self.index.as_ref()?.plain_source(&steps).map(str::to_owned)
    }

    fn steps(path: &[FieldStep]) -> Vec<Step<'_>> {
        path.iter()
            .map(|s| match s {
                FieldStep::Key(k) => Step::Key(k),
                FieldStep::Name(k) => Step::Key(k.as_str()),
                FieldStep::Index(i) => Step::Index(*i),
            })
            .collect()
    }

    pub fn locate(&self, path: &[FieldStep]) -> Location {
        self.locate_in(path, None)
    }
    /// Location of the key `key` of the mapping at `path` (not of its value), falling back to
    /// the mapping itself.
    pub fn locate_key(&self, path: &[FieldStep], key: &str) -> Location {
        let steps = Self::steps(path);
        match self
            .index
            .as_ref()
            .and_then(|i| i.key_position(&steps, key))
        {
            Some((line, column)) => Location::new(&self.path, line, column),
            None => self.locate(path),
        }
    }
    /// Location of `path`, or of byte `offset` inside the string at `path`.
    pub fn locate_in(&self, path: &[FieldStep], in_string: Option<(&str, usize)>) -> Location {
        let steps = Self::steps(path);
        let (line, column) = match (&self.index, in_string) {
            (Some(idx), Some((text, off))) => idx.locate_in_string(&steps, text, off),
            (Some(idx), None) => idx.locate(&steps),
            (None, _) => (0, 0),
        };
        Location::new(&self.path, line, column)
    }
}

/// Where a task came from: its file, its path in that file, and its role if any.
#[derive(Debug, Clone)]
pub struct Origin {
    pub source: Arc<Source>,
    pub path: Vec<FieldStep>,
    pub role: Option<Arc<LoadedRole>>,
}

#[derive(Debug)]
pub struct LoadedRole {
    pub name: String,
    pub dir: PathBuf,
    pub defaults: Vars,
    pub vars: Vars,
    pub tags: Vec<String>,
    pub source: Arc<Source>,
}

#[derive(Debug, Clone)]
pub struct LoadedTask {
    pub task: Task,
    pub origin: Origin,
    /// Position in the play's task list (1-based), for output.
    pub number: usize,
}

impl LoadedTask {
    pub fn location(&self) -> Location {
        self.origin.source.locate(&self.origin.path)
    }
    pub fn field_location(
        &self,
        field: &[FieldStep],
        in_string: Option<(&str, usize)>,
    ) -> Location {
        let mut p = self.origin.path.clone();
        p.extend(field.iter().cloned());
        self.origin.source.locate_in(&p, in_string)
    }
    pub fn tags(&self) -> Vec<&str> {
        let mut t: Vec<&str> = self
            .task
            .with()
            .map(|w| w.tags.iter().map(String::as_str).collect())
            .unwrap_or_default();
        if let Some(r) = &self.origin.role {
            t.extend(r.tags.iter().map(String::as_str));
        }
        t
    }
}

#[derive(Debug)]
pub struct LoadedPlay {
    pub play: Play,
    pub index: usize,
    pub source: Arc<Source>,
    /// The playbook's directory: `templates/` and `files/` beside it are searched.
    pub dir: PathBuf,
    /// `vars` merged with `vars_files`, in order.
    pub vars: Vars,
    pub tasks: Vec<LoadedTask>,
    pub handlers: Vec<LoadedTask>,
}

impl LoadedPlay {
    pub fn project_dir(&self) -> PathBuf {
        self.dir.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// Reads a project file through [`crate::input_file`], checking its YAML nesting depth.
fn read(path: &Path) -> Result<String> {
    let text = read_text(path)?;
    check_yaml_depth(path, &text)?;
    Ok(text)
}

/// A project file's text, through the one bounded reader.
fn read_text(path: &Path) -> Result<String> {
    crate::input_file::read_text(path).map_err(|e| Error::invalid(e.diagnostic()))
}

/// Refuses YAML nested deeper than [`crate::depth::YAML_DEPTH_LIMIT`] before any recursive
/// parser sees it; then what serde reports badly or not at all: a key repeated in a mapping
/// (at the repeated key) and syntax errors at yaml-rust2's position (an unclosed quote where
/// it opens).
pub fn check_yaml_depth(path: &Path, text: &str) -> Result<()> {
    crate::depth::check_yaml(text).map_err(|e| {
        Error::invalid(
            Diagnostic::new(e.to_string())
                .at(Some(Location::new(path, e.line, e.column)))
                .help(e.help()),
        )
    })?;
    let problems: Vec<Diagnostic> = yaml_spans::problems(text)
        .into_iter()
        // Other syntax errors serde locates as well, with the messages lint's fixtures know.
        .filter(|(message, ..)| {
            message.starts_with("duplicate key") || message.contains("quoted scalar")
        })
        .map(|(message, line, column)| {
            let help = if message.starts_with("duplicate key") {
                "remove one of the two entries (YAML would silently keep the last)"
            } else {
                "fix the YAML syntax here"
            };
            Diagnostic::new(message)
                .at(Some(Location::new(path, line, column)))
                .help(help)
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Turns a serde_yaml_ng error into a diagnostic pointing at the line and column, with the list
/// of valid modules when the tag is unknown. Scalar values quoted by the error text are cut to
/// a short prefix: a mistyped field may hold a secret.
pub fn yaml_error(path: &Path, e: &serde_yaml_ng::Error) -> Diagnostic {
    let mut msg = e.to_string();
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    let loc = e
        .location()
        .map(|l| Location::new(path, l.line(), l.column()));
    with_schema_help(Diagnostic::new(crate::error::sanitize_value_message(&msg)).at(loc))
        .in_file(path)
}

fn with_schema_help(d: Diagnostic) -> Diagnostic {
    let msg = d.message.clone();
    if msg.contains("unknown variant") || msg.contains("expected a YAML tag") {
        d.help(format!(
            "tasks are written with a module tag, one of: {}",
            MODULES
                .iter()
                .map(|m| format!("!{m}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else if msg.contains("unknown field") {
        d.help("remove or rename the field; the valid ones are listed above")
    } else if msg.contains("untagged enum Mode") {
        d.help("write modes as 0o640 or \"0640\"")
    } else if msg.contains("untagged enum Items") {
        d.help("`items:` takes a list, or the name of a variable holding a list")
    } else if msg.contains("missing field") {
        d.help("add the field; see the playbook format in README.md")
    } else if msg.contains("invalid type") {
        d.help("fix the value's type (see the formats in README.md)")
    } else {
        d
    }
}

fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_yaml_ng::from_str(text).map_err(|e| Error::invalid(yaml_error(path, &e)))
}

pub fn load_vars_file(path: &Path) -> Result<Vars> {
    let text = read(path)?;
    parse_vars(path, &text)
}

/// Parses the text of a variables file (already read, and its depth checked, by [`read`]).
pub fn parse_vars(path: &Path, text: &str) -> Result<Vars> {
    if text.trim().is_empty() {
        return Ok(Vars::new());
    }
    let v: Value = parse_yaml(path, text)?;
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Vars::new()),
        _ => Err(Error::invalid(
            Diagnostic::new("a variables file must hold a YAML mapping (key: value)")
                .at(Some(Location::new(path, 1, 1))),
        )),
    }
}

/// Everything found wrong while loading, each problem with the `jetlike lint` finding code it
/// maps to, plus what a linter needs to keep going after a problem.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub problems: Vec<(&'static str, Diagnostic)>,
    /// (playbook, play index) of plays some of whose tasks or handlers did not load: checks
    /// across tasks (notify/subscribe) would be unreliable there.
    pub incomplete: BTreeSet<(PathBuf, usize)>,
    /// Files the playbooks name (vars_files, role files), whether or not they loaded.
    pub named_files: BTreeSet<PathBuf>,
    /// Role directories found, whether or not their files loaded.
    pub role_dirs: BTreeSet<PathBuf>,
}

impl LoadReport {
    fn push(&mut self, code: &'static str, d: Diagnostic) {
        self.problems.push((code, d));
    }
    /// Every diagnostic of `e`, located at least in `file`.
    fn push_all(&mut self, code: &'static str, e: Error, file: &Path) {
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

/// How to load: stop at the first problem of a file (run modes), or parse every play, task
/// and handler on its own so that one bad node hides no other (lint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoadMode {
    Strict,
    Lenient,
}

/// `.[0].tasks[1].with`: the path notation serde_yaml_ng uses in its messages.
fn serde_path(path: &[FieldStep]) -> String {
    let mut s = String::from(".");
    for step in path {
        match step {
            FieldStep::Index(i) => s.push_str(&format!("[{i}]")),
            FieldStep::Key(k) => push_key(&mut s, k),
            FieldStep::Name(k) => push_key(&mut s, k),
        }
    }
    s
}

fn push_key(s: &mut String, k: &str) {
    if !s.ends_with('.') {
        s.push('.');
    }
    s.push_str(k);
}

/// Splits serde_yaml_ng's `with.tags[1]: message at line 3 column 7` into the path steps and
/// the message (without the position, which refers to re-serialized text).
fn split_serde_message(msg: &str) -> (Vec<FieldStep>, String) {
    let mut msg = msg.to_string();
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    let Some((head, rest)) = msg.split_once(": ") else {
        return (vec![], msg);
    };
    let is_path = !head.is_empty()
        && !head.contains(' ')
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.[]".contains(c));
    if !is_path {
        return (vec![], msg);
    }
    let mut steps = vec![];
    for part in head.split('.').filter(|p| !p.is_empty()) {
        let (key, mut idx) = match part.find('[') {
            Some(b) => (&part[..b], &part[b..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(FieldStep::Name(key.to_string()));
        }
        while let Some(end) = idx.find(']') {
            if let Ok(i) = idx[1..end].parse() {
                steps.push(FieldStep::Index(i));
            }
            idx = &idx[end + 1..];
        }
    }
    (steps, rest.to_string())
}

fn unknown_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn missing_field_name(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// The mapping inside `value` (through tags) at `path`, for repairs.
fn mapping_at<'a>(
    value: &'a mut serde_yaml_ng::Value,
    path: &[FieldStep],
) -> Option<&'a mut serde_yaml_ng::Mapping> {
    use serde_yaml_ng::Value as Y;
    let mut v = value;
    for step in path {
        while let Y::Tagged(t) = v {
            v = &mut t.value;
        }
        v = match (v, step) {
            (Y::Sequence(s), FieldStep::Index(i)) => s.get_mut(*i)?,
            (Y::Mapping(m), FieldStep::Key(k)) => m.get_mut(*k)?,
            (Y::Mapping(m), FieldStep::Name(k)) => m.get_mut(k.as_str())?,
            _ => return None,
        };
    }
    while let Y::Tagged(t) = v {
        v = &mut t.value;
    }
    match v {
        Y::Mapping(m) => Some(m),
        _ => None,
    }
}

/// Deserializes one node on its own. On a schema error the error is recorded (located through
/// the position index) and the offending field removed, then it tries again, so that every
/// unknown or mistyped field of the node is reported; `None` if the node cannot be repaired
/// (unknown module tag, missing required field).
fn parse_node<T: DeserializeOwned>(
    value: &serde_yaml_ng::Value,
    source: &Source,
    base: &[FieldStep],
    report: &mut LoadReport,
) -> Option<T> {
    let mut value = value.clone();
    let mut removed: Vec<String> = vec![];
    for _ in 0..32 {
        let text = match serde_yaml_ng::to_string(&value) {
            Ok(t) => t,
            Err(e) => {
                // A value serde cannot write back (a mapping used as a key): it cannot load
                // either, and must not vanish without a problem (found by tests/fuzz_load.rs).
                if removed.is_empty() {
                    report.push(
                        "invalid-playbook",
                        Diagnostic::new(format!(
                            "{}: this value cannot be loaded ({})",
                            serde_path(base),
                            crate::error::sanitize_value_message(&e.to_string())
                        ))
                        .at(Some(source.locate(base)))
                        .help("use plain strings as mapping keys: complex keys (`? ...`), and mappings or lists as keys, are not supported"),
                    );
                }
                return None;
            }
        };
        let err = match serde_yaml_ng::from_str::<T>(&text) {
            Ok(t) => return Some(t),
            Err(e) => e.to_string(),
        };
        let (rel, msg) = split_serde_message(&err);
        let mut full = base.to_vec();
        full.extend(rel.iter().cloned());
        if let Some(f) = missing_field_name(&msg) {
            if removed.contains(&f) {
                // A consequence of an earlier repair, already reported.
                return None;
            }
        }
        let unknown = unknown_field_name(&msg);
        let location = match &unknown {
            Some(k) => source.locate_key(&full, k),
            None => source.locate(&full),
        };
        report.push(
            "invalid-playbook",
            with_schema_help(
                Diagnostic::new(format!(
                    "{}: {}",
                    serde_path(&full),
                    crate::error::sanitize_value_message(&msg)
                ))
                .at(Some(location)),
            ),
        );
        // Repair: drop the unknown field, or the (last) key the error is about.
        let (map_path, key) = match unknown {
            Some(k) => (rel.clone(), k),
            None => {
                let pos = rel.iter().rposition(|s| matches!(s, FieldStep::Name(_)))?;
                let FieldStep::Name(k) = &rel[pos] else {
                    return None;
                };
                (rel[..pos].to_vec(), k.clone())
            }
        };
        let map = mapping_at(&mut value, &map_path)?;
        map.remove(key.as_str())?;
        removed.push(key);
    }
    None
}

/// A YAML document as a generic value; syntax errors are recorded.
fn parse_value(path: &Path, text: &str, report: &mut LoadReport) -> Option<serde_yaml_ng::Value> {
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            report.push("invalid-playbook", yaml_error(path, &e));
            None
        }
    }
}

fn untag(v: &serde_yaml_ng::Value) -> &serde_yaml_ng::Value {
    match v {
        serde_yaml_ng::Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

/// Parses a list of tasks item by item; the second value is false if some item did not load.
fn parse_task_items(
    value: Option<&serde_yaml_ng::Value>,
    source: &Source,
    base: &[FieldStep],
    report: &mut LoadReport,
) -> (Vec<(usize, Task)>, bool) {
    use serde_yaml_ng::Value as Y;
    let items = match value.map(untag) {
        None | Some(Y::Null) => return (vec![], true),
        Some(Y::Sequence(s)) => s,
        Some(_) => {
            report.push(
                "invalid-playbook",
                Diagnostic::new(format!("{}: expected a list of tasks", serde_path(base)))
                    .at(Some(source.locate(base)))
                    .help(
                        "write tasks as a YAML list of tagged mappings, e.g. `- !shell {cmd: ...}`",
                    ),
            );
            return (vec![], false);
        }
    };
    let mut out = vec![];
    let mut complete = true;
    for (i, item) in items.iter().enumerate() {
        let mut path = base.to_vec();
        path.push(FieldStep::Index(i));
        let before = report.problems.len();
        match parse_node::<Task>(item, source, &path, report) {
            Some(t) => out.push((i, t)),
            None => complete = false,
        }
        if report.problems.len() > before {
            complete = false;
        }
    }
    (out, complete)
}

fn load_task_list(
    path: &Path,
    role: &Arc<LoadedRole>,
    out: &mut Vec<LoadedTask>,
    report: &mut LoadReport,
    mode: LoadMode,
) -> bool {
    report.named_files.insert(path.to_path_buf());
    let text = match read_text(path) {
        Ok(t) => t,
        Err(e) => {
            report.push_all("missing-file", e, path);
            return false;
        }
    };
    if let Err(e) = check_yaml_depth(path, &text) {
        report.push_all("invalid-playbook", e, path);
        return false;
    }
    let source = Arc::new(Source {
        path: path.to_path_buf(),
        index: yaml_spans::index(&text),
    });
    let (tasks, complete): (Vec<(usize, Task)>, bool) = if text.trim().is_empty() {
        (vec![], true)
    } else {
        match serde_yaml_ng::from_str::<Vec<Task>>(&text) {
            Ok(t) => (t.into_iter().enumerate().collect(), true),
            Err(e) if mode == LoadMode::Strict => {
                report.push("invalid-playbook", yaml_error(path, &e));
                return false;
            }
            Err(_) => match parse_value(path, &text, report) {
                Some(v) => parse_task_items(Some(&v), &source, &[], report),
                None => (vec![], false),
            },
        }
    };
    for (i, task) in tasks {
        out.push(LoadedTask {
            task,
            origin: Origin {
                source: source.clone(),
                path: vec![FieldStep::Index(i)],
                role: Some(role.clone()),
            },
            number: 0,
        });
    }
    complete
}

fn find_role(play_dir: &Path, name: &str) -> std::result::Result<PathBuf, Vec<PathBuf>> {
    let mut tried = vec![play_dir.join("roles").join(name)];
    if let Some(p) = play_dir.parent() {
        tried.push(p.join("roles").join(name));
    }
    tried
        .iter()
        // `exists`, not `is_file`: a role.yml that is a FIFO or device is found, then refused
        // by the reader with a precise error rather than reported missing.
        .find(|d| d.join("role.yml").exists())
        .cloned()
        .ok_or(tried)
}

fn load_role(
    play_dir: &Path,
    inv: &RoleInvocation,
    at: Location,
    report: &mut LoadReport,
    mode: LoadMode,
) -> Option<(Arc<LoadedRole>, RoleFile)> {
    let dir = match find_role(play_dir, &inv.role) {
        Ok(d) => d,
        Err(tried) => {
            report.push(
                "missing-role",
                Diagnostic::new(format!("role {:?} not found", inv.role))
                    .at(Some(at))
                    .help(format!(
                        "create roles/{}/role.yml; searched: {}",
                        inv.role,
                        tried
                            .iter()
                            .map(|p| p.join("role.yml").display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
            );
            return None;
        }
    };
    report.role_dirs.insert(dir.clone());
    let role_path = dir.join("role.yml");
    let text = match read(&role_path) {
        Ok(t) => t,
        Err(e) => {
            report.push_all("missing-role", e, &role_path);
            return None;
        }
    };
    let index = yaml_spans::index(&text);
    let file: RoleFile = match serde_yaml_ng::from_str(&text) {
        Ok(f) => f,
        Err(e) if mode == LoadMode::Strict => {
            report.push("invalid-playbook", yaml_error(&role_path, &e));
            return None;
        }
        Err(_) => {
            let v = parse_value(&role_path, &text, report)?;
            let src = Source {
                path: role_path.clone(),
                index: index.clone(),
            };
            parse_node::<RoleFile>(&v, &src, &[], report)?
        }
    };
    let role = Arc::new(LoadedRole {
        name: file.name.clone(),
        dir: dir.clone(),
        defaults: file.defaults.clone().unwrap_or_default(),
        vars: inv.vars.clone().unwrap_or_default(),
        tags: inv.tags.clone(),
        source: Arc::new(Source {
            index,
            path: role_path,
        }),
    });
    Some((role, file))
}

/// Loads every playbook, collecting all problems instead of stopping at the first.
pub fn load_playbooks(paths: &[PathBuf]) -> Result<Vec<LoadedPlay>> {
    let (plays, report) = load(paths, LoadMode::Strict);
    if report.problems.is_empty() {
        Ok(plays)
    } else {
        Err(Error::Invalid(
            report.problems.into_iter().map(|(_, d)| d).collect(),
        ))
    }
}

/// Loads what can be loaded, for `jetlike lint`: a play, task or handler that does not parse is
/// reported and left out, and every other node still loads (with its true position), so one
/// problem hides no other.
pub fn load_playbooks_lenient(paths: &[PathBuf]) -> (Vec<LoadedPlay>, LoadReport) {
    load(paths, LoadMode::Lenient)
}

fn playbook_dir(path: &Path) -> PathBuf {
    path.parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

fn load(paths: &[PathBuf], mode: LoadMode) -> (Vec<LoadedPlay>, LoadReport) {
    use FieldStep::{Index as I, Key as K};
    let mut plays = vec![];
    let mut report = LoadReport::default();
    for path in paths {
        let text = match read_text(path) {
            Ok(t) => t,
            Err(e) => {
                report.push_all("missing-file", e, path);
                continue;
            }
        };
        if let Err(e) = check_yaml_depth(path, &text) {
            report.push_all("invalid-playbook", e, path);
            continue;
        }
        let source = Arc::new(Source {
            path: path.clone(),
            index: yaml_spans::index(&text),
        });
        let dir = playbook_dir(path);
        match serde_yaml_ng::from_str::<Vec<Play>>(&text) {
            Ok(parsed) if parsed.is_empty() => report.push(
                "invalid-playbook",
                Diagnostic::new(format!("playbook {} has no plays", path.display()))
                    .at(Some(Location::new(path, 1, 1)))
                    .help("a playbook is a list of plays: - name: ...\n  groups: [all]\n  tasks: [...]"),
            ),
            Ok(parsed) => {
                for (pi, play) in parsed.into_iter().enumerate() {
                    let (nt, nh) = (play.tasks.len(), play.handlers.len());
                    let idx = ((0..nt).collect(), (0..nh).collect());
                    plays.push(load_play(play, pi, &source, &dir, &mut report, mode, idx));
                }
            }
            Err(e) if mode == LoadMode::Strict => {
                report.push("invalid-playbook", yaml_error(path, &e));
            }
            Err(e) => {
                let Some(doc) = parse_value(path, &text, &mut report) else {
                    continue;
                };
                let serde_yaml_ng::Value::Sequence(items) = untag(&doc) else {
                    report.push("invalid-playbook", yaml_error(path, &e));
                    continue;
                };
                for (pi, item) in items.iter().enumerate() {
                    let mut stripped = item.clone();
                    let (mut tasks_v, mut handlers_v) = (None, None);
                    if let Some(m) = mapping_at(&mut stripped, &[]) {
                        tasks_v = m.remove("tasks");
                        handlers_v = m.remove("handlers");
                    }
                    let play = parse_node::<Play>(&stripped, &source, &[I(pi)], &mut report);
                    let (tasks, t_ok) = parse_task_items(
                        tasks_v.as_ref(),
                        &source,
                        &[I(pi), K("tasks")],
                        &mut report,
                    );
                    let (handlers, h_ok) = parse_task_items(
                        handlers_v.as_ref(),
                        &source,
                        &[I(pi), K("handlers")],
                        &mut report,
                    );
                    if !(t_ok && h_ok) {
                        report.incomplete.insert((path.clone(), pi));
                    }
                    let Some(mut play) = play else {
                        continue;
                    };
                    let (ti, tv): (Vec<usize>, Vec<Task>) = tasks.into_iter().unzip();
                    let (hi, hv): (Vec<usize>, Vec<Task>) = handlers.into_iter().unzip();
                    play.tasks = tv;
                    play.handlers = hv;
                    plays.push(load_play(
                        play,
                        pi,
                        &source,
                        &dir,
                        &mut report,
                        mode,
                        (ti, hi),
                    ));
                }
            }
        }
    }
    (plays, report)
}

/// Load-time checks of single task fields that serde cannot express: file modes (how the
/// number was written), `save:` names and `save_limit:` sizes.
fn check_task_fields(t: &LoadedTask, report: &mut LoadReport) {
    use FieldStep::Key as K;
    match &t.task {
        Task::Copy(f) | Task::Template(f) => {
            let Some(mode) = f.attributes.as_ref().and_then(|a| a.mode.as_ref()) else {
                return;
            };
            let field = [K("attributes"), K("mode")];
            let mut path = t.origin.path.clone();
            path.extend(field.iter().cloned());
            let written = t.origin.source.plain_source(&path);
            if let Err(e) = mode.validate(written.as_deref()) {
                report.push(
                    "invalid-mode",
                    Diagnostic::new(e)
                        .at(Some(t.field_location(&field, None)))
                        .help("modes are octal: 0o640 (YAML's octal) or \"0640\""),
                );
            }
        }
        Task::Shell(s) => {
            if let Some(Err(e)) = s.save_limit.as_ref().map(Size::bytes) {
                report.push(
                    "invalid-playbook",
                    Diagnostic::new(format!("save_limit: {e}"))
                        .at(Some(t.field_location(&[K("save_limit")], None)))
                        .help("e.g. save_limit: 64MiB (the default is 16 MiB)"),
                );
            }
            if let Some(name) = s.save.as_deref() {
                let valid = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    report.push(
                        "invalid-playbook",
                        Diagnostic::new(format!(
                            "`save: {name:?}` is not a variable name: the fact could never be used"
                        ))
                        .at(Some(t.field_location(&[K("save")], None)))
                        .help("name the fact with letters, digits and `_`, not starting with a digit (save: result)"),
                    );
                } else if name.trim().starts_with(crate::env_name::ENV_PREFIX) {
                    report.push(
                        "env-reserved-name",
                        Diagnostic::new(format!(
                            "`save: {}` would create a fact named like an ENV_ variable",
                            name.trim()
                        ))
                        .at(Some(t.field_location(&[K("save")], None)))
                        .help("ENV_ names are reserved for environment values loaded with --loadenv; save under another name"),
                    );
                }
            }
        }
    }
}

/// `positions`: the YAML index of each of `play.tasks` and `play.handlers` (lenient loading
/// leaves out the ones that did not parse).
fn load_play(
    play: Play,
    pi: usize,
    source: &Arc<Source>,
    dir: &Path,
    report: &mut LoadReport,
    mode: LoadMode,
    positions: (Vec<usize>, Vec<usize>),
) -> LoadedPlay {
    use FieldStep::{Index as I, Key as K};
    if play.batch_size == Some(0) {
        report.push(
            "invalid-playbook",
            Diagnostic::new("`batch_size: 0` would run no host")
                .at(Some(source.locate(&[I(pi), K("batch_size")])))
                .help("set batch_size to 1 or more, or leave it out to run every host at once"),
        );
    }
    let mut vars = play.vars.clone().unwrap_or_default();
    for (fi, f) in play.vars_files.iter().enumerate() {
        let p = dir.join(f);
        report.named_files.insert(p.clone());
        let at_field = source.locate(&[I(pi), K("vars_files"), I(fi)]);
        if !p.exists() {
            report.push(
                "missing-file",
                Diagnostic::new(format!("vars file {f:?} not found"))
                    .at(Some(at_field))
                    .help(format!(
                        "vars_files are relative to the playbook's directory: {}",
                        p.display()
                    )),
            );
            continue;
        }
        match load_vars_file(&p) {
            Ok(v) => merge(&mut vars, &v),
            Err(Error::Invalid(ds)) => {
                for d in ds {
                    // A file that cannot be read (line 0) is shown where the playbook names it.
                    let at = match &d.location {
                        Some(l) if l.line > 0 => Some(l.clone()),
                        _ => Some(at_field.clone()),
                    };
                    report.push("invalid-playbook", d.at(at));
                }
            }
            Err(_) => {}
        }
    }
    let mut tasks = vec![];
    let mut handlers = vec![];
    let mut complete = true;
    for (ri, inv) in play.roles.iter().enumerate() {
        let at = source.locate(&[I(pi), K("roles"), I(ri)]);
        match load_role(dir, inv, at, report, mode) {
            Some((role, file)) => {
                for f in &file.tasks {
                    complete &= load_task_list(
                        &role.dir.join("tasks").join(f),
                        &role,
                        &mut tasks,
                        report,
                        mode,
                    );
                }
                for f in &file.handlers {
                    complete &= load_task_list(
                        &role.dir.join("handlers").join(f),
                        &role,
                        &mut handlers,
                        report,
                        mode,
                    );
                }
            }
            None => complete = false,
        }
    }
    if !complete {
        report.incomplete.insert((source.path.clone(), pi));
    }
    let (task_pos, handler_pos) = positions;
    for (list, key, pos, out) in [
        (&play.tasks, "tasks", &task_pos, &mut tasks),
        (&play.handlers, "handlers", &handler_pos, &mut handlers),
    ] {
        for (ti, task) in list.iter().enumerate() {
            out.push(LoadedTask {
                task: task.clone(),
                origin: Origin {
                    source: source.clone(),
                    path: vec![I(pi), K(key), I(pos.get(ti).copied().unwrap_or(ti))],
                    role: None,
                },
                number: 0,
            });
        }
    }
    for (i, t) in tasks.iter_mut().enumerate() {
        t.number = i + 1;
    }
    for (i, h) in handlers.iter_mut().enumerate() {
        h.number = i + 1;
        if h.task.with().and_then(|w| w.subscribe.as_ref()).is_none() {
            report.push(
                "invalid-playbook",
                Diagnostic::new(format!(
                    "handler {:?} has no `with: {{subscribe: EVENT}}`, so nothing could ever run it",
                    h.task.display_name()
                ))
                .at(Some(h.location()))
                .help("add `with: {subscribe: EVENT}` and `and: {notify: EVENT}` to the task that should trigger it"),
            );
        }
    }
    for t in tasks.iter().chain(handlers.iter()) {
        check_task_fields(t, report);
    }
    for t in &tasks {
        if t.task.with().and_then(|w| w.subscribe.as_ref()).is_some() {
            report.push(
                "invalid-playbook",
                Diagnostic::new("`subscribe` is only valid on handlers")
                    .at(Some(t.field_location(&[K("with"), K("subscribe")], None)))
                    .help("move this task under `handlers:`, or use `condition:`"),
            );
        }
    }
    LoadedPlay {
        play,
        index: pi,
        source: source.clone(),
        dir: dir.to_path_buf(),
        vars,
        tasks,
        handlers,
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;

    #[test]
    fn serde_messages_split_into_path_and_text() {
        let (p, m) = split_serde_message("with.tags[1]: invalid type: sequence at line 3 column 7");
        assert_eq!(
            p,
            vec![
                FieldStep::Name("with".into()),
                FieldStep::Name("tags".into()),
                FieldStep::Index(1)
            ]
        );
        assert_eq!(m, "invalid type: sequence");
        let (p, m) = split_serde_message("unknown field `x`, expected `a` at line 4 column 1");
        assert!(p.is_empty());
        assert_eq!(m, "unknown field `x`, expected `a`");
        assert_eq!(
            serde_path(&[
                FieldStep::Index(0),
                FieldStep::Key("tasks"),
                FieldStep::Index(2)
            ]),
            ".[0].tasks[2]"
        );
    }
}
