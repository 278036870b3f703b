//! The dependency recipe, pure: the workspace reduced to what decides its dependencies, for the
//! image build's dependency layer (cargo-chef's idea, done with cargo metadata and toml_edit).
//!
//! Every member's manifest and the lock file, with a stub source file for every target, and the
//! workspace's own versions masked to `0.0.0` (in the manifests, in path dependencies' version
//! requirements and in Cargo.lock), so that the layer is reused until a dependency changes: a code
//! change or a version bump leaves the recipe, and so the compiled dependencies, as they were.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item, Table, Value};

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
}

/// The workspace as the recipe starts from.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The root Cargo.toml.
    pub root_manifest: String,
    pub lock: String,
    /// `.cargo/config.toml` of the workspace, if any: kept so cargo reads the same settings in the
    /// dependency layer as in the final compile.
    pub cargo_config: Option<String>,
    pub members: Vec<Member>,
}

/// The recipe's files: path relative to the recipe's root → contents.
pub fn recipe(workspace: &Workspace) -> Result<BTreeMap<String, String>> {
    let names: Vec<&str> = workspace.members.iter().map(|m| m.name.as_str()).collect();
    let mut files = BTreeMap::new();
    let root_is_member = workspace.members.iter().any(|m| m.manifest == "Cargo.toml");
    if !root_is_member {
        files
            .insert("Cargo.toml".to_owned(), masked_manifest(&workspace.root_manifest).context("the root Cargo.toml")?);
    }
    for member in &workspace.members {
        let text = masked_manifest(&member.text).with_context(|| member.manifest.clone())?;
        files.insert(member.manifest.clone(), text);
        for (kinds, path) in &member.targets {
            files.insert(path.clone(), stub(kinds).to_owned());
        }
    }
    files.insert("Cargo.lock".to_owned(), masked_lock(&workspace.lock, &names).context("Cargo.lock")?);
    if let Some(config) = &workspace.cargo_config {
        files.insert(".cargo/config.toml".to_owned(), config.clone());
    }
    Ok(files)
}

/// What a stub target holds: nothing for libraries, an empty `main` for everything else.
fn stub(kinds: &[String]) -> &'static str {
    let library =
        kinds.iter().any(|k| matches!(k.as_str(), "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"));
    if library {
        ""
    } else {
        "fn main() {}\n"
    }
}

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
mod tests {
    use super::*;

    const ROOT: &str = r#"[workspace]
members = ["crates/app", "crates/core", "xtask"]

[workspace.package]
version = "1.4.2" # bumped by releases
edition = "2021"

[workspace.dependencies]
core = { path = "crates/core", version = "1.4.2" }
serde = "1"

[profile.release]
lto = false
"#;

    const APP: &str = r#"[package]
name = "app"
version.workspace = true
edition.workspace = true

[dependencies]
core = { workspace = true }
serde = { workspace = true }
"#;

    const CORE: &str = r#"[package]
name = "core"
version = "1.4.2"
edition = "2021"

[dependencies]
itoa = "1"

[target.'cfg(unix)'.dependencies]
helper = { path = "../helper", version = "0.3" }
"#;

    const LOCK: &str = r#"version = 4

[[package]]
name = "app"
version = "1.4.2"
dependencies = [
 "core",
 "serde",
]

[[package]]
name = "core"
version = "1.4.2"
dependencies = [
 "itoa",
]

[[package]]
name = "itoa"
version = "1.0.11"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b"
"#;

    fn workspace(root: &str, app: &str) -> Workspace {
        let member = |name: &str, text: &str, targets: Vec<(Vec<String>, String)>| Member {
            name: name.into(),
            manifest: format!("crates/{name}/Cargo.toml"),
            text: text.into(),
            targets,
        };
        Workspace {
            root_manifest: root.into(),
            lock: LOCK.into(),
            cargo_config: Some("[alias]\nxtask = \"run -p xtask --\"\n".into()),
            members: vec![
                member(
                    "app",
                    app,
                    vec![
                        (vec!["bin".into()], "crates/app/src/main.rs".into()),
                        (vec!["custom-build".into()], "crates/app/build.rs".into()),
                        (vec!["test".into()], "crates/app/tests/cli.rs".into()),
                    ],
                ),
                member("core", CORE, vec![(vec!["lib".into()], "crates/core/src/lib.rs".into())]),
            ],
        }
    }

    #[test]
    fn every_manifest_and_target_gets_a_file() {
        let files = recipe(&workspace(ROOT, APP)).unwrap();
        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                ".cargo/config.toml",
                "Cargo.lock",
                "Cargo.toml",
                "crates/app/Cargo.toml",
                "crates/app/build.rs",
                "crates/app/src/main.rs",
                "crates/app/tests/cli.rs",
                "crates/core/Cargo.toml",
                "crates/core/src/lib.rs",
            ]
        );
        assert_eq!(files["crates/app/src/main.rs"], "fn main() {}\n");
        assert_eq!(files["crates/app/build.rs"], "fn main() {}\n");
        assert_eq!(files["crates/core/src/lib.rs"], "");
    }

    #[test]
    fn versions_of_the_workspace_are_masked_and_nothing_else() {
        let files = recipe(&workspace(ROOT, APP)).unwrap();
        let root = &files["Cargo.toml"];
        assert!(root.contains("version = \"0.0.0\" # bumped by releases"), "{root}");
        assert!(root.contains("core = { path = \"crates/core\" }"), "path deps lose their version: {root}");
        assert!(root.contains("serde = \"1\"") && root.contains("lto = false"), "{root}");
        assert_eq!(files["crates/app/Cargo.toml"], APP, "inherited versions stay inherited");
        let core = &files["crates/core/Cargo.toml"];
        assert!(core.contains("version = \"0.0.0\"") && core.contains("itoa = \"1\""), "{core}");
        assert!(core.contains("helper = { path = \"../helper\" }"), "{core}");
        let lock = &files["Cargo.lock"];
        assert!(lock.contains("name = \"app\"\nversion = \"0.0.0\""), "{lock}");
        assert!(lock.contains("name = \"core\"\nversion = \"0.0.0\""), "{lock}");
        assert!(lock.contains("name = \"itoa\"\nversion = \"1.0.11\""), "registry crates keep theirs: {lock}");
    }

    #[test]
    fn a_version_bump_or_a_code_change_leaves_the_recipe_unchanged() {
        let before = recipe(&workspace(ROOT, APP)).unwrap();
        let bumped = ROOT.replace("1.4.2", "1.5.0");
        let mut next = workspace(&bumped, APP);
        next.lock = LOCK.replace("version = \"1.4.2\"", "version = \"1.5.0\"");
        next.members[1].text = CORE.replace("1.4.2", "1.5.0");
        assert_eq!(recipe(&next).unwrap(), before);
        let with_dependency = APP.replace("serde = { workspace = true }", "serde = { workspace = true }\nitoa = \"1\"");
        assert_ne!(recipe(&workspace(ROOT, &with_dependency)).unwrap(), before, "a new dependency changes it");
    }
}
