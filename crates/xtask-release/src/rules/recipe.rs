//! The dependency recipe and the source an image's build gets, pure: the workspace reduced to what
//! decides one package's dependencies, for the build's dependency layer (cargo-chef's idea, done
//! with cargo metadata and toml_edit), and to the members that package needs, for its compile.
//!
//! For one package: the manifests of the workspace members it needs (itself and the members it
//! reaches through path dependencies of any kind, which cargo loads), each with a stub source file
//! for every target, the lock file, and the workspace's own versions masked to `0.0.0` (in the
//! manifests, in path dependencies' version requirements and in Cargo.lock). So the dependency layer
//! is reused until one of *its* dependencies changes: a code change, a version bump, or a new or
//! changed member elsewhere in the workspace leaves the recipe, and the compiled dependencies, as
//! they were. The root manifest's `members` lists only those members; cargo drops the lock entries
//! nobody uses when it builds the recipe (the final compile then uses the real lock, `--locked`).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item, Table, Value};

use crate::rules::vendoring;

/// The version every workspace member gets in the recipe.
pub const MASKED_VERSION: &str = "0.0.0";

/// A workspace member as the recipe needs it.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    /// Its manifest, relative to the workspace root (`crates/beacon/Cargo.toml`).
    pub manifest: String,
    pub text: String,
    /// Its targets: kinds as cargo metadata spells them (`bin`, `lib`, `proc-macro`,
    /// `custom-build`, `test`, …) and source paths relative to the workspace root.
    pub targets: Vec<(Vec<String>, String)>,
    /// The directories (relative to the workspace root) of its path dependencies, of every kind.
    pub path_dependencies: Vec<String>,
}

impl Member {
    /// Its directory, relative to the workspace root (`""` for a root package).
    fn dir(&self) -> &str {
        self.manifest.strip_suffix("Cargo.toml").unwrap_or(&self.manifest).trim_end_matches('/')
    }
}

/// The workspace as the recipe starts from.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The root Cargo.toml.
    pub root_manifest: String,
    pub lock: String,
    /// `.cargo/config.toml` of the workspace, if any: kept so cargo reads the same settings in the
    /// dependency layer as in the final compile (registry tokens removed: `rules::vendoring`).
    pub cargo_config: Option<String>,
    pub members: Vec<Member>,
}

/// The recipe of `package`'s dependencies: path relative to the recipe's root → contents.
pub fn recipe(workspace: &Workspace, package: &str) -> Result<BTreeMap<String, String>> {
    let needed = closure(workspace, package)?;
    let names: Vec<&str> = workspace.members.iter().map(|m| m.name.as_str()).collect();
    let mut files = BTreeMap::new();
    if !needed.iter().any(|m| m.manifest == "Cargo.toml") {
        let dirs: Vec<&str> = needed.iter().map(|m| m.dir()).collect();
        let root = with_members(&workspace.root_manifest, &dirs).context("the root Cargo.toml")?;
        files.insert("Cargo.toml".to_owned(), masked_manifest(&root).context("the root Cargo.toml")?);
    }
    let dirs: Vec<&str> = needed.iter().map(|m| m.dir()).collect();
    for member in &needed {
        // A root package's manifest is the root manifest: its `members` too are cut to those needed.
        let text = match member.manifest.as_str() {
            "Cargo.toml" => with_members(&member.text, &dirs).context("the root Cargo.toml")?,
            _ => member.text.clone(),
        };
        let text = masked_manifest(&text).with_context(|| member.manifest.clone())?;
        files.insert(member.manifest.clone(), text);
        for (kinds, path) in &member.targets {
            files.insert(path.clone(), stub(kinds).to_owned());
        }
    }
    files.insert("Cargo.lock".to_owned(), masked_lock(&workspace.lock, &names).context("Cargo.lock")?);
    if let Some(config) = &workspace.cargo_config {
        files.insert(".cargo/config.toml".to_owned(), vendoring::without_credentials(config));
    }
    Ok(files)
}

