fn main() {
    std::process::exit(firedrill::cli::main());
}
