//! `clawtalk`: the command-line entry point.

fn main() -> std::process::ExitCode {
    clawtalk::main()
}
