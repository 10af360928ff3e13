//! `!copy` and `!template`: idempotent file delivery. The wanted content's SHA-256 and the
//! wanted owner/group/mode are compared with the target; only a difference causes a write,
//! and the write is atomic (see `Connection::put`).

use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::connection::{Connection, FileAttrs, FileStatus};
use crate::output::Status;
use crate::playbook::FileTask;
use crate::secret::Secret;
use crate::taint::Hole;
use crate::template::Dialect;

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
    Copy(Arc<Vec<u8>>),
    Template {
        template: Arc<LoadedTemplate>,
        env: &'a std::collections::BTreeMap<String, Secret>,
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
                .map(|m| m.bits())
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
    fn render(&self, ctx: &TaskCtx<'_>) -> Result<Rendered, TaskError> {
        match &self.content {
            Content::Copy(bytes) => Ok((Zeroizing::new(bytes.as_ref().clone()), Some(vec![]))),
            Content::Template { template, env } => {
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
                let holes = if ctx.want_diff && !template.env_refs.is_empty() {
                    self.taint(ctx, template, env, &text)
                } else {
                    Some(vec![])
                };
                Ok((Zeroizing::new(text.into_bytes()), holes))
            }
        }
    }

    /// Renders again with each secret replaced by a sentinel, to find the secret spans.
    fn taint(
        &self,
        ctx: &TaskCtx<'_>,
        template: &LoadedTemplate,
        env: &std::collections::BTreeMap<String, Secret>,
        real: &str,
    ) -> Option<Vec<Hole>> {
        let mut data = ctx.vars.clone();
        if let Value::Object(m) = &mut data {
            for (i, name) in template.env_refs.iter().enumerate() {
                m.insert(name.clone(), Value::String(crate::taint::sentinel(i)));
            }
        }
        let shadow = ctx
            .engine
            .render_file(template.dialect, &template.text, &data)
            .ok()?;
        let values: Vec<&[u8]> = template
            .env_refs
            .iter()
            .map(|n| env.get(n).map_or(&b""[..], |s| s.expose()))
            .collect();
        crate::taint::holes(real, &shadow, &template.env_refs, &values)
    }
}

impl TaskModule for FileModule<'_> {
    async fn plan(&self, ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        let dest = ctx
            .engine
            .render(&self.task.dest, ctx.vars)
            .map_err(|e| TaskError::new(format!("cannot render dest: {e}")))?;
        let attrs = self.wanted_attrs(ctx)?;
        let (content, holes) = self.render(ctx)?;
        let status = ctx.conn.stat(&dest, ctx.want_diff, ctx.privilege).await?;
        let wanted_sha = hex::encode(Sha256::digest(&content[..]));
        let mut changes = vec![];
        let (created, old) = match &status {
            FileStatus::Missing { parent_exists: false } => {
                return Err(TaskError::new(format!(
                    "the parent directory of {dest} does not exist; create it first (for example with a !shell task running mkdir -p)"
                )))
            }
            FileStatus::Missing { .. } => (true, None),
            FileStatus::NotAFile => {
                return Err(TaskError::new(format!(
                    "{dest} exists and is not a regular file; remove it or choose another dest"
                )))
            }
            FileStatus::File {
                sha256,
                mode,
                owner,
                group,
                content: old,
            } => {
                if *sha256 != wanted_sha {
                    changes.push("content".to_string());
                }
                if attrs.mode.is_some_and(|m| m != *mode) {
                    changes.push("mode".to_string());
                }
                if attrs.owner.as_ref().is_some_and(|o| o != owner) {
                    changes.push("owner".to_string());
                }
                if attrs.group.as_ref().is_some_and(|g| g != group) {
                    changes.push("group".to_string());
                }
                (false, old.clone())
            }
        };
        if !created && changes.is_empty() {
            return Ok(Plan::Unchanged);
        }
        let diff =
            (ctx.want_diff && (created || changes.iter().any(|c| c == "content"))).then(|| {
                Box::new(crate::diff::file_diff(
                    &dest,
                    old.as_deref(),
                    &content,
                    holes.as_deref().unwrap_or_default(),
                    holes.is_none(),
                ))
            });
        // The target's old content may hold a rotated-out secret: wipe it.
        drop(old.map(Zeroizing::new));
        Ok(Plan::Put {
            dest,
            content,
            attrs,
            created,
            changes,
            diff,
        })
    }

    /// One round trip over SSH: the target compares and writes only if needed.
    async fn converge(&self, ctx: &TaskCtx<'_>) -> Result<(Applied, Vec<String>), TaskError> {
        let dest = ctx
            .engine
            .render(&self.task.dest, ctx.vars)
            .map_err(|e| TaskError::new(format!("cannot render dest: {e}")))?;
        let attrs = self.wanted_attrs(ctx)?;
        let (content, _) = self.render(ctx)?;
        let sha = hex::encode(Sha256::digest(&content[..]));
        let done = ctx
            .conn
            .ensure(&dest, &content, &sha, &attrs, ctx.privilege)
            .await?;
        let status = match (done.created, done.changes.is_empty()) {
            (true, _) => Status::Created,
            (false, true) => Status::Matched,
            (false, false) => Status::Modified,
        };
        let changed = status != Status::Matched;
        Ok((
            Applied {
                status: Some(status),
                changed,
                ..Default::default()
            },
            done.changes,
        ))
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
