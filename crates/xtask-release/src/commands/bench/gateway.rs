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

use super::write_workspace;

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
    let files = [
        ("Cargo.toml", MANIFEST),
        ("crates/gateway/Cargo.toml", include_str!("gateway/Cargo.toml.txt")),
        ("crates/gateway/src/main.rs", include_str!("gateway/main.rs.txt")),
    ];
    write_workspace(sh, dir, &files).context("cannot generate the gateway (its crates come from crates.io)")
}
