//! `cargo xtask version` and `cargo xtask plan`, run as the built binary in throwaway fixture
//! workspaces (a `git init` repository with a root Cargo.toml, one member and a lock file). Real
//! git and cargo, no mocks; each fixture lives in its own temp directory, removed afterwards.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use xtask_testbed::workspace::Workspace;

/// A committed workspace at `version` on branch `main`.
fn fixture(name: &str, version: &str) -> Workspace {
    let fixture = Workspace::empty("version-plan", name);
    fixture.write("Cargo.toml", &root_manifest(version));
    fixture.write(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion.workspace = true\nedition.workspace = true\n\
         license.workspace = true\nrepository.workspace = true\n",
    );
    fixture.write("app/src/main.rs", "fn main() {}\n");
    fixture.write(".gitignore", "/target\n");
    fixture.commit_initial();
    fixture
}

/// Everything `plan` and a refused bump must leave alone: status, refs, HEAD and every file
/// outside .git.
fn snapshot(fixture: &Workspace) -> (String, String, Vec<(PathBuf, Vec<u8>)>) {
    let status = fixture.git(&["status", "--porcelain", "--ignored", "--untracked-files=all"]);
    let refs =
        fixture.git(&["for-each-ref", "--format=%(refname) %(objectname)"]) + &fixture.git(&["rev-parse", "HEAD"]);
    let mut files = Vec::new();
    collect_files(&fixture.dir, &fixture.dir, &mut files);
    (status, refs, files)
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    // .git is compared through status and refs: `git status` may legitimately refresh its index.
    for path in entries.into_iter().filter(|path| !path.ends_with(".git")) {
        if path.is_dir() {
            collect_files(root, &path, files);
        } else {
            files.push((path.strip_prefix(root).unwrap().to_path_buf(), fs::read(&path).unwrap()));
        }
    }
}

fn root_manifest(version: &str) -> String {
    format!(
        r#"# Fixture workspace of xtask's integration tests.
[workspace]
resolver = "2"
members = ["app"]

[workspace.package]
# The one version of the workspace.
version = "{version}" # changed by cargo xtask version
edition = "2021"
license = "MIT"
repository = "https://example.com/acme/app"

[workspace.metadata.xtask]
release-branches = ["main"]

[workspace.metadata.xtask.images.app]
package = "app"
dockerfile = "Dockerfile"
platforms = ["linux/amd64", "linux/arm64"]
repositories = ["ghcr.io/acme/app", "docker.io/acme/app"]
"#
    )
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().unwrap().iter().map(|item| item.as_str().unwrap()).collect()
}

#[test]
fn hotfix_tag_plan_has_no_latest_and_registry_override_rewrites() {
    let fixture = fixture("hotfix", "1.9.1");
    fixture.git(&["tag", "v1.9.0"]);
    fixture.git(&["tag", "v2.0.1"]);
    fixture.git(&["commit", "--quiet", "--allow-empty", "--message", "Fix"]);

    let plan = fixture.plan(&["--ref", "refs/tags/v1.9.1"]);
    assert_eq!(plan["version"], "1.9.1");
    assert_eq!(plan["context"]["kind"], "tag");
    let image = &plan["images"][0];
    let tags = strings(&image["tags"]);
    for expected in ["ghcr.io/acme/app:1.9.1", "ghcr.io/acme/app:1.9", "ghcr.io/acme/app:1", "docker.io/acme/app:1"] {
        assert!(tags.contains(&expected), "{expected} missing from {tags:?}");
    }
    assert!(tags.iter().all(|tag| !tag.ends_with(":latest")), "{tags:?}");
    assert_eq!(strings(&image["versioned_tags"]), ["ghcr.io/acme/app:1.9.1", "docker.io/acme/app:1.9.1"]);
    assert_eq!(image["labels"]["org.opencontainers.image.revision"], fixture.git(&["rev-parse", "HEAD"]));

    let local = fixture.plan(&["--ref", "refs/tags/v1.9.1", "--registry", "localhost:5000/acme"]);
    assert_eq!(strings(&local["images"][0]["repositories"]), ["localhost:5000/acme/app"]);
    let tags = strings(&local["images"][0]["tags"]);
    assert_eq!(tags, ["localhost:5000/acme/app:1.9.1", "localhost:5000/acme/app:1.9", "localhost:5000/acme/app:1"]);

    let mismatch = fixture.xtask(&["plan", "--ref", "refs/tags/v1.9.2"]);
    assert!(!mismatch.status.success());
    let stderr = String::from_utf8_lossy(&mismatch.stderr);
    assert!(stderr.contains("v1.9.2") && stderr.contains("1.9.1"), "{stderr}");
}

