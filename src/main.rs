//! The `jetlike` binary: everything is in the library (`run_command`).

fn main() {
    std::process::exit(jetlike::run_command::main());
}