/// The source of `package`'s compile: the paths (directories or files, relative to the workspace
/// root) of the members it needs, and the files written over them — the root Cargo.toml with
/// `members` cut to those members, Cargo.lock and `.cargo/config.toml` as they are. A root package
/// contributes its own files only (`root_package_paths`), not the whole tree. So a change in another
/// member, in the tooling or in docs leaves this image's build cached.
pub fn source(workspace: &Workspace, package: &str) -> Result<(Vec<String>, BTreeMap<String, String>)> {
    let needed = closure(workspace, package)?;
    let mut paths: Vec<String> = Vec::new();
    for member in &needed {
        let own = if member.dir().is_empty() { root_package_paths(member) } else { vec![member.dir().to_owned()] };
        for path in own {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    let members: Vec<&str> = needed.iter().map(|m| m.dir()).collect();
    let mut files = BTreeMap::new();
    files.insert("Cargo.toml".to_owned(), with_members(&workspace.root_manifest, &members)?);
    files.insert("Cargo.lock".to_owned(), workspace.lock.clone());
    if let Some(config) = &workspace.cargo_config {
        files.insert(".cargo/config.toml".to_owned(), vendoring::without_credentials(config));
    }
    Ok((paths, files))
}

/// A root package's own files, as its compile reads them: the directory of each target's source
/// file (`src` for `src/main.rs`, `app` for a `[[bin]]` at `app/main.rs`), a target file at the
/// root itself (`build.rs`), and the files its manifest names (`readme`, `license-file`: docs
/// often `include_str!` them). Never the root directory as a whole: that is every member and
/// every tool's files too.
fn root_package_paths(member: &Member) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for (_, path) in &member.targets {
        let own = match path.rsplit_once('/') {
            Some((dir, _)) => dir.to_owned(),
            None => path.clone(),
        };
        if !paths.contains(&own) {
            paths.push(own);
        }
    }
    if let Ok(document) = member.text.parse::<DocumentMut>() {
        for key in ["readme", "license-file"] {
            if let Some(file) = document.get("package").and_then(|p| p.get(key)).and_then(Item::as_str) {
                if !paths.iter().any(|p| p == file) {
                    paths.push(file.to_owned());
                }
            }
        }
    }
    paths.sort();
    paths
}

/// `package` and every member it reaches through path dependencies (a root package always counts:
/// cargo loads it with the workspace).
fn closure<'w>(workspace: &'w Workspace, package: &str) -> Result<Vec<&'w Member>> {
    let start = workspace
        .members
        .iter()
        .find(|m| m.name == package)
        .with_context(|| format!("`{package}` is not a member of the workspace"))?;
    let mut needed: Vec<&Member> = vec![start];
    needed.extend(workspace.members.iter().filter(|m| m.manifest == "Cargo.toml" && m.name != package));
    let mut next = 0;
    while next < needed.len() {
        for dir in &needed[next].path_dependencies {
            if let Some(member) = workspace.members.iter().find(|m| m.dir() == dir) {
                if !needed.iter().any(|n| n.name == member.name) {
                    needed.push(member);
                }
            }
        }
        next += 1;
    }
    needed.sort_by(|a, b| a.manifest.cmp(&b.manifest));
    Ok(needed)
}

/// The root manifest with `[workspace] members` set to `dirs`, no `default-members` (they may name
/// members left out) and no `[workspace.metadata]`: tools' settings (this xtask's among them) do
/// not change what cargo builds, so editing them rebuilds nothing.
fn with_members(text: &str, dirs: &[&str]) -> Result<String> {
    let mut document: DocumentMut = text.parse().context("not valid TOML")?;
    let workspace = document
        .get_mut("workspace")
        .and_then(Item::as_table_like_mut)
        .context("the root Cargo.toml has no [workspace] table")?;
    let mut members = toml_edit::Array::new();
    for dir in dirs.iter().filter(|d| !d.is_empty()) {
        members.push(*dir);
    }
    workspace.insert("members", Item::Value(Value::Array(members)));
    workspace.remove("default-members");
    workspace.remove("metadata");
    Ok(document.to_string())
}

