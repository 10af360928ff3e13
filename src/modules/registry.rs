//! The one table of modules. Each line names a module's YAML tag, its `Task` variant and the
//! struct its fields parse into; everything else about a module (which of its fields are
//! templated, how it is named in output, its load-time checks, how it plans and applies) is
//! behind [`ModuleFields`] and `TaskModule`, implemented in the module's own file.
//!
//! The serde `enum Task` *is* the table (serde picks the variant by the YAML tag, with the
//! unknown-variant message lint's fixtures know), so adding a module is one new file and one
//! line in [`modules!`] below.

use serde::Deserialize;

use crate::field_path::{FieldStep, TemplatedField};
use crate::task_logic::{PostLogic, PreLogic};

/// The fields every module's struct carries, implemented by [`common_fields!`].
pub trait CommonFields {
    fn name(&self) -> Option<&str>;
    fn with(&self) -> Option<&PreLogic>;
    fn and(&self) -> Option<&PostLogic>;
    /// `sensitive: true` or `no_log: true`: the task's output is never printed.
    fn sensitive(&self) -> bool;
}

/// What the rest of jetlike needs to know about a module's fields, without knowing the module.
pub trait ModuleFields: CommonFields {
    /// What the task is about when it has no `name:` (a command's first line, a destination).
    fn summary(&self) -> String;

    /// This module's string fields rendered as templates, with their paths relative to the
    /// task, in the order they are written. `name`, `with` and `and` are added by
    /// [`Task::templated_fields`]: the ENV_ policy and lint walk exactly that list.
    fn templated_fields<'a>(&'a self, out: &mut Vec<TemplatedField<'a>>);

    /// Host variables this task defines when it runs (`save:`, `!set`'s keys, `!facts`'
    /// names): known to later tasks whatever the order, for lint and the pre-run checks.
    fn saved_names(&self) -> Vec<String> {
        vec![]
    }

    /// Load-time checks serde cannot express. `written` gives the source text of the unquoted
    /// scalar at a field path (relative to the task), when it is known.
    fn check_fields(&self, written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        let _ = written;
        vec![]
    }
}

/// How a task is named in a load-time message: its `name`, or `module: summary` (as
/// [`Task::display_name`] does, for modules that only have their fields).
pub fn task_label(fields: &dyn ModuleFields, module: &str) -> String {
    fields
        .name()
        .map_or_else(|| format!("{module}: {}", fields.summary()), str::to_owned)
}

/// A problem found by [`ModuleFields::check_fields`], located at a field of the task.
#[derive(Debug, Clone)]
pub struct FieldProblem {
    /// The `jetlike lint` finding code.
    pub code: &'static str,
    /// The field, relative to the task.
    pub field: Vec<FieldStep>,
    pub message: String,
    pub help: String,
}

/// Implements [`CommonFields`] for a module struct with the usual `name`, `sensitive`,
/// `no_log`, `with` and `and` fields.
macro_rules! common_fields {
    ($fields:ty) => {
        impl $crate::modules::registry::CommonFields for $fields {
            fn name(&self) -> Option<&str> {
                self.name.as_deref()
            }
            fn with(&self) -> Option<&$crate::task_logic::PreLogic> {
                self.with.as_ref()
            }
            fn and(&self) -> Option<&$crate::task_logic::PostLogic> {
                self.and.as_ref()
            }
            fn sensitive(&self) -> bool {
                self.sensitive || self.no_log
            }
        }
    };
}
pub(crate) use common_fields;

/// Writes the table once: the serde enum, [`MODULES`], and the dispatch to each module's
/// fields.
macro_rules! modules {
    ($($variant:ident($fields:ty) = $tag:literal),+ $(,)?) => {
        /// A task: the module is chosen by the YAML tag (`!shell`, `!copy`, `!template`).
        #[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
        pub enum Task {
            $(
                #[serde(rename = $tag)]
                $variant($fields),
            )+
        }

        /// Every module's tag, in table order (help texts, the JSON Schema).
        pub const MODULES: &[&str] = &[$($tag),+];

        impl Task {
            /// The module's tag.
            pub fn module(&self) -> &'static str {
                match self {
                    $(Task::$variant(_) => $tag,)+
                }
            }

            /// The module's fields, seen through what every module declares.
            pub fn fields(&self) -> &dyn ModuleFields {
                match self {
                    $(Task::$variant(fields) => fields,)+
                }
            }
        }
    };
}

modules! {
    Shell(super::shell::ShellTask) = "shell",
    Copy(super::file::FileTask) = "copy",
    Template(super::file::FileTask) = "template",
    Echo(super::echo::EchoTask) = "echo",
    Debug(super::debug::DebugTask) = "debug",
    Fail(super::fail::FailTask) = "fail",
    Assert(super::assert::AssertTask) = "assert",
    Set(super::set::SetTask) = "set",
    Facts(super::facts::FactsTask) = "facts",
    External(super::external::ExternalTask) = "external",
    Apt(super::packages::PackageTask) = "apt",
    Dnf(super::packages::PackageTask) = "dnf",
    Yum(super::packages::PackageTask) = "yum",
    Zypper(super::packages::PackageTask) = "zypper",
    Pacman(super::packages::PackageTask) = "pacman",
    Homebrew(super::packages::PackageTask) = "homebrew",
    Directory(super::directory::DirectoryTask) = "directory",
    File(super::plain_file::PlainFileTask) = "file",
    Stat(super::stat::StatTask) = "stat",
    Git(super::git::GitTask) = "git",
    User(super::user::UserTask) = "user",
    Group(super::group::GroupTask) = "group",
    SdService(super::sd_service::SdServiceTask) = "sd_service",
}

impl Task {
    pub fn name(&self) -> Option<&str> {
        self.fields().name()
    }

    /// The name, or `module: summary` when the task has none.
    pub fn display_name(&self) -> String {
        self.name().map_or_else(
            || format!("{}: {}", self.module(), self.fields().summary()),
            str::to_owned,
        )
    }

    pub fn with(&self) -> Option<&PreLogic> {
        self.fields().with()
    }

    pub fn and(&self) -> Option<&PostLogic> {
        self.fields().and()
    }

    /// `sensitive: true` or `no_log: true`: the task's output is never printed.
    pub fn sensitive(&self) -> bool {
        self.fields().sensitive()
    }

    /// Every string field that is rendered as a template, with its YAML path (relative to the
    /// task): `name`, the module's own (see [`ModuleFields::templated_fields`]), then `with`
    /// and `and`. The policy check and lint walk exactly this list.
    pub fn templated_fields(&self) -> Vec<TemplatedField<'_>> {
        let fields = self.fields();
        let mut out = vec![];
        if let Some(name) = fields.name() {
            out.push((vec![FieldStep::Key("name")], name));
        }
        fields.templated_fields(&mut out);
        if let Some(with) = fields.with() {
            with.templated_fields(&mut out);
        }
        if let Some(and) = fields.and() {
            and.templated_fields(&mut out);
        }
        out
    }
}
