fn main() {
    std::process::exit(jetlike::cli::main());
}
