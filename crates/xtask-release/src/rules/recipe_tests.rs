//! Unit tests of the dependency recipe and an image's source.

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
    let stub_main = "#![allow(missing_docs, unused_crate_dependencies)]\nfn main() {}\n";
    assert_eq!(files["crates/app/src/main.rs"], stub_main);
    assert_eq!(files["crates/app/build.rs"], stub_main);
    assert_eq!(files["crates/core/src/lib.rs"], "#![allow(missing_docs, unused_crate_dependencies)]\n");
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

#[test]
fn a_root_package_contributes_its_own_files_not_the_whole_tree() {
    let root = format!(
        "[package]\nname = \"tool\"\nversion = \"0.4.1\"\nedition = \"2021\"\nreadme = \"README.md\"\n\n\
         [[bin]]\nname = \"tool\"\npath = \"cli/main.rs\"\n\n[dependencies]\ncore = {{ path = \"crates/core\" }}\n\n{ROOT}"
    );
    let mut ws = workspace(&root, APP);
    ws.members.push(Member {
        name: "tool".into(),
        manifest: "Cargo.toml".into(),
        text: root.clone(),
        targets: vec![
            (vec!["lib".into()], "src/lib.rs".into()),
            (vec!["bin".into()], "cli/main.rs".into()),
            (vec!["bin".into()], "src/bin/helper.rs".into()),
            (vec!["custom-build".into()], "build.rs".into()),
            (vec!["test".into()], "tests/cli.rs".into()),
        ],
        path_dependencies: vec!["crates/core".into()],
    });
    let (paths, files) = source(&ws, "tool").unwrap();
    assert_eq!(paths, ["README.md", "build.rs", "cli", "src", "src/bin", "tests", "crates/core"]);
    assert!(!paths.iter().any(String::is_empty), "never the whole workspace: {paths:?}");
    let manifest = &files["Cargo.toml"];
    assert!(manifest.contains("members = [\"crates/core\"]") && manifest.contains("name = \"tool\""), "{manifest}");
    assert!(manifest.contains("version = \"0.4.1\""), "the real version: {manifest}");

    // Another member's image: cargo loads the root package with the workspace, so its own files come
    // along, and still nothing else.
    let (paths, _) = source(&ws, "app").unwrap();
    assert_eq!(paths, ["README.md", "build.rs", "cli", "src", "src/bin", "tests", "crates/app", "crates/core"]);
}
