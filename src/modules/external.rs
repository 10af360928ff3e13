//! `!external`: in Jet, runs a module program found on the controller (`use:`) with JSON
//! `params`. Not supported: its fields are read (so the task parses whatever it holds) and
//! the task is refused at load, with its location, before any host is touched. Run the
//! program with `!shell` instead.

use serde::Deserialize;
use serde_json::Value;

use super::registry::{common_fields, task_label, FieldProblem, ModuleFields};
use super::{Applied, Plan, TaskCtx, TaskError, TaskModule};
use crate::field_path::{FieldStep, TemplatedField};
use crate::task_logic::{PostLogic, PreLogic};

/// Jet's fields, read as they are (boxed: they are never used): the task is refused whatever
/// they hold.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalTask {
    pub name: Option<String>,
    #[serde(rename = "use")]
    pub use_module: Option<Box<Value>>,
    pub params: Option<Box<Value>>,
    pub save: Option<Box<Value>>,
    pub failed_when: Option<Box<Value>>,
    pub changed_when: Option<Box<Value>>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub no_log: bool,
    pub with: Option<PreLogic>,
    pub and: Option<PostLogic>,
}

common_fields!(ExternalTask);

impl ModuleFields for ExternalTask {
    fn summary(&self) -> String {
        self.use_module
            .as_deref()
            .and_then(Value::as_str)
            .unwrap_or("(no use:)")
            .to_string()
    }

    fn templated_fields<'a>(&'a self, _out: &mut Vec<TemplatedField<'a>>) {}

    fn check_fields(&self, _written: &dyn Fn(&[FieldStep]) -> Option<String>) -> Vec<FieldProblem> {
        vec![FieldProblem {
            code: "invalid-playbook",
            field: vec![],
            message: format!(
                "!external is not supported (task {:?}): jetlike does not run external module programs",
                task_label(self, "external")
            ),
            help: "run the program with !shell (cmd: ./module --params '...'), with save: to keep its output".into(),
        }]
    }
}

impl TaskModule for ExternalTask {
    async fn plan(&self, _ctx: &TaskCtx<'_>) -> Result<Plan, TaskError> {
        Err(TaskError::new("!external is not supported"))
    }

    async fn apply(&self, _ctx: &TaskCtx<'_>, _plan: Plan) -> Result<Applied, TaskError> {
        Err(TaskError::new("!external is not supported"))
    }
}
