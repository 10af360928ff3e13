//! `!copy` and `!template`: idempotent file delivery. The wanted content's SHA-256 and the
//! wanted owner/group/mode are compared with the target; only a difference causes a write,
//! and the write is atomic (see `Connection::put`). A copied file is never held in memory:
//! hashed before the run and streamed when sent (see `connection::payload`); a check-mode
//! diff of content over `diff::MAX_DIFF_BYTES` is a summary line, read from neither side.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::registry::{common_fields, FieldProblem, ModuleFields};
use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::connection::{
    Connection, Ensured, FileAttrs, FileStatus, OldContent, Payload, SourceFile, WantedFile,
};
use crate::field_path::{push_optional, FieldStep, TemplatedField};
use crate::output::Status;
use crate::secret::Secret;
use crate::taint::Hole;
use crate::task_logic::{PostLogic, PreLogic};
use crate::template::Dialect;

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
    pub fn validate(&self, written: Option<&str>) -> Result<u32, String> {
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

    pub fn bits(&self) -> Result<u32, String> {
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

common_fields!(FileTask);

impl ModuleFields for FileTask {
    fn summary(&self) -> String {
        self.dest.clone()
    }

    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>) {
        use FieldStep::Key as K;
        out.push((vec![K("src")], &self.src));
        out.push((vec![K("dest")], &self.dest));
        if let Some(a) = &self.attributes {
            push_optional(
                out,
                &[K("attributes")],
                &[("owner", &a.owner), ("group", &a.group)],
            );
            if let Some(Mode::Text(m)) = &a.mode {
                out.push((vec![K("attributes"), K("mode")], m));
            }
        }
    }

    /// A mode must be octal, and not a decimal number that looks octal (see [`Mode::validate`]).
    fn check_fields(&self, written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        super::common::check_attrs(self.attributes.as_ref(), written)
    }
}

/// A template file, loaded and analysed before any host is contacted.
#[derive(Debug)]
pub struct LoadedTemplate {
    pub path: std::path::PathBuf,
    pub text: String,
    pub dialect: Dialect,
    /// The `ENV_` variables this file references statically: the only ones it will see.
    pub env_refs: Vec<String>,
}

pub enum Content<'a> {
    /// A copy source, hashed before the run.
    Copy(Arc<SourceFile>),
    Template {
        template: Arc<LoadedTemplate>,
        env: &'a std::collections::BTreeMap<String, Secret>,
        /// Every secret-derived run of the render joins it before the render is used.
        masker: &'a crate::mask::Masker,
    },
}

/// Wanted content, and where its secret bytes are (`None`: unknown, so all of it).
type Rendered = (Zeroizing<Vec<u8>>, Option<Vec<Hole>>);

pub struct FileModule<'a> {
    pub task: &'a FileTask,
    pub content: Content<'a>,
    /// The template consumes secrets: default the mode to 0600.
    pub secret_bearing: bool,
}

