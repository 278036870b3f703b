//! The workspace as cargo sees it: its root, `cargo metadata --no-deps`, the one version, the
//! release configuration and the package facts the labels need.
//!
//! Thin effects (cargo, file reads); the decisions are in `version`, `config` and `manifest`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use semver::Version;
use xshell::{cmd, Shell};

use crate::rules::config::Config;
use crate::rules::labels::PackageMeta;
use crate::rules::manifest;
use crate::rules::recipe;
use crate::rules::version::MemberVersion;
use crate::rules::versioning::{self, Settings, Versioning};
use crate::tools::metadata::{self, Metadata, Package, TargetKind};

/// The crate of this tool: with the members it reaches by path (and no image needs), it doesn't
/// ship and needn't follow the version.
const TOOL_CRATE: &str = "xtask";

/// The workspace root: cargo's `workspace_root` for the current directory (`tools::metadata` keeps
/// what it read for the command's first read of the workspace).
pub fn root(sh: &Shell) -> Result<PathBuf> {
    metadata::workspace_root(sh)
}

/// The root manifest's path, relative to the shell's directory (the workspace root).
pub const ROOT_MANIFEST: &str = "Cargo.toml";
/// The lock file, relative to the workspace root.
pub const LOCK_FILE: &str = "Cargo.lock";

/// What cargo says about the workspace, with its versions checked.
pub struct Workspace {
    pub metadata: Metadata,
    /// The workspace version in lockstep mode; in independent mode `[workspace.package] version`
    /// when declared, else the highest released package's version (each image's own is in `versioning`).
    pub version: Version,
    /// The versioning mode, the tag pattern and, in independent mode, each released package's version.
    pub versioning: Versioning,
}

/// Reads the workspace from the shell's directory and decides its versioning: in lockstep mode
/// every shipped member must inherit `[workspace.package] version`.
pub fn load(sh: &Shell) -> Result<Workspace> {
    let metadata = metadata::read(sh)?;
    let root_manifest = metadata.workspace_root.as_std_path().join(ROOT_MANIFEST);
    let root_text = read(&root_manifest)?;
    let declared = manifest::declared_workspace_version(&root_text)
        .with_context(|| format!("reading {}", root_manifest.display()))?;
    let config = Config::from_metadata(&metadata.workspace_metadata)?;
    let members = shipped_members(&metadata, &config)
        .map(|package| {
            let text = read(package.manifest_path.as_std_path())?;
            let inherits = manifest::inherits_workspace_version(&text)
                .with_context(|| format!("reading {}", package.manifest_path))?;
            Ok(MemberVersion { name: package.name.to_string(), version: package.version.clone(), inherits })
        })
        .collect::<Result<Vec<_>>>()?;
    let images: Vec<(String, String)> =
        config.images.iter().map(|(name, image)| (name.clone(), image.package.clone())).collect();
    let settings = Settings { mode: config.versioning, tag_pattern: config.tag_pattern };
    let (versioning, declared) = versioning::decide(settings, declared.as_deref(), &members, &images)?;
    let version =
        declared.or_else(|| versioning.packages.values().max().cloned()).unwrap_or_else(|| Version::new(0, 0, 0));
    Ok(Workspace { metadata, version, versioning })
}

impl Workspace {
    /// The `[workspace.metadata.xtask]` configuration.
    pub fn config(&self) -> Result<Config> {
        Config::from_metadata(&self.metadata.workspace_metadata)
    }

    /// The facts of every workspace member the OCI labels are made from, by crate name.
    pub fn packages(&self) -> BTreeMap<String, PackageMeta> {
        self.metadata
            .workspace_packages()
            .into_iter()
            .map(|package| {
                let meta = PackageMeta {
                    description: package.description.clone(),
                    license: package.license.clone(),
                    repository: package.repository.clone(),
                    homepage: package.homepage.clone(),
                    documentation: package.documentation.clone(),
                    authors: package.authors.clone(),
                    binaries: package
                        .targets
                        .iter()
                        .filter(|target| target.is_kind(TargetKind::Bin))
                        .map(|target| target.name.clone())
                        .collect(),
                };
                (package.name.to_string(), meta)
            })
            .collect()
    }

