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
    /// dependency layer as in the final compile.
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
    for member in needed {
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

/// The source of `package`'s compile: the directories of the members it needs (`""` when the root
/// package is one of them: then the whole workspace), and the files written over them — the root
/// Cargo.toml with `members` cut to those members, Cargo.lock and `.cargo/config.toml` as they are.
/// So a change in another member, in the tooling or in docs leaves this image's build cached.
pub fn source(workspace: &Workspace, package: &str) -> Result<(Vec<String>, BTreeMap<String, String>)> {
    let needed = closure(workspace, package)?;
    let dirs: Vec<String> = needed.iter().map(|m| m.dir().to_owned()).collect();
    let mut files = BTreeMap::new();
    if !dirs.iter().any(String::is_empty) {
        let members: Vec<&str> = dirs.iter().map(String::as_str).collect();
        files.insert("Cargo.toml".to_owned(), with_members(&workspace.root_manifest, &members)?);
    }
    files.insert("Cargo.lock".to_owned(), workspace.lock.clone());
    if let Some(config) = &workspace.cargo_config {
        files.insert(".cargo/config.toml".to_owned(), config.clone());
    }
    Ok((dirs, files))
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
members = ["crates/*", "xtask"]
default-members = ["crates/app"]

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
        let member = |name: &str, text: &str, targets: Vec<(Vec<String>, String)>, deps: &[&str]| Member {
            name: name.into(),
            manifest: format!("crates/{name}/Cargo.toml"),
            text: text.into(),
            targets,
            path_dependencies: deps.iter().map(|d| d.to_string()).collect(),
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
                    &["crates/core"],
                ),
                member("core", CORE, vec![(vec!["lib".into()], "crates/core/src/lib.rs".into())], &[]),
                member(
                    "other",
                    "[package]\nname = \"other\"\n",
                    vec![(vec!["bin".into()], "crates/other/src/main.rs".into())],
                    &[],
                ),
            ],
        }
    }

    #[test]
    fn every_manifest_and_target_gets_a_file() {
        let files = recipe(&workspace(ROOT, APP), "app").unwrap();
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
        let files = recipe(&workspace(ROOT, APP), "app").unwrap();
        let root = &files["Cargo.toml"];
        assert!(root.contains("version = \"0.0.0\" # bumped by releases"), "{root}");
        assert!(
            root.contains("members = [\"crates/app\", \"crates/core\"]") && !root.contains("default-members"),
            "{root}"
        );
        assert!(!files.contains_key("crates/other/Cargo.toml"), "members the package does not reach stay out");
        let with_settings = format!("{ROOT}\n[workspace.metadata.xtask.images.app]\npackage = \"app\"\n");
        assert_eq!(recipe(&workspace(&with_settings, APP), "app").unwrap(), files, "tool settings are no input");
        let core_only = recipe(&workspace(ROOT, APP), "core").unwrap();
        assert!(
            core_only["Cargo.toml"].contains("members = [\"crates/core\"]")
                && !core_only.contains_key("crates/app/Cargo.toml")
        );
        assert!(recipe(&workspace(ROOT, APP), "nope").unwrap_err().to_string().contains("not a member"));
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
    fn the_source_is_the_members_the_package_needs_with_the_real_versions() {
        let (dirs, files) = source(&workspace(ROOT, APP), "app").unwrap();
        assert_eq!(dirs, ["crates/app", "crates/core"]);
        let root = &files["Cargo.toml"];
        assert!(
            root.contains("members = [\"crates/app\", \"crates/core\"]") && root.contains("version = \"1.4.2\""),
            "{root}"
        );
        assert_eq!(files["Cargo.lock"], LOCK);
        assert!(files.contains_key(".cargo/config.toml"));
    }

    #[test]
    fn a_version_bump_or_a_code_change_leaves_the_recipe_unchanged() {
        let before = recipe(&workspace(ROOT, APP), "app").unwrap();
        let bumped = ROOT.replace("1.4.2", "1.5.0");
        let mut next = workspace(&bumped, APP);
        next.lock = LOCK.replace("version = \"1.4.2\"", "version = \"1.5.0\"");
        next.members[1].text = CORE.replace("1.4.2", "1.5.0");
        assert_eq!(recipe(&next, "app").unwrap(), before);
        next.members[2].text.push_str("[dependencies]\nitoa = \"1\"\n");
        assert_eq!(recipe(&next, "app").unwrap(), before, "another image's member does not count");
        let with_dependency = APP.replace("serde = { workspace = true }", "serde = { workspace = true }\nitoa = \"1\"");
        assert_ne!(recipe(&workspace(ROOT, &with_dependency), "app").unwrap(), before, "a new dependency changes it");
    }
}