impl FileModule<'_> {
    fn wanted_attrs(&self, ctx: &TaskCtx<'_>) -> Result<FileAttrs, TaskError> {
        let mut attrs = FileAttrs::default();
        if let Some(a) = &self.task.attributes {
            let render = |s: &String| {
                ctx.engine
                    .render(s, ctx.vars)
                    .map_err(|e| TaskError::new(format!("cannot render attributes: {e}")))
            };
            attrs.owner = a.owner.as_ref().map(render).transpose()?;
            attrs.group = a.group.as_ref().map(render).transpose()?;
            attrs.mode = a
                .mode
                .as_ref()
                .map(Mode::bits)
                .transpose()
                .map_err(TaskError::new)?;
        }
        if attrs.mode.is_none() && self.secret_bearing {
            attrs.mode = Some(0o600);
        }
        Ok(attrs)
    }

    /// The wanted content, and (for diffs) where its secret bytes are; `None` holes means
    /// they could not be located, so the whole content counts as secret.
    fn render(&self, ctx: &TaskCtx<'_>) -> Result<(Payload, Option<Vec<Hole>>), TaskError> {
        match &self.content {
            Content::Copy(source) => Ok((Payload::File(source.clone()), Some(vec![]))),
            Content::Template { .. } => {
                let (bytes, holes) = self.render_template(ctx)?;
                Ok((Payload::Bytes(bytes), holes))
            }
        }
    }

    /// `render` of a template.
    fn render_template(&self, ctx: &TaskCtx<'_>) -> Result<Rendered, TaskError> {
        match &self.content {
            Content::Copy(_) => unreachable!("only templates are rendered"),
            Content::Template {
                template,
                env,
                masker,
            } => {
                // Least privilege: only the ENV_ variables this file names statically.
                let mut data = ctx.vars.clone();
                if let Value::Object(m) = &mut data {
                    for name in &template.env_refs {
                        let secret = env.get(name).ok_or_else(|| {
                            TaskError::new(format!(
                                "{name} is not set in the environment ({} references it)",
                                template.path.display()
                            ))
                        })?;
                        let value = String::from_utf8_lossy(secret.expose()).into_owned();
                        m.insert(name.clone(), Value::String(value));
                    }
                }
                let rendered = ctx
                    .engine
                    .render_file(template.dialect, &template.text, &data);
                if let Value::Object(m) = &mut data {
                    for name in &template.env_refs {
                        if let Some(Value::String(mut s)) = m.remove(name) {
                            s.zeroize();
                        }
                    }
                }
                let text = rendered.map_err(|e| {
                    TaskError::new(format!("cannot render {}: {e}", template.path.display()))
                })?;
                if text.is_empty() {
                    return Err(TaskError::new(format!(
                        "{} rendered to an empty file; refusing to write it",
                        template.path.display()
                    )));
                }
                if template.env_refs.is_empty() {
                    return Ok((Zeroizing::new(text.into_bytes()), Some(vec![])));
                }
                // Values derived from secrets (upper-cased, reversed, sliced, joined...) are
                // secrets too: they join the masker before the render is used, so before any
                // output could carry them, on every host.
                let (holes, runs) = taint(ctx, template, env, &text);
                masker.add(
                    runs.into_iter()
                        // The value itself is known (and warned about if short) already.
                        .filter(|(var, bytes)| env.get(var).is_none_or(|s| s.expose() != bytes))
                        .map(|(var, bytes)| {
                            Secret::new(
                                format!(
                                    "a value derived from {var} in {}",
                                    template.path.display()
                                ),
                                bytes,
                            )
                        })
                        .collect::<Vec<_>>()
                        .iter(),
                );
                let holes = if ctx.want_diff { holes } else { Some(vec![]) };
                Ok((Zeroizing::new(text.into_bytes()), holes))
            }
        }
    }
}

/// Renders again with each secret replaced by a sentinel, to find the secret spans, and
/// the secret-derived runs the masker must learn (every line when the spans cannot be
/// found).
fn taint(
    ctx: &TaskCtx<'_>,
    template: &LoadedTemplate,
    env: &std::collections::BTreeMap<String, Secret>,
    real: &str,
) -> (Option<Vec<Hole>>, crate::taint::Runs) {
    let mut data = ctx.vars.clone();
    if let Value::Object(m) = &mut data {
        for (i, name) in template.env_refs.iter().enumerate() {
            m.insert(name.clone(), Value::String(crate::taint::sentinel(i)));
        }
    }
    let all = || crate::taint::all_lines(real, &template.env_refs);
    let Ok(shadow) = ctx
        .engine
        .render_file(template.dialect, &template.text, &data)
    else {
        return (None, all());
    };
    let values: Vec<&[u8]> = template
        .env_refs
        .iter()
        .map(|n| env.get(n).map_or(&b""[..], |s| s.expose()))
        .collect();
    let holes = crate::taint::holes(real, &shadow, &template.env_refs, &values);
    let runs = match &holes {
        Some(h) => crate::taint::secret_runs(real, &shadow, h),
        None => all(),
    };
    (holes, runs)
}

/// What a file task wants on the target, decided locally: the unit that consecutive file
/// tasks send to the target together (`Connection::ensure_all`).
pub struct Wanted {
    pub dest: String,
    pub content: Payload,
    pub sha256: String,
    pub attrs: FileAttrs,
}

impl Wanted {
    pub fn as_file(&self) -> WantedFile<'_> {
        WantedFile {
            path: &self.dest,
            content: &self.content,
            sha256: &self.sha256,
            attrs: &self.attrs,
        }
    }
}

/// `(attribute, old, new)` for each of mode, owner and group that `changes` names, with the
/// target's current values (`None` for a file not there yet), for check-mode diffs.
fn attribute_changes(
    status: &FileStatus,
    attrs: &FileAttrs,
    changes: &[String],
) -> Vec<(&'static str, Option<String>, String)> {
    let current = match status {
        FileStatus::File {
            mode, owner, group, ..
        } => Some((format!("{mode:04o}"), owner.clone(), group.clone())),
        _ => None,
    };
    let mut out = Vec::new();
    let wanted = [
        ("mode", attrs.mode.map(|m| format!("{m:04o}"))),
        ("owner", attrs.owner.clone()),
        ("group", attrs.group.clone()),
    ];
    for (i, (name, want)) in wanted.into_iter().enumerate() {
        let Some(want) = want else { continue };
        let old = current.as_ref().map(|(m, o, g)| [m, o, g][i].clone());
        if current.is_none() || changes.iter().any(|c| c == name) {
            out.push((name, old, want));
        }
    }
    out
}