#[test]
fn release_candidate_plan_lists_only_its_own_tag() {
    let fixture = fixture("rc", "1.1.0-rc.1");
    fixture.git(&["tag", "v1.0.0"]);
    fixture.git(&["commit", "--quiet", "--allow-empty", "--message", "Next"]);
    let plan = fixture.plan(&["--ref", "refs/tags/v1.1.0-rc.1"]);
    let image = &plan["images"][0];
    assert_eq!(strings(&image["tags"]), ["ghcr.io/acme/app:1.1.0-rc.1", "docker.io/acme/app:1.1.0-rc.1"]);
    assert!(strings(&image["floating_tags"]).is_empty());
}

#[test]
fn plan_leaves_work_tree_and_git_untouched() {
    let fixture = fixture("untouched", "0.3.0");
    fixture.write("app/src/main.rs", "fn main() { println!(\"dirty\"); }\n");
    let before = snapshot(&fixture);
    let plan = fixture.plan(&[]);
    assert_eq!((plan["context"]["kind"].as_str(), plan["git"]["dirty"].as_bool()), (Some("local"), Some(true)));
    assert!(fixture.xtask_ok(&["plan"]).contains("ghcr.io/acme/app:0.3.0"));
    fixture.plan(&["--ref", "refs/heads/main", "--registry", "localhost:5000/acme"]);
    assert_eq!(snapshot(&fixture), before);
}

#[test]
fn bump_patch_commits_tags_and_updates_the_lock_file() {
    let fixture = fixture("bump", "1.9.1");
    let commits_before: u32 = fixture.git(&["rev-list", "--count", "HEAD"]).parse().unwrap();
    assert_eq!(fixture.xtask_ok(&["version"]).trim(), "1.9.1");

    fixture.xtask_ok(&["version", "bump", "patch", "--commit", "--tag"]);

    assert_eq!(fixture.git(&["status", "--porcelain"]), "", "the work tree is clean");
    let commits_after: u32 = fixture.git(&["rev-list", "--count", "HEAD"]).parse().unwrap();
    assert_eq!(commits_after, commits_before + 1);
    assert_eq!(fixture.git(&["log", "-1", "--format=%s"]), "Release 1.9.2");
    let changed = fixture.git(&["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(changed.lines().collect::<Vec<_>>(), ["Cargo.lock", "Cargo.toml"]);
    assert_eq!(fixture.git(&["cat-file", "-t", "v1.9.2"]), "tag", "an annotated tag");
    assert_eq!(fixture.git(&["rev-parse", "v1.9.2^{commit}"]), fixture.git(&["rev-parse", "HEAD"]));
    assert_eq!(fixture.read("Cargo.toml"), root_manifest("1.9.2"), "only the version changed");
    assert!(fixture.read("Cargo.lock").contains("name = \"app\"\nversion = \"1.9.2\""));
    assert_eq!(fixture.xtask_ok(&["version"]).trim(), "1.9.2");

    let plan = fixture.plan(&[]);
    assert_eq!((plan["context"]["kind"].as_str(), plan["git"]["tag_at_head"].as_str()), (Some("tag"), Some("v1.9.2")));

    let again = fixture.xtask(&["version", "set", "1.9.2"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already is 1.9.2"));
}

#[test]
fn dirty_tree_is_refused_and_nothing_changes() {
    let fixture = fixture("dirty", "2.0.0");
    fixture.write("app/src/main.rs", "fn main() { println!(\"work in progress\"); }\n");
    let before = snapshot(&fixture);
    let output = fixture.xtask(&["version", "bump", "minor", "--commit", "--tag"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("uncommitted changes"));
    assert_eq!(snapshot(&fixture), before);
}

#[test]
fn member_with_its_own_version_is_named() {
    let fixture = fixture("pinned", "1.0.0");
    fixture.write("Cargo.toml", &root_manifest("1.0.0").replace("[\"app\"]", "[\"app\", \"pinned\"]"));
    fs::create_dir_all(fixture.path("pinned/src")).unwrap();
    fixture.write("pinned/Cargo.toml", "[package]\nname = \"pinned\"\nversion = \"1.0.0\"\nedition = \"2021\"\n");
    fixture.write("pinned/src/lib.rs", "");
    let output = fixture.xtask(&["version"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("crate `pinned`") && stderr.contains("version.workspace = true"), "{stderr}");
}
