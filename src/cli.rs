//! The old public path of the command line, kept so `jetlike::cli::main` and `cli::Cli` still
//! work: the clap structs live in `arguments`, the program in `run_command`.

pub use crate::arguments::{Cli, Command, DisconnectArgs, InventoryArgs, LintArgs, RunArgs};

/// `jetlike`'s entry point; see [`crate::run_command::main`].
pub fn main() -> i32 {
    crate::run_command::main()
}
