//! `cargo xtask version` and `plan` in independent versioning, run as the built binary in a
//! throwaway workspace shaped like many open-source ones: a root package (its binary at a
//! non-default path, a `#:version` marker on its version line) and library members with their own
//! versions, no `[workspace.package] version`. Real git and cargo, no mocks.

use xtask_testbed::workspace::Workspace;

const ROOT: &str = r#"[package]
name = "tool"
version = "2.4.1" #:version
edition = "2021"
license = "MIT"
repository = "https://example.com/acme/tool"

[[bin]]
name = "tool"
path = "src/bin/tool/main.rs"

[dependencies]
tool-core = { path = "crates/tool-core", version = "0.4" }
tool-fmt = { path = "crates/tool-fmt", version = "1.3" }

[workspace]
members = ["crates/tool-core", "crates/tool-fmt"]

[workspace.metadata.xtask.images.tool]
package = "tool"
dockerfile = "Dockerfile"
platforms = ["linux/amd64"]
repositories = ["ghcr.io/acme/tool"]
"#;

/// The workspace, committed.
fn fixture(name: &str) -> Workspace {
    let fixture = Workspace::empty("version-independent", name);
    fixture.write("Cargo.toml", ROOT);
    fixture.write("src/bin/tool/main.rs", "fn main() {}\n");
    for (name, version) in [("tool-core", "0.4.2"), ("tool-fmt", "1.3.0")] {
        let manifest = format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n");
        fixture.write(&format!("crates/{name}/Cargo.toml"), &manifest);
        fixture.write(&format!("crates/{name}/src/lib.rs"), "");
    }
    fixture.write(".gitignore", "/target\n");
    fixture.commit_initial();
    fixture
}

/// The lock's `[[package]]` entries other than `except`'s, as written.
fn entries_but(lock: &str, except: &str) -> Vec<String> {
    lock.split("\n[[package]]\n")
        .filter(|entry| !entry.starts_with(&format!("name = \"{except}\"\n")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_root_package_is_bumped_alone_and_tagged_as_the_mode_says() {
    let fixture = fixture("root");
    assert_eq!(fixture.xtask_ok(&["version"]), "independent versioning, release tags v{version}\ntool 2.4.1\n");
    let lock_before = fixture.read("Cargo.lock");

    fixture.xtask_ok(&["version", "-p", "tool", "bump", "minor", "--commit", "--tag"]);

    assert_eq!(fixture.read("Cargo.toml"), ROOT.replace("\"2.4.1\" #:version", "\"2.5.0\" #:version"));
    let lock = fixture.read("Cargo.lock");
    assert!(lock.contains("name = \"tool\"\nversion = \"2.5.0\""), "{lock}");
    assert_eq!(entries_but(&lock, "tool"), entries_but(&lock_before, "tool"), "other lock entries are byte-identical");
    assert_eq!(fixture.git(&["log", "-1", "--format=%s"]), "Release tool 2.5.0");
    assert_eq!(fixture.git(&["show", "--name-only", "--format=", "HEAD"]), "Cargo.lock\nCargo.toml");
    assert_eq!(fixture.git(&["cat-file", "-t", "v2.5.0"]), "tag", "one released crate: v{{version}}");
    assert_eq!(fixture.git(&["status", "--porcelain"]), "");

    let plan = fixture.plan(&[]);
    assert_eq!(plan["versioning"], serde_json::json!({ "mode": "independent", "tag_pattern": "v{version}" }));
    assert_eq!((plan["context"]["kind"].as_str(), plan["git"]["tag_at_head"].as_str()), (Some("tag"), Some("v2.5.0")));
    let image = &plan["images"][0];
    assert_eq!((image["version"].as_str(), image["release_tag"].as_str()), (Some("2.5.0"), Some("v2.5.0")));
    assert_eq!(image["versioned_tags"][0], "ghcr.io/acme/tool:2.5.0");
    assert_eq!(image["labels"]["org.opencontainers.image.version"], "2.5.0");
    let text = fixture.xtask_ok(&["plan"]);
    assert!(
        text.contains("versions  independent, release tags v{version}")
            && text.contains("release    tool 2.5.0, git tag v2.5.0"),
        "{text}"
    );
}

#[test]
fn a_library_member_is_bumped_alone_and_bad_requests_are_named() {
    let fixture = fixture("member");
    let (root_before, lock_before) = (fixture.read("Cargo.toml"), fixture.read("Cargo.lock"));
    fixture.xtask_ok(&["version", "-p", "tool-fmt", "bump", "patch", "--commit"]);
    assert_eq!(
        fixture.read("crates/tool-fmt/Cargo.toml"),
        "[package]\nname = \"tool-fmt\"\nversion = \"1.3.1\"\nedition = \"2021\"\n"
    );
    assert_eq!(fixture.read("Cargo.toml"), root_before);
    let lock = fixture.read("Cargo.lock");
    assert_eq!(entries_but(&lock, "tool-fmt"), entries_but(&lock_before, "tool-fmt"));
    assert_eq!(fixture.xtask_ok(&["version", "-p", "tool-fmt"]).trim(), "1.3.1");
    assert_eq!(fixture.xtask_ok(&["version", "-p", "tool"]).trim(), "2.4.1");

    let refusals: [(&[&str], &str); 4] = [
        (&["version", "-p", "nope", "bump", "patch"], "-p nope: no workspace member"),
        (&["version", "-p", "tool-core", "bump", "patch", "--commit", "--tag"], "no image releases crate `tool-core`"),
        // tool requires tool-core 0.4: cargo refuses 0.5.0, and nothing changes
        (&["version", "-p", "tool-core", "set", "0.5.0"], "cargo refuses tool-core 0.5.0"),
        (&["version", "-p", "tool", "set", "2.4.0"], "lower than the current version 2.4.1"),
    ];
    for (args, message) in refusals {
        let out = fixture.xtask(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(fixture.git(&["status", "--porcelain"]), "", "{args:?} changed nothing");
    }
}
