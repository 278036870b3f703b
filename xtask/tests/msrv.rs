//! The engine's declared `rust-version` is true, and an xtask over it compiles inside a host that
//! shares nothing with it: this repository's xtask and the engine copied into an edition-2024
//! root-package workspace with no `[workspace.package]` and `[workspace.lints]` denying common lints,
//! `cargo check -p xtask --offline --locked` passes with Debian trixie's cargo 1.85, the toolchain
//! stage of the engine's Dockerfile (crates vendored on the host, no network in the container).

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

/// The oldest Rust the engine declares (crates/xtask-release/Cargo.toml `rust-version`), what trixie ships.
const DECLARED: &str = "1.85";

const HOST_MANIFEST: &str = r#"[package]
name = "host"
version = "2.4.1"
edition = "2024"
rust-version = "1.85"
publish = false

[lints]
workspace = true

[workspace]
resolver = "3"
members = [".", "xtask"]

[workspace.lints.rust]
unsafe_code = "deny"
missing_docs = "deny"
unused_qualifications = "deny"

[workspace.lints.clippy]
all = { level = "deny", priority = -1 }
pedantic = { level = "deny", priority = -1 }
unwrap_used = "deny"
"#;

fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

#[test]
fn the_engine_builds_with_its_declared_rust_inside_an_edition_2024_host() {
    for crate_dir in ["crates/xtask-release", "xtask"] {
        let manifest = std::fs::read_to_string(workspace_root().join(crate_dir).join("Cargo.toml")).unwrap();
        assert!(
            !manifest.contains(".workspace = true") && !manifest.contains("[lints]"),
            "{crate_dir} inherits from its host"
        );
    }
    let engine = std::fs::read_to_string(workspace_root().join("crates/xtask-release/Cargo.toml")).unwrap();
    assert!(engine.contains(&format!("rust-version = \"{DECLARED}\"")), "the engine declares another rust-version");

    let _engine = engine_lock();
    let dir = std::env::temp_dir().join(format!("xtask-msrv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let _cleanup = RemovedOnDrop(dir.clone());
    std::fs::write(dir.join("Cargo.toml"), HOST_MANIFEST).unwrap();
    std::fs::write(dir.join("src/main.rs"), "//! The host's own tool.\n\nfn main() {}\n").unwrap();
    std::fs::create_dir_all(dir.join("crates")).unwrap();
    for entry in ["xtask", "crates/xtask-release", "crates/xtask-testbed"] {
        let status =
            Command::new("cp").arg("-a").arg(workspace_root().join(entry)).arg(dir.join(entry)).status().unwrap();
        assert!(status.success(), "copy {entry}");
    }
    // This repository's lock, trimmed by cargo to the host's packages: the versions CI tests with.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    run(&dir, "cargo", &["vendor", "--offline", "--quiet", "vendor"]);
    // The source replacement `cargo vendor` prints, where cargo finds it in the host and in the
    // container (the toolchain stage configures no source: the engine mounts one per compile).
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    std::fs::write(
        dir.join(".cargo/config.toml"),
        "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n[source.vendored-sources]\ndirectory = \"vendor\"\n",
    )
    .unwrap();
    // The host's own crate compiles with the host's Rust, lints denied and all, in a workspace
    // that has the xtask as a member (which those lints do not reach). The xtask and the engine
    // with the host's Rust are what this repository's own build compiles.
    run(&dir, "cargo", &["check", "--offline", "--locked", "--quiet", "-p", "host"]);

    let image = "xtask-test/msrv-toolchain:trixie";
    let built = Command::new("docker")
        .args(["buildx", "build", "--quiet", "--load", "--target", "toolchain", "--tag", image])
        .arg("--file")
        .arg(workspace_root().join("crates/xtask-release/docker/Dockerfile"))
        .arg(workspace_root().join("crates/xtask-release/docker"))
        .output()
        .unwrap();
    assert!(built.status.success(), "toolchain stage: {}", String::from_utf8_lossy(&built.stderr));
    let version = docker_ok(&["run", "--rm", "--network=none", image, "cargo", "--version"]);
    assert!(
        version.starts_with(&format!("cargo {DECLARED}.")),
        "the toolchain stage is not Rust {DECLARED}: {version}"
    );
    let mount = |from: &Path, to: &str| format!("type=bind,source={},target={to}", from.display());
    let out = docker(&[
        "run",
        "--rm",
        "--network=none",
        "--mount",
        &mount(&dir, "/src"),
        "--workdir",
        "/src",
        "--env",
        "CARGO_TARGET_DIR=/src/target-msrv",
        image,
        "cargo",
        "check",
        "-p",
        "xtask",
        "--offline",
        "--locked",
    ]);
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cargo {DECLARED} can't check the xtask and its engine:\n{log}");
    assert!(log.contains("Finished"), "{log}");
}
