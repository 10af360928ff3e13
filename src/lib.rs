//! jetlike: run Jet-style YAML playbooks locally or over SSH, delivering secrets from the
//! environment into rendered templates and nowhere else.

pub mod capture;
pub mod cli;
pub mod connection;
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
pub mod secret_patterns;
pub mod taint;
pub mod template;
pub mod vars;
pub mod yaml_spans;