/// The task result for what `ensure` did.
pub fn converged(done: Ensured) -> (Applied, Vec<String>) {
    let status = match (done.created, done.changes.is_empty()) {
        (true, _) => Status::Created,
        (false, true) => Status::Matched,
        (false, false) => Status::Modified,
    };
    let changed = status != Status::Matched;
    (
        Applied {
            status: Some(status),
            changed,
            ..Default::default()
        },
        done.changes,
    )
}

impl FileModule<'_> {
    /// Renders destination, attributes and content, without touching the target.
    pub fn want(&self, ctx: &TaskCtx<'_>) -> Result<Wanted, TaskError> {
        self.want_with_holes(ctx).map(|(want, _)| want)
    }

    /// `want`, plus where the content's secret bytes are (for diffs; see `render`).
    fn want_with_holes(&self, ctx: &TaskCtx<'_>) -> Result<(Wanted, Option<Vec<Hole>>), TaskError> {
        let dest = ctx
            .engine
            .render(&self.task.dest, ctx.vars)
            .map_err(|e| TaskError::new(format!("cannot render dest: {e}")))?;
        let attrs = self.wanted_attrs(ctx)?;
        let (content, holes) = self.render(ctx)?;
        let sha256 = match &content {
            Payload::Bytes(b) => hex::encode(Sha256::digest(&b[..])),
            Payload::File(source) => source.sha256.clone(),
        };
        let want = Wanted {
            dest,
            content,
            sha256,
            attrs,
        };
        Ok((want, holes))
    }
}

impl TaskModule for FileModule<'_> {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let (
            Wanted {
                dest,
                content,
                sha256,
                attrs,
            },
            holes,
        ) = self.want_with_holes(ctx)?;
        let fetch_old = ctx.want_diff && ctx.diff_content;
        let status = ctx.conn.stat(&dest, fetch_old, ctx.privilege).await?;
        let Ensured { created, changes } = match status.decide(&dest, &sha256, &attrs) {
            Ok(decided) => decided,
            // An earlier task (a `mkdir`) may create the directory, which check mode only
            // reports: say so rather than fail. Applying still fails if it is missing then.
            Err(_) if matches!(status, FileStatus::Missing { .. }) => Ensured {
                created: true,
                changes: vec!["its directory does not exist yet".to_string()],
            },
            Err(e) => return Err(e.into()),
        };
        if !created && changes.is_empty() {
            return Ok(Plan::Unchanged);
        }
        let content_changes = created || changes.iter().any(|c| c == "content");
        let attribute_changes = attribute_changes(&status, &attrs, &changes);
        let diff = ctx.want_diff.then(|| {
            let diff = if content_changes {
                self.content_diff(&dest, &content, holes.as_deref(), &status, ctx.diff_content)
            } else {
                crate::diff::FileDiff::attributes_only(&dest)
            };
            let diff = attribute_changes.iter().fold(diff, |d, (name, old, new)| {
                d.with_attribute_change(name, old.as_deref(), new)
            });
            Box::new(diff)
        });
        // The target's old content may hold a rotated-out secret: wipe it.
        if let FileStatus::File {
            content: Some(OldContent::Bytes(old)),
            ..
        } = status
        {
            drop(Zeroizing::new(old));
        }
        Ok(Plan::Put {
            dest,
            content,
            attrs,
            created,
            changes,
            diff,
        })
    }

    /// One round trip over SSH: the target compares and writes only if needed (two for a
    /// large file, which is sent only if needed).
    async fn converge(&self, ctx: &TaskCtx<'_>) -> Result<(Applied, Vec<String>), TaskError> {
        let want = self.want(ctx)?;
        let done = ctx
            .conn
            .ensure(
                &want.dest,
                &want.content,
                &want.sha256,
                &want.attrs,
                ctx.privilege,
            )
            .await?;
        Ok(converged(done))
    }

    async fn apply(&self, ctx: &TaskCtx<'_>, plan: Plan) -> Result<Applied, TaskError> {
        match plan {
            Plan::Put {
                dest,
                content,
                attrs,
                created,
                ..
            } => {
                ctx.conn.put(&dest, &content, &attrs, ctx.privilege).await?;
                Ok(Applied {
                    status: Some(if created {
                        Status::Created
                    } else {
                        Status::Modified
                    }),
                    changed: true,
                    ..Default::default()
                })
            }
            _ => Ok(Applied {
                status: Some(Status::Matched),
                ..Default::default()
            }),
        }
    }
}
