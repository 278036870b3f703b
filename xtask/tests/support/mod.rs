//! This repository's own tests: the testbed's helpers (`xtask_testbed`), where this repository is,
//! and a committed copy of it to release from.
#![allow(dead_code)]

pub use xtask_testbed::*;

use std::path::{Path, PathBuf};
use std::process::Command;

/// This repository's root (the xtask package is its `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A committed copy of this repository's workspace (its crates, the engine, this xtask) in a
/// temporary directory, signing offline (the public transparency log is out of reach).
pub fn copy_of_repository(name: &str) -> Fixture {
    let fixture = Fixture::copy_of(&scratch_source(name), name);
    fixture.edit("Cargo.toml", "\ntlog-upload = true\n", "\ntlog-upload = false\n");
    fixture.commit("fixture");
    fixture
}

/// The workspace's files (no `target/`, `.git`, docs or CI files) in a scratch directory.
fn scratch_source(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-repository-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in ["Cargo.toml", "Cargo.lock", ".cargo", "crates", "xtask"] {
        let status = Command::new("cp").arg("-a").arg(workspace_root().join(entry)).arg(&dir).status().unwrap();
        assert!(status.success(), "copy {entry}");
    }
    dir
}
