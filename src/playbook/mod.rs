//! The playbook model: plays, roles and loaded tasks with their origin (file, field path,
//! role). The tasks themselves are the module table (`modules::registry`); loading lives in
//! [`loader`]. The old public paths stay valid through the re-exports below.
//!
//! Typed structs with `deny_unknown_fields` make unknown fields and module tags errors with a
//! line and column; a position index (`yaml_spans`) lets later checks point into the same files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

pub mod lenient;
pub mod load_report;
pub mod loader;
pub mod yaml_errors;

use crate::error::Location;
use crate::yaml_spans::{Node, Step};

pub use self::load_report::LoadReport;
pub use self::loader::{
    load_playbooks, load_playbooks_lenient, load_vars_file, parse_vars, set_role_paths,
};
pub use self::yaml_errors::{check_yaml_depth, yaml_error};
pub use crate::field_path::{collect_strings, field_as_template, field_path_string, FieldStep};
pub use crate::modules::file::{Attributes, FileTask, Mode};
pub use crate::modules::shell::{ShellTask, Size};
pub use crate::modules::{Task, MODULES};
pub use crate::task_logic::{Items, PostLogic, PreLogic};

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
