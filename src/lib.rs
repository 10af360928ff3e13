//! jetlike: run Jet-style YAML playbooks locally or over SSH, delivering secrets from the
//! environment into rendered templates and nowhere else.

pub mod cli;
pub mod connection;
pub mod credentials;
pub mod diff;
pub mod environment;
pub mod error;
pub mod inventory;
pub mod lint;
pub mod mask;
pub mod modules;
pub mod output;
pub mod playbook;
pub mod policy;
pub mod prepare;
pub mod runner;
pub mod secret;
pub mod secret_decl;
pub mod secret_source;
pub mod signals;
pub mod source;
pub mod taint;
pub mod temp_files;
pub mod template;
pub mod vars;
pub mod yaml_spans;
