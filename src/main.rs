fn main() -> std::process::ExitCode {
    dispel::cli::main()
}
