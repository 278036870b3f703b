//! `cargo metadata --format-version 1 --no-deps`, typed: the fields the xtask reads, deserialized
//! with serde (cargo's documented, stable output; unknown fields are ignored, so a newer cargo that
//! adds some still parses).
//!
//! Not the `cargo_metadata` crate: it brought camino, cargo-platform and thiserror with it, ~4 CPU
//! seconds of the xtask's cold compile (bench P5) for the dozen fields below.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result};
use semver::Version;
use serde::Deserialize;
use xshell::{cmd, Shell};

/// The workspace: its root, its members and `[workspace.metadata]`.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    /// Every package `cargo metadata --no-deps` lists: the workspace's members.
    pub packages: Vec<Package>,
    /// The members' package ids.
    pub workspace_members: Vec<String>,
    pub workspace_root: PathBuf,
    /// `[workspace.metadata]` of the root manifest (`null` when it has none).
    #[serde(rename = "metadata", default)]
    pub workspace_metadata: serde_json::Value,
}

/// One member crate.
#[derive(Debug, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: Version,
    pub id: String,
    pub manifest_path: PathBuf,
    pub edition: String,
    /// As written (`1.85` or `1.85.0`); `rules::toolchain::parse_rust_version` reads it.
    pub rust_version: Option<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    pub repository: Option<String>,
    pub homepage: Option<String>,
    pub targets: Vec<Target>,
    pub dependencies: Vec<Dependency>,
}

/// A target of a package: a library, a binary, a test, a build script…
#[derive(Debug, Deserialize)]
pub struct Target {
    pub name: String,
    /// `lib`, `bin`, `test`, `custom-build`, `example`, `bench`, `proc-macro`, …
    pub kind: Vec<String>,
    pub src_path: PathBuf,
}

/// A dependency as declared; `path` is set for a path dependency.
#[derive(Debug, Deserialize)]
pub struct Dependency {
    pub path: Option<PathBuf>,
}

impl Metadata {
    /// `cargo metadata --no-deps` of the workspace at the shell's directory.
    pub fn read(sh: &Shell) -> Result<Metadata> {
        let json = cmd!(sh, "cargo metadata --format-version 1 --no-deps")
            .quiet()
            .read()
            .context("`cargo metadata` failed: fix the manifest error it printed")?;
        Metadata::parse(&json)
    }

    pub fn parse(json: &str) -> Result<Metadata> {
        serde_json::from_str(json).context("could not parse `cargo metadata` output")
    }

    /// The workspace's member packages, in cargo's order.
    pub fn workspace_packages(&self) -> Vec<&Package> {
        self.packages.iter().filter(|package| self.workspace_members.contains(&package.id)).collect()
    }
}

impl Metadata {
    /// The members `roots` reach through path dependencies of any kind, `roots` included (cargo
    /// loads them all to build any of them).
    pub fn path_closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let members = self.workspace_packages();
        let by_dir = |dir: &PathBuf| members.iter().find(|p| p.manifest_path.parent() == Some(dir.as_path()));
        let mut reached: BTreeSet<String> = BTreeSet::new();
        let mut queue: Vec<String> = roots.into_iter().map(str::to_owned).collect();
        while let Some(name) = queue.pop() {
            let Some(package) = members.iter().find(|p| p.name == name) else { continue };
            if reached.insert(name) {
                queue.extend(
                    package.dependencies.iter().filter_map(|d| by_dir(d.path.as_ref()?)).map(|p| p.name.clone()),
                );
            }
        }
        reached
    }
}

impl Target {
    pub fn is_kind(&self, kind: &str) -> bool {
        self.kind.iter().any(|k| k == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::Metadata;

    /// The shape cargo prints (trimmed): a root package, a member with a path dependency and a
    /// build script, fields this type ignores, and no `[workspace.metadata]`.
    #[test]
    fn reads_what_cargo_prints() {
        let json = r#"{"packages":[
            {"name":"app","version":"1.2.3","id":"path+file:///w#app@1.2.3","license":null,"license_file":null,
             "description":"An app","source":null,"dependencies":[
                {"name":"core","source":null,"req":"^0.4","kind":null,"rename":null,"optional":false,
                 "uses_default_features":true,"features":[],"target":null,"registry":null,"path":"/w/crates/core"},
                {"name":"serde","source":"registry+https://github.com/rust-lang/crates.io-index","req":"^1",
                 "kind":null,"rename":null,"optional":false,"uses_default_features":true,"features":[],
                 "target":null,"registry":null}],
             "targets":[{"kind":["bin"],"crate_types":["bin"],"name":"app","src_path":"/w/src/bin/app/main.rs",
                         "edition":"2024","doc":true,"doctest":false,"test":true},
                        {"kind":["custom-build"],"crate_types":["bin"],"name":"build-script-build",
                         "src_path":"/w/build.rs","edition":"2024","doc":false,"doctest":false,"test":false}],
             "features":{},"manifest_path":"/w/Cargo.toml","metadata":null,"publish":null,"authors":[],
             "categories":[],"keywords":[],"readme":null,"repository":"https://example.com/app","homepage":null,
             "documentation":null,"edition":"2024","links":null,"default_run":null,"rust_version":"1.88"},
            {"name":"core","version":"0.4.1","id":"path+file:///w/crates/core#0.4.1","license":"MIT",
             "description":null,"dependencies":[],"targets":[{"kind":["lib"],"crate_types":["lib"],"name":"core",
             "src_path":"/w/crates/core/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true}],
             "manifest_path":"/w/crates/core/Cargo.toml","edition":"2021","rust_version":null,
             "repository":null,"homepage":null}],
            "workspace_members":["path+file:///w#app@1.2.3","path+file:///w/crates/core#0.4.1"],
            "workspace_default_members":["path+file:///w#app@1.2.3"],"resolve":null,
            "target_directory":"/w/target","version":1,"workspace_root":"/w","metadata":null}"#;
        let metadata = Metadata::parse(json).unwrap();
        let packages = metadata.workspace_packages();
        assert_eq!(packages.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["app", "core"]);
        let app = packages[0];
        assert_eq!(app.version.to_string(), "1.2.3");
        assert_eq!(app.rust_version.as_deref(), Some("1.88"));
        assert_eq!(app.edition, "2024");
        assert!(app.targets[0].is_kind("bin") && !app.targets[1].is_kind("bin"));
        let paths: Vec<_> = app.dependencies.iter().filter_map(|d| d.path.as_ref()).collect();
        assert_eq!(paths, [std::path::Path::new("/w/crates/core")]);
        assert!(metadata.workspace_metadata.is_null());
        assert_eq!(packages[1].license.as_deref(), Some("MIT"));
    }
}