/// What a stub target holds: nothing for libraries, an empty `main` for everything else; both allow
/// the lints a workspace may deny (`[workspace.lints]`) that a stub can't satisfy.
fn stub(kinds: &[String]) -> &'static str {
    let library =
        kinds.iter().any(|k| matches!(k.as_str(), "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"));
    if library {
        STUB_ALLOW
    } else {
        concat!("#![allow(missing_docs, unused_crate_dependencies)]\n", "fn main() {}\n")
    }
}

/// The first line of every stub.
const STUB_ALLOW: &str = "#![allow(missing_docs, unused_crate_dependencies)]\n";

/// A manifest with its own version (package and `[workspace.package]`) masked and the version
/// requirements of path dependencies dropped (they would not match the masked versions).
fn masked_manifest(text: &str) -> Result<String> {
    let mut document: DocumentMut = text.parse().context("not valid TOML")?;
    let root = document.as_table_mut();
    if let Some(package) = root.get_mut("package") {
        mask_version(package);
    }
    drop_path_dependency_versions(root);
    if let Some(workspace) = root.get_mut("workspace").and_then(Item::as_table_like_mut) {
        if let Some(package) = workspace.get_mut("package") {
            mask_version(package);
        }
        if let Some(dependencies) = workspace.get_mut("dependencies").and_then(Item::as_table_like_mut) {
            drop_path_versions(dependencies);
        }
    }
    if let Some(targets) = root.get_mut("target").and_then(Item::as_table_like_mut) {
        for (_, target) in targets.iter_mut() {
            if let Some(target) = target.as_table_mut() {
                drop_path_dependency_versions(target);
            }
        }
    }
    Ok(document.to_string())
}

/// Sets `version` of a `[package]`-like table to the masked version, unless it is inherited
/// (`version.workspace = true`) or absent.
fn mask_version(package: &mut Item) {
    let Some(table) = package.as_table_like_mut() else { return };
    if let Some(Item::Value(version)) = table.get_mut("version") {
        if version.is_str() {
            let decor = version.decor().clone();
            *version = Value::from(MASKED_VERSION);
            *version.decor_mut() = decor;
        }
    }
}

fn drop_path_dependency_versions(table: &mut Table) {
    for key in ["dependencies", "dev-dependencies", "build-dependencies", "dev_dependencies", "build_dependencies"] {
        if let Some(dependencies) = table.get_mut(key).and_then(Item::as_table_like_mut) {
            drop_path_versions(dependencies);
        }
    }
}

fn drop_path_versions(dependencies: &mut dyn toml_edit::TableLike) {
    for (_, dependency) in dependencies.iter_mut() {
        if let Some(inline) = dependency.as_inline_table_mut() {
            if inline.contains_key("path") && inline.remove("version").is_some() {
                inline.fmt();
            }
        } else if let Some(spec) = dependency.as_table_like_mut() {
            if spec.contains_key("path") {
                spec.remove("version");
            }
        }
    }
}

/// Cargo.lock with the workspace members' versions masked, in their own entries and wherever
/// another entry names them with a version.
fn masked_lock(text: &str, members: &[&str]) -> Result<String> {
    let mut document: DocumentMut = text.parse().context("not valid TOML")?;
    let Some(packages) = document.get_mut("package").and_then(Item::as_array_of_tables_mut) else {
        return Ok(document.to_string());
    };
    let mut masked = Vec::new();
    for package in packages.iter_mut() {
        let name = package.get("name").and_then(Item::as_str).unwrap_or_default().to_owned();
        if members.contains(&name.as_str()) && !package.contains_key("source") {
            if let Some(version) = package.get("version").and_then(Item::as_str) {
                masked.push(format!("{name} {version}"));
            }
            package.insert("version", toml_edit::value(MASKED_VERSION));
        }
    }
    for package in packages.iter_mut() {
        let Some(dependencies) = package.get_mut("dependencies").and_then(Item::as_array_mut) else { continue };
        for dependency in dependencies.iter_mut() {
            let Some(text) = dependency.as_str() else { continue };
            if masked.iter().any(|m| m == text) {
                let name = text.split(' ').next().unwrap_or(text);
                *dependency = Value::from(format!("{name} {MASKED_VERSION}"));
            }
        }
    }
    Ok(document.to_string())
}

#[cfg(test)]
#[path = "recipe_tests.rs"]
mod tests;
