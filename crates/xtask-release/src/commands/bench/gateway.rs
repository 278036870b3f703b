//! The workspace row P11r measures: a generated order gateway with the dependency tree of a real
//! service (axum, hyper, reqwest and sqlx on tokio, rustls on ring, serde, clap, tracing: about
//! 200 crates for a Linux target) and the release profile real services ship with (thin LTO, one
//! codegen unit), 2 platforms. The example service has a small tree and no LTO; this one shows
//! what the recipe's second compile and link cost where linking is expensive.
//!
//! Its lock file is resolved when generated (resolver 3: the newest versions whose `rust-version`
//! the builder's rustc 1.85 meets), so the tree follows crates.io; the row's note gives its size.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::Shell;

use super::commit_all;
use crate::tools::cargo;

/// Where the scratch copy holds it.
pub const DIR: &str = "target/xtask/bench/p11r";

const MANIFEST: &str = r#"[workspace]
members = ["crates/gateway"]
resolver = "3"

[workspace.package]
version = "0.1.0"
edition = "2021"
rust-version = "1.85"

# What services that care about size and speed ship with; P11 divides by the same profile.
[profile.release]
lto = "thin"
codegen-units = 1

[workspace.metadata.xtask]
release-branches = ["main"]

[workspace.metadata.xtask.signing]
enabled = false

[workspace.metadata.xtask.images.gateway]
package = "gateway"
target = "runtime"
platforms = ["linux/amd64", "linux/arm64"]
repositories = ["ghcr.io/bench/gateway"]
"#;

/// Writes the workspace into `dir` (emptied first), resolves its lock file and commits it.
pub fn generate(sh: &Shell, dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    let krate = dir.join("crates/gateway");
    std::fs::create_dir_all(krate.join("src")).with_context(|| format!("cannot create {}", krate.display()))?;
    let files = [
        (dir.join("Cargo.toml"), MANIFEST),
        (dir.join(".gitignore"), "/target\n"),
        (krate.join("Cargo.toml"), include_str!("gateway/Cargo.toml.txt")),
        (krate.join("src/main.rs"), include_str!("gateway/main.rs.txt")),
    ];
    for (path, text) in files {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let _in_dir = sh.push_dir(dir);
    cargo::generate_lock_file(sh).context("cannot resolve the gateway's dependencies (crates.io)")?;
    commit_all(sh)
}
