//! What the workspace says about the Rust it needs, gathered for `rules::toolchain`: each member's
//! `rust-version` and edition as cargo metadata resolved them, whether its manifest inherits them,
//! its path dependencies, and the toolchain file at the root. Thin: file reads only.

use std::path::Path;

use anyhow::{Context, Result};

use crate::rules::toolchain::{self, CrateRust, Facts, ToolchainFile};
use crate::tools::metadata::Metadata;

/// The toolchain files rustup reads at a workspace root, in its order of preference.
const TOOLCHAIN_FILES: [&str; 2] = ["rust-toolchain.toml", "rust-toolchain"];

pub fn facts(metadata: &Metadata) -> Result<Facts> {
    let root = metadata.workspace_root.as_std_path();
    let relative = |path: &Path| path.strip_prefix(root).unwrap_or(path).display().to_string();
    let mut crates = Vec::new();
    for package in metadata.workspace_packages() {
        let manifest = package.manifest_path.as_std_path();
        let text =
            std::fs::read_to_string(manifest).with_context(|| format!("could not read {}", manifest.display()))?;
        crates.push(CrateRust {
            name: package.name.to_string(),
            manifest: relative(manifest),
            rust_version: package.rust_version.clone(),
            rust_version_inherited: toolchain::inherits(&text, "rust-version"),
            edition: package.edition.as_str().to_owned(),
            edition_inherited: toolchain::inherits(&text, "edition"),
            path_dependencies: package
                .dependencies
                .iter()
                .filter_map(|dependency| Some(relative(dependency.path.as_ref()?.as_std_path())))
                .collect(),
        });
    }
    let mut toolchain_file = None;
    for name in TOOLCHAIN_FILES {
        let path = root.join(name);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
            toolchain_file = Some(ToolchainFile { path: name.to_owned(), text });
            break;
        }
    }
    Ok(Facts { crates, toolchain_file })
}
