//! Upgrades are a dependency bump: a fresh project adopts the engine at an earlier commit of this
//! repository (the first with `cargo xtask init`), as a git dependency on a local bare clone, and
//! releases to a local registry. The branch it follows then moves to this working tree's engine,
//! `cargo update -p xtask-release` takes it, and the project releases its next version: what the
//! old engine left (its release record, its verdict and build caches, the registry's tags) is read
//! by the new one, whose record names it and which moves the old engine's floating tags forward;
//! `init --check` holds for the new engine.

mod support;

use std::path::Path;

use support::*;
use xtask_testbed::adopter::{adopt, release_local, Adopted};

fn git(dir: &Path, args: &[&str]) -> String {
    run_as_adopter(dir, "git", args).trim().to_owned()
}

/// The first commit of this repository whose engine has `cargo xtask init`.
fn first_engine_commit() -> String {
    let root = workspace_root();
    let log = git(&root, &["log", "--format=%H", "--diff-filter=A", "--", "crates/xtask-release/src/commands/init.rs"]);
    log.lines().last().expect("a commit of this repository adds the engine's `init`").to_owned()
}

fn release(dir: &Path) -> serde_json::Value {
    assert!(release_local(dir).0, "the local release failed");
    read_json(&dir.join("target/xtask/release-record.json"))
}

#[test]
fn a_project_on_an_earlier_engine_upgrades_with_cargo_update_and_releases_again() {
    let _engine = engine_lock();
    let scratch = std::env::temp_dir().join(format!("xtask-upgrade-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let _scratch = RemovedOnDrop(scratch.clone());
    let (bare, dir) = (scratch.join("engine.git"), scratch.join("hello"));
    let _adopted = Adopted(dir.clone());

    // The engine's repository, as an adopter would reach it: a branch `engine` at the earlier commit.
    let old = first_engine_commit();
    git(&scratch, &["clone", "--quiet", "--bare", workspace_root().to_str().unwrap(), bare.to_str().unwrap()]);
    git(&bare, &["branch", "--force", "engine", &old]);

    run_as_adopter(&scratch, "cargo", &["new", "--quiet", "--vcs", "git", "hello"]);
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() {\n    println!(\"hello {}\", env!(\"CARGO_PKG_VERSION\"));\n}\n",
    )
    .unwrap();
    git(&dir, &["add", "--all"]);
    git(&dir, &["commit", "--quiet", "--message", "hello"]);
    let dependency = format!("{{ git = \"file://{}\", branch = \"engine\" }}", bare.display());
    adopt(&dir, (&workspace_root().join("crates/xtask-release/README.md"), &dependency), &[]);
    git(&dir, &["add", "--all"]);
    git(&dir, &["commit", "--quiet", "--message", "adopt the release engine"]);
    let first = release(&dir);
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    assert!(lock.contains(&format!("branch=engine#{old}")), "the project is on the earlier engine:\n{lock}");

    // The engine moves on: the branch gets this working tree's engine; `cargo update` takes it.
    let clone = scratch.join("engine");
    git(&scratch, &["clone", "--quiet", "--branch", "engine", bare.to_str().unwrap(), clone.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(clone.join("crates/xtask-release"));
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(workspace_root().join("crates/xtask-release"))
        .arg(clone.join("crates/"))
        .status()
        .unwrap();
    assert!(status.success(), "copy the working tree's engine");
    git(&clone, &["add", "--all"]);
    git(&clone, &["commit", "--quiet", "--allow-empty", "--message", "the engine as in the working tree"]);
    git(&clone, &["push", "--quiet", "origin", "engine"]);
    let new = git(&clone, &["rev-parse", "HEAD"]);
    run_as_adopter(&dir, "cargo", &["update", "--quiet", "-p", "xtask-release"]);
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    assert!(lock.contains(&format!("branch=engine#{new}")), "cargo update took the new engine:\n{lock}");
    git(&dir, &["add", "--all"]);
    git(&dir, &["commit", "--quiet", "--message", "upgrade the release engine"]);

    // The new engine reads the old one's release record ...
    run_as_adopter(&dir, "cargo", &["xtask", "init", "--check"]);
    let kept = scratch.join("old-record");
    std::fs::create_dir_all(&kept).unwrap();
    std::fs::copy(dir.join("target/xtask/release-record.json"), kept.join("release-record.json")).unwrap();
    let summary = run_as_adopter(&dir, "cargo", &["xtask", "release", "summary", kept.to_str().unwrap()]);
    assert!(summary.contains("hello"), "the new engine reads the old engine's release record: {summary}");
    // ... its caches and the registry's tags, and releases the next version, `latest` moving forward.
    run_as_adopter(&dir, "cargo", &["xtask", "version", "bump", "patch", "--commit"]);
    let second = release(&dir);
    assert_eq!(second["engine"], format!("xtask-release {}", xtask_release::VERSION));
    assert_eq!((first["version"].as_str(), second["version"].as_str()), (Some("0.1.0"), Some("0.1.1")));
    let floating: Vec<&str> =
        second["images"][0]["floating_tags"].as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
    assert!(floating.iter().any(|t| t.ends_with("/hello:latest")), "latest moves to 0.1.1: {floating:?}");
}
