fn main() -> std::process::ExitCode {
    opsctl::main(std::env::args_os())
}