    /// The main source file of binary `binary` of crate `package`.
    pub fn binary_source(&self, package: &str, binary: &str) -> Result<PathBuf> {
        let package = self
            .metadata
            .workspace_packages()
            .into_iter()
            .find(|p| p.name.as_str() == package)
            .with_context(|| format!("no workspace crate named `{package}`"))?;
        let target = package
            .targets
            .iter()
            .find(|t| t.name == binary && t.is_kind(TargetKind::Bin))
            .with_context(|| format!("crate `{}` has no binary `{binary}`", package.name))?;
        Ok(target.src_path.clone().into())
    }

    /// The workspace as the dependency recipe (`rules::recipe`) starts from: every member's
    /// manifest and targets, the root manifest, the lock file and `.cargo/config.toml`.
    pub fn recipe_inputs(&self) -> Result<recipe::Workspace> {
        let root = self.metadata.workspace_root.as_std_path();
        let relative = |path: &Path| -> Result<String> {
            let inside = path.strip_prefix(root).with_context(|| {
                format!("{} is outside the workspace: the image build only sees the workspace", path.display())
            })?;
            Ok(inside.display().to_string())
        };
        let mut members = Vec::new();
        for package in shipped_members(&self.metadata, &self.config()?) {
            let manifest = package.manifest_path.as_std_path();
            let mut targets = Vec::new();
            for target in &package.targets {
                let kinds = target.kind.iter().map(ToString::to_string).collect();
                targets.push((kinds, relative(target.src_path.as_std_path())?));
            }
            let mut path_dependencies = Vec::new();
            for dependency in &package.dependencies {
                if let Some(path) = &dependency.path {
                    path_dependencies.push(relative(path.as_std_path())?);
                }
            }
            members.push(recipe::Member {
                name: package.name.to_string(),
                manifest: relative(manifest)?,
                text: read(manifest)?,
                targets,
                path_dependencies,
            });
        }
        let config = root.join(".cargo/config.toml");
        Ok(recipe::Workspace {
            root_manifest: read(&root.join(ROOT_MANIFEST))?,
            lock: read(&root.join(LOCK_FILE))
                .context("the image build needs Cargo.lock: run `cargo generate-lockfile` and commit it")?,
            cargo_config: if config.exists() { Some(read(&config)?) } else { None },
            members,
        })
    }
}

/// Workspace members that ship: all but this tool.
/// The members but the release tooling: `xtask` and the members only it reaches by path (a
/// workspace that develops its own engine, or keeps helpers for its xtask), unless an image's
/// package reaches them too.
fn shipped_members<'a>(metadata: &'a Metadata, config: &Config) -> impl Iterator<Item = &'a Package> {
    let needed = metadata::path_closure(metadata, config.images.values().map(|image| image.package.as_str()));
    let tooling: BTreeSet<String> =
        metadata::path_closure(metadata, [TOOL_CRATE]).difference(&needed).cloned().collect();
    metadata.workspace_packages().into_iter().filter(move |p| !tooling.contains(&p.name))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

/// `cargo vendor --locked --versioned-dirs DIR` of the workspace, with the private registries'
/// tokens (`tools::secrets`: it fetches crates and runs no build script): the source replacement
/// it prints, or cargo's words when it fails.
pub fn vendor(sh: &Shell, dir: &Path) -> Result<std::result::Result<String, String>> {
    // Not --quiet: cargo then prints no source replacement either.
    let out = cmd!(sh, "cargo vendor --locked --versioned-dirs {dir}")
        .envs(crate::tools::secrets::cargo_tokens())
        .quiet()
        .ignore_status()
        .output()
        .context("could not run `cargo vendor`")?;
    Ok(match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        false => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
    })
}

/// Records the members' versions in Cargo.lock, no dependency changed (`cargo update --workspace
/// --offline`).
pub fn update_lock_file(sh: &Shell) -> Result<()> {
    Ok(cmd!(sh, "cargo update --workspace --offline --quiet").run()?)
}

/// Whether cargo accepts the manifests and the lock file as they are (`cargo metadata --locked
/// --offline`): an error, cargo's words shown, when not.
pub fn check_lock_file(sh: &Shell) -> Result<()> {
    Ok(cmd!(sh, "cargo metadata --locked --offline --format-version 1").quiet().ignore_stdout().run()?)
}

/// Writes a new Cargo.lock for the workspace in the shell's directory, offline.
pub fn generate_lock_file(sh: &Shell) -> Result<()> {
    Ok(cmd!(sh, "cargo generate-lockfile --offline --quiet").quiet().run()?)
}
