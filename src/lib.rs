//! jetlike: run Jet-style YAML playbooks locally or over SSH, delivering secrets from the
//! environment into rendered templates and nowhere else.

pub mod capture;
pub mod cli;
pub mod connection;
pub mod credentials;
pub mod depth;
pub mod diff;
pub mod env_name;
pub mod environment;
pub mod error;
pub mod input_file;
pub mod inventory;
pub mod lint;
pub mod manpages;
pub mod mask;
pub mod modules;
pub mod output;
pub mod playbook;
pub mod policy;
pub mod prepare;
pub mod runner;
pub mod schema;
pub mod secret;
pub mod secret_decl;
pub mod secret_source;
pub mod secret_spec;
pub mod signals;
pub mod source;
pub mod summary;
pub mod temp_files;
pub mod template;
pub mod var_precedence;
pub mod vars;
pub mod yaml_spans;

/// The taint record lives with the diffs that use it; `jetlike::taint` stays its public path.
pub use diff::taint;
