//! Adoption as a user does it, for the adoption and upgrade tests: `cargo new --vcs none xtask`, the
//! two files the engine's README shows (with the engine dependency a test names: a path, or a git
//! revision), and `cargo run --manifest-path xtask/Cargo.toml -- init`; everything run with the
//! adopter's git identity and a cargo target directory of the test's own.

use std::path::Path;
use std::process::{Command, Output};

use super::{docker, package_dir, target_dir};

/// The identity the adoption tests commit as: an adopter's own, not this repository's.
pub const ADOPTER_GIT_ENV: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "Adopter"),
    ("GIT_AUTHOR_EMAIL", "adopter@example.com"),
    ("GIT_COMMITTER_NAME", "Adopter"),
    ("GIT_COMMITTER_EMAIL", "adopter@example.com"),
];

/// `program` run in `dir` as the adopter: their git identity, a cargo target directory per test
/// binary (its tests run one at a time, so no two at once replace the same `xtask` executable
/// under each other), and one cargo build directory for every adopter (what a CI cache gives a
/// real workspace): the engine and its dependencies compile once for all the adoption tests, not
/// once per test binary; cargo's lock on that directory makes two binaries' builds take turns.
/// The xtask keeps its state in the workspace's own `target/xtask` either way.
pub fn as_adopter(dir: &Path, program: &str) -> Command {
    let exe = std::env::current_exe().expect("the test's own executable");
    let name = exe.file_name().and_then(|n| n.to_str()).and_then(|n| n.rsplit_once('-')).map(|(n, _)| n.to_owned());
    let adopters = target_dir().join("adopters");
    let target = adopters.join(name.unwrap_or_else(|| "tests".into()));
    let mut command = Command::new(program);
    command
        .current_dir(dir)
        .envs(ADOPTER_GIT_ENV)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_BUILD_BUILD_DIR", adopters.join("build"));
    command
}

/// Runs `program args…` in `dir` as the adopter; its stdout and stderr, asserting it succeeded.
pub fn run_as_adopter(dir: &Path, program: &str, args: &[&str]) -> String {
    log_of(&adopter_output(dir, program, args), program, args, true)
}

/// Runs `program args…` in `dir` as the adopter.
pub fn adopter_output(dir: &Path, program: &str, args: &[&str]) -> Output {
    as_adopter(dir, program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn log_of(out: &Output, program: &str, args: &[&str], must_pass: bool) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!must_pass || out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

/// The two files of `xtask/` as `readme` shows them (the code blocks whose first line names
/// `xtask/Cargo.toml` and `xtask/src/main.rs`), the engine dependency replaced by `dependency`
/// (e.g. `{ path = "…" }`).
pub fn readme_xtask_files(readme: &Path, dependency: &str) -> (String, String) {
    let manifest = readme_block(readme, "toml\n# xtask/Cargo.toml");
    let main = readme_block(readme, "rust\n// xtask/src/main.rs");
    let requirement = "xtask-release = \"0.1\"";
    assert!(manifest.contains(requirement), "the README's xtask depends on {requirement}:\n{manifest}");
    (manifest.replace(requirement, &format!("xtask-release = {dependency}")), main)
}

/// The body of the first code block of `readme` that opens with ```` ```{first} ```` (a language,
/// a newline and the start of the block's first line), that first line included.
pub fn readme_block(readme: &Path, first: &str) -> String {
    let text = std::fs::read_to_string(readme).unwrap_or_else(|e| panic!("{}: {e}", readme.display()));
    let start = text.find(&format!("```{first}")).unwrap_or_else(|| panic!("{} shows {first:?}", readme.display()));
    let body = &text[start..];
    let body = &body[body.find('\n').expect("a code block's language line") + 1..];
    body[..body.find("```").expect("the code block ends")].to_owned()
}

/// Adopts the engine in the git work tree `dir` as `readme` says: `cargo new --vcs none xtask`,
/// the two files (with `dependency`), then `init` through `cargo run --manifest-path`. Returns
/// init's output.
pub fn adopt(dir: &Path, (readme, dependency): (&Path, &str), init_args: &[&str]) -> String {
    run_as_adopter(dir, "cargo", &["new", "--quiet", "--vcs", "none", "xtask"]);
    let (manifest, main) = readme_xtask_files(readme, dependency);
    std::fs::write(dir.join("xtask/Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("xtask/src/main.rs"), main).unwrap();
    let args = [&["run", "--quiet", "--manifest-path", "xtask/Cargo.toml", "--", "init"][..], init_args].concat();
    run_as_adopter(dir, "cargo", &args)
}

/// The engine whose tests run, as adopters see it: its README, and a path dependency on it.
pub fn engine_under_test() -> (std::path::PathBuf, String) {
    (package_dir().join("README.md"), format!("{{ path = {:?} }}", package_dir().display().to_string()))
}

/// `cargo xtask release --execute --local` in `dir`, as the adopter types it (outside GitHub
/// Actions, the testbed's vulnerability DB): whether it passed, and what it printed (also echoed).
pub fn release_local(dir: &Path) -> (bool, String) {
    let out = as_adopter(dir, "cargo")
        .args(["xtask", "release", "--execute", "--local"])
        .envs(super::testbed_env())
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let log = log_of(&out, "cargo", &[], false);
    eprintln!("--- cargo xtask release --execute --local → {}\n{log}", out.status);
    (out.status.success(), log)
}

/// Removes the registry a `release --local` in `dir` left running (its name is in
/// `target/xtask/local/registry`). For `Drop`: never panics.
pub fn remove_local_registry(dir: &Path) {
    if let Ok(name) = std::fs::read_to_string(dir.join("target/xtask/local/registry")) {
        let _ = docker(&["rm", "--force", "--volumes", name.trim()]);
    }
}

/// A workspace an adoption test made, its local registry removed and its directory deleted when
/// dropped, whatever happened.
pub struct Adopted(pub std::path::PathBuf);

impl Drop for Adopted {
    fn drop(&mut self) {
        remove_local_registry(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
