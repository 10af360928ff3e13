//! jetlike: run Jet-style YAML playbooks locally or over SSH, delivering secrets from the
//! environment into rendered templates and nowhere else.

pub mod arguments;
pub mod capture;
pub mod cli;
pub mod config;
pub mod connection;
pub mod credentials;
pub mod depth;
pub mod diff;
pub mod dynamic_inventory;
pub mod env_name;
pub mod environment;
pub mod error;
pub mod exit_code;
pub mod fd_limit;
pub mod field_path;
pub mod input_file;
pub mod inventory;
pub mod lint;
pub mod lint_command;
pub mod manpages;
pub mod mask;
pub mod modules;
pub mod output;
pub mod persist;
pub mod playbook;
pub mod policy;
pub mod prepare;
pub mod run;
pub mod run_command;
pub mod schema;
pub mod secret;
pub mod secret_decl;
pub mod secret_source;
pub mod secret_spec;
pub mod shard;
pub mod show_inventory;
pub mod signals;
pub mod source;
pub mod status;
pub mod summary;
pub mod task_logic;
pub mod temp_files;
pub mod template;
pub mod var_precedence;
pub mod vars;
pub mod yaml_spans;

/// The taint record lives with the diffs that use it; `jetlike::taint` stays its public path.
pub use diff::taint;
/// The run engine's old path: `jetlike::runner::{Runner, RunOptions, SshOptions, Outcome}`.
pub use run as runner;
