//! `xtask-release`: the engine's `cargo xtask` with no team subcommands.
fn main() -> std::process::ExitCode {
    xtask_release::main()
}
