//! Adoption by dependency, as the engine's README tells it, on a fresh `cargo new --vcs git`
//! project: `cargo new --vcs none xtask`, the README's two files (the engine as a path dependency,
//! as it is not published from here), `cargo run --manifest-path xtask/Cargo.toml -- init` — which
//! makes the project a workspace with the xtask, adds the alias and one image per binary, from the
//! GitHub remote and the `master` branch — then `cargo xtask release --execute --local`: built,
//! smoke-tested, scanned, pushed, verified, signed, floating tags moved, the record naming the
//! engine. Afterwards the project's own `cargo test --workspace` and `cargo clippy --workspace --
//! -D warnings` pass, `init` changes nothing and `init --check` passes, the project's crate is
//! untouched, and a subcommand of the team's own (the README's) runs beside the engine's. Nothing
//! of the engine's repository is copied.

use std::path::Path;

use xtask_testbed::adopter::{adopt, adopter_output, engine_under_test, readme_block, release_local, Adopted};
use xtask_testbed::*;

/// The project's program: like most command-line programs it answers `--version` with
/// `name X.Y.Z`, which the smoke test checks.
const MAIN: &str = r#"fn main() {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("hello {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    println!("Hello, world!");
}
"#;

fn locked_packages(dir: &Path) -> usize {
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap_or_default();
    lock.matches("[[package]]").count()
}

#[test]
fn a_fresh_cargo_new_project_adopts_the_engine_by_dependency_and_releases_locally() {
    let _engine = engine_lock();
    let parent = std::env::temp_dir().join(format!("xtask-adoption-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).unwrap();
    let dir = parent.join("hello");
    let _parent = RemovedOnDrop(parent.clone());
    let _adopted = Adopted(dir.clone());
    run_as_adopter(&parent, "cargo", &["new", "--quiet", "--vcs", "git", "hello"]);
    std::fs::write(dir.join("src/main.rs"), MAIN).unwrap();
    run_as_adopter(&dir, "cargo", &["generate-lockfile", "--offline", "--quiet"]);
    run_as_adopter(&dir, "git", &["remote", "add", "origin", "https://github.com/Example-Org/hello.git"]);
    run_as_adopter(&dir, "git", &["add", "--all"]);
    run_as_adopter(&dir, "git", &["commit", "--quiet", "--message", "hello as it is"]);
    let branch = run_as_adopter(&dir, "git", &["symbolic-ref", "--short", "HEAD"]).trim().to_owned();
    let before = locked_packages(&dir);

    let (readme, dependency) = engine_under_test();
    let init = adopt(&dir, (&readme, &dependency), &[]);
    for change in [
        "init: added \"xtask\" to [workspace] members",
        "init: wrote [workspace.metadata.xtask]: image(s) hello",
        "init: added the alias `xtask = \"run --package xtask --\"` to .cargo/config.toml",
        "init: removed xtask/Cargo.lock",
    ] {
        assert!(init.contains(change), "{change:?} missing:\n{init}");
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("release-branches = [\"{branch}\"]")), "the default branch:\n{manifest}");
    assert!(manifest.contains("repositories = [\"ghcr.io/example-org/hello\"]"), "from the remote:\n{manifest}");
    assert!(!dir.join("xtask/Cargo.lock").exists() && !dir.join("docker").exists());

    // The first `cargo xtask` locks the engine's dependencies into the project's lock; commit it all.
    let again = run_as_adopter(&dir, "cargo", &["xtask", "init"]);
    assert!(again.contains("init: nothing to change"), "init twice:\n{again}");
    run_as_adopter(&dir, "git", &["add", "--all"]);
    run_as_adopter(&dir, "git", &["commit", "--quiet", "--message", "adopt the release engine"]);
    let added = locked_packages(&dir) - before;
    eprintln!("adoption added {added} packages to Cargo.lock (the xtask and the engine included)");
    // 46 on 2026-12-06: the engine's dependency tree (clap, serde, toml_edit, cargo_metadata, duct,
    // xshell, …) and the lock's Windows-only crates, which a lock lists for every platform.
    assert!(added <= 48, "adoption adds {added} packages to the project's Cargo.lock: keep it low");
    assert_eq!(run_as_adopter(&dir, "git", &["diff", "--stat", "HEAD~1", "--", "src"]), "", "the crate is untouched");
    run_as_adopter(&dir, "cargo", &["xtask", "init", "--check"]);

    let (released, log) = release_local(&dir);
    assert!(released, "the adopted project's local release failed");
    for done in ["hello on linux/amd64: ok", "hello on linux/arm64: ok", "<== sign ok", "<== push-floating ok"] {
        assert!(log.contains(done), "{done:?} missing from the release log");
    }
    let record = read_json(&dir.join("target/xtask/release-record.json"));
    assert_eq!(record["engine"], format!("xtask-release {}", env!("CARGO_PKG_VERSION")));
    assert_eq!((record["version"].as_str(), record["images"][0]["name"].as_str()), (Some("0.1.0"), Some("hello")));
    assert_eq!(record["images"][0]["platforms"].as_object().unwrap().len(), 2);

    // The project stays green, and the team's own subcommand (the README's) runs beside the engine's.
    run_as_adopter(&dir, "cargo", &["test", "--workspace", "--quiet"]);
    run_as_adopter(&dir, "cargo", &["clippy", "--workspace", "--quiet", "--", "-D", "warnings"]);
    std::fs::write(dir.join("xtask/src/main.rs"), readme_block(&readme, "rust\n// xtask/src/main.rs, with")).unwrap();
    let help = run_as_adopter(&dir, "cargo", &["xtask", "--help"]);
    assert!(help.contains("  lint ") && help.contains("  release ") && help.contains("  init "), "{help}");
    let lint = adopter_output(&dir, "cargo", &["xtask", "lint"]);
    assert!(lint.status.success(), "the team's own `cargo xtask lint`:\n{}", stderr(&lint));
    let version = run_as_adopter(&dir, "cargo", &["xtask", "--version"]);
    assert!(version.contains(&format!("(xtask-release {})", env!("CARGO_PKG_VERSION"))), "{version}");
}
