//! The xtask's declared `rust-version` is true, and it compiles inside a host that shares nothing
//! with it: copied into an edition-2024 root-package workspace with no `[workspace.package]` and
//! `[workspace.lints]` denying common lints, `cargo check -p xtask --offline --locked` passes with
//! Debian trixie's cargo 1.85, the toolchain stage of `docker/Dockerfile` (crates vendored on the
//! host, no network in the container).

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

/// The oldest Rust the xtask declares (xtask/Cargo.toml `rust-version`), what trixie ships.
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
fn the_xtask_builds_with_its_declared_rust_inside_an_edition_2024_host() {
    let manifest = std::fs::read_to_string(workspace_root().join("xtask/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("rust-version = \"{DECLARED}\"")),
        "xtask/Cargo.toml declares another rust-version"
    );
    assert!(
        !manifest.contains(".workspace = true") && !manifest.contains("[lints]"),
        "the xtask inherits from its host"
    );

    let _engine = engine_lock();
    let dir = std::env::temp_dir().join(format!("xtask-msrv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let _cleanup = RemovedOnDrop(dir.clone());
    std::fs::write(dir.join("Cargo.toml"), HOST_MANIFEST).unwrap();
    std::fs::write(dir.join("src/main.rs"), "//! The host's own tool.\n\nfn main() {}\n").unwrap();
    let status = Command::new("cp").arg("-a").arg(workspace_root().join("xtask")).arg(&dir).status().unwrap();
    assert!(status.success(), "copy xtask/");
    let _ = std::fs::remove_dir_all(dir.join("xtask/target"));
    // This repository's lock, trimmed by cargo to the host's packages: the versions CI tests with.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    run(&dir, "cargo", &["vendor", "--offline", "--quiet", "vendor"]);
    // The host compiles with the host's Rust too, lints denied and all (the xtask is not linted by them).
    run(&dir, "cargo", &["check", "--offline", "--locked", "--quiet", "--workspace"]);

    let image = "xtask-test/msrv-toolchain:trixie";
    let built = Command::new("docker")
        .args(["buildx", "build", "--quiet", "--load", "--target", "toolchain", "--tag", image])
        .arg("--file")
        .arg(workspace_root().join("docker/Dockerfile"))
        .arg(workspace_root().join("docker"))
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
        "--mount",
        &mount(&dir.join("vendor"), "/vendor"),
        "--workdir",
        "/src",
        "--env",
        "CARGO_TARGET_DIR=/src/target-msrv",
        image,
        "cargo",
        "check",
        "-p",
        "xtask",
        "--all-targets",
        "--offline",
        "--locked",
    ]);
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "cargo {DECLARED} can't check the xtask:\n{log}");
    assert!(log.contains("Finished"), "{log}");
}
