//! Adoption by a workspace shaped like many popular open-source ones, as the engine's README tells
//! it: the root is a package (its binary at a non-default path, a `build.rs`, a `#:version` marker on
//! its version line), three library members keep their own versions (one compiles C through `cc`),
//! edition 2024, a `rust-version` above trixie's 1.85, `[workspace.lints]` denying clippy's pedantic
//! lints, no `[workspace.package] version`. The adopter runs `cargo new --vcs none xtask`, writes the
//! README's two files and runs `init`, which edits none of the crates and configures the one binary;
//! `cargo xtask release --execute --local` releases it for two platforms: smoke-tested at the
//! package's own version (`--version` prints it), the tags following independent versioning. Then
//! the workspace's own tests and clippy pass.
//!
//! `XTASK_TEST_FIXTURE_RUST_VERSION` overrides the fixture's `rust-version` (e.g. `1.85`, which the
//! trixie builder meets, to rehearse it where no newer builder is configured).

use std::path::Path;

use xtask_testbed::adopter::{adopt, engine_under_test, release_local, Adopted};
use xtask_testbed::workspace::write_file;
use xtask_testbed::*;

/// Above Debian trixie's rustc 1.85: the image needs a newer builder (forky's 1.97).
const RUST_VERSION: &str = "1.88";
/// Above every builder: preflight must refuse it before anything is built.
const UNREACHABLE_RUST_VERSION: &str = "1.99";

fn root_manifest(rust_version: &str) -> String {
    format!(
        r#"[package]
name = "quill"
description = "Counts and fingerprints the words of a text"
version = "2.4.1" #:version
edition.workspace = true
rust-version.workspace = true
license.workspace = true
repository.workspace = true
build = "build.rs"

[[bin]]
name = "quill"
path = "src/bin/quill/main.rs"

[dependencies]
quill-core = {{ path = "crates/quill-core", version = "0.4" }}
quill-hash = {{ path = "crates/quill-hash", version = "0.9" }}
quill-render = {{ path = "crates/quill-render", version = "1.3" }}

[workspace]
resolver = "3"
members = ["crates/*"]

[workspace.package]
edition = "2024"
rust-version = "{rust_version}"
license = "MIT OR Apache-2.0"
repository = "https://example.com/quill/quill"

[workspace.lints.rust]
missing_docs = "deny"
unsafe_op_in_unsafe_fn = "deny"

[workspace.lints.clippy]
pedantic = {{ level = "deny", priority = -1 }}

[lints]
workspace = true
"#
    )
}

fn member_manifest(name: &str, version: &str, extra: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition.workspace = true\n\
         rust-version.workspace = true\nlicense.workspace = true\n{extra}\n[lints]\nworkspace = true\n"
    )
}

const FILES: [(&str, &str); 9] = [
    (
        "build.rs",
        "//! Records the target the binary was built for.\nfn main() {\n    \
         println!(\"cargo::rustc-env=QUILL_TARGET={}\", std::env::var(\"TARGET\").unwrap_or_default());\n}\n",
    ),
    (
        "src/bin/quill/main.rs",
        r#"//! quill: counts the words of its arguments and prints their fingerprint.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|arg| arg == "--version" || arg == "-V") {
        println!("quill {} ({})", env!("CARGO_PKG_VERSION"), env!("QUILL_TARGET"));
        return;
    }
    let text = args.join(" ");
    let count = quill_core::words(&text);
    println!("{}", quill_render::line("text", count, quill_hash::fnv1a(text.as_bytes())));
}
"#,
    ),
    (
        "crates/quill-core/src/lib.rs",
        "//! Word counting.\n\n/// The number of whitespace-separated words in `text`.\n#[must_use]\n\
         pub fn words(text: &str) -> usize {\n    text.split_whitespace().count()\n}\n",
    ),
    (
        "crates/quill-render/src/lib.rs",
        "//! Output lines.\n\n/// One result line: `name: count words, fingerprint hash`.\n#[must_use]\n\
         pub fn line(name: &str, count: usize, hash: u32) -> String {\n    \
         format!(\"{name}: {count} words, fingerprint {hash:08x}\")\n}\n",
    ),
    (
        "crates/quill-hash/src/lib.rs",
        r#"//! FNV-1a fingerprints, computed by a small C routine (csrc/fnv.c, built by `cc`).

unsafe extern "C" {
    fn quill_fnv1a(data: *const u8, len: usize) -> u32;
}

/// The 32-bit FNV-1a hash of `data`.
#[must_use]
pub fn fnv1a(data: &[u8]) -> u32 {
    // SAFETY: the C routine reads exactly `len` bytes from `data`, which the slice holds.
    unsafe { quill_fnv1a(data.as_ptr(), data.len()) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_value() {
        assert_eq!(super::fnv1a(b"a"), 0xe40c_292c);
    }
}
"#,
    ),
    (
        "crates/quill-hash/build.rs",
        "//! Compiles the C routine.\nfn main() {\n    println!(\"cargo::rerun-if-changed=csrc/fnv.c\");\n    \
         cc::Build::new().file(\"csrc/fnv.c\").compile(\"quillfnv\");\n}\n",
    ),
    (
        "crates/quill-hash/csrc/fnv.c",
        "#include <stddef.h>\n#include <stdint.h>\n\n/* 32-bit FNV-1a. */\n\
         uint32_t quill_fnv1a(const uint8_t *data, size_t len) {\n    uint32_t hash = 2166136261u;\n    \
         for (size_t i = 0; i < len; i++) {\n        hash ^= data[i];\n        hash *= 16777619u;\n    }\n    \
         return hash;\n}\n",
    ),
    (".gitignore", "/target\n"),
    ("README.md", "# quill\n\nCounts and fingerprints words.\n"),
];

fn stdout_of(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = as_adopter(dir, program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?} failed:\n{}", report(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The project as it is before adoption, committed with its lock file; then the adoption steps of
/// docs/src/adopting.md, committed.
fn adopted(dir: &Path, rust_version: &str) {
    let _ = std::fs::remove_dir_all(dir);
    let write = |relative: &str, text: &str| write_file(dir, relative, text);
    write("Cargo.toml", &root_manifest(rust_version));
    write("crates/quill-core/Cargo.toml", &member_manifest("quill-core", "0.4.2", ""));
    write("crates/quill-render/Cargo.toml", &member_manifest("quill-render", "1.3.0", ""));
    write(
        "crates/quill-hash/Cargo.toml",
        &member_manifest("quill-hash", "0.9.1", "\n[build-dependencies]\ncc = \"1\"\n"),
    );
    for (relative, text) in FILES {
        write(relative, text);
    }
    // Resolved from crates.io, as the project's own lock was: `cc` is in no other lock of this
    // repository, so a fresh machine's cargo cache need not hold it (offline, it failed there).
    run_as_adopter(dir, "cargo", &["generate-lockfile", "--quiet"]);
    run_as_adopter(dir, "git", &["init", "--quiet", "--initial-branch=main"]);
    run_as_adopter(dir, "git", &["add", "--all"]);
    run_as_adopter(dir, "git", &["commit", "--quiet", "--message", "quill as it is"]);
    let crates_before = run_as_adopter(dir, "git", &["ls-files", "-s", "--", "crates", "src", "build.rs"]);

    // The adoption: the xtask crate, its two files, `init` (the image: the one binary, from the remote).
    run_as_adopter(dir, "git", &["remote", "add", "origin", "git@github.com:example/quill.git"]);
    let (readme, dependency) = engine_under_test();
    let init = adopt(dir, (&readme, &dependency), &[]);
    assert!(init.contains("init: wrote [workspace.metadata.xtask]: image(s) quill"), "{init}");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("members = [\"crates/*\", \"xtask\"]"), "cargo new made the xtask a member:\n{manifest}");
    // `cargo xtask plan` builds the xtask, which adds its dependencies to Cargo.lock: commit both.
    let plan = run_as_adopter(dir, "cargo", &["xtask", "plan"]);
    assert!(plan.contains("versions  independent, release tags v{version}"), "{plan}");
    run_as_adopter(dir, "git", &["add", "--all"]);
    run_as_adopter(dir, "git", &["commit", "--quiet", "--message", "adopt the release automation"]);
    let crates_after = run_as_adopter(dir, "git", &["ls-files", "-s", "--", "crates", "src", "build.rs"]);
    assert_eq!(crates_after, crates_before, "adoption edits none of the crates");
}

#[test]
fn a_root_package_workspace_with_independent_versions_rehearses_a_release() {
    let rust_version = std::env::var("XTASK_TEST_FIXTURE_RUST_VERSION").unwrap_or_else(|_| RUST_VERSION.into());
    let _engine = engine_lock();
    let dir = std::env::temp_dir().join(format!("xtask-adoption-independent-{}", std::process::id()));
    let _cleanup = Adopted(dir.clone());
    adopted(&dir, &rust_version);

    let plan: serde_json::Value =
        serde_json::from_str(&stdout_of(&dir, "cargo", &["xtask", "plan", "--json"])).unwrap();
    assert_eq!(plan["versioning"], serde_json::json!({ "mode": "independent", "tag_pattern": "v{version}" }));
    let image = &plan["images"][0];
    assert_eq!((image["package"].as_str(), image["version"].as_str()), (Some("quill"), Some("2.4.1")));
    assert_eq!(image["release_tag"], "v2.4.1");
    assert_eq!(image["versioned_tags"], serde_json::json!(["ghcr.io/example/quill:2.4.1"]));
    assert_eq!(image["platforms"], serde_json::json!(["linux/amd64", "linux/arm64"]), "init's platforms");

    let (released, log) = release_local(&dir);
    assert!(released, "the adopted workspace's local release failed");
    // The smoke test ran each platform's `--version`: it printed quill's own version, 2.4.1.
    for done in ["quill on linux/amd64: ok", "quill on linux/arm64: ok", "<== push-floating ok", "<== sign ok"] {
        assert!(log.contains(done), "{done:?} missing from the release log");
    }
    let record = read_json(&dir.join("target/xtask/release-record.json"));
    assert_eq!(record["version"], "2.4.1");
    // The image's tags: its own version, and the floating tags its package's releases allow.
    let image = &record["images"][0];
    let tags: Vec<&str> = [&image["tags_pushed"], &image["floating_tags"]]
        .into_iter()
        .flat_map(|list| list.as_array().unwrap().iter().map(|tag| tag.as_str().unwrap()))
        .collect();
    for tag in ["/quill:2.4.1", "/quill:2.4", "/quill:2", "/quill:latest"] {
        assert!(tags.iter().any(|pushed| pushed.ends_with(tag)), "{tag} not pushed: {tags:?}");
    }

    // The release tag the version command makes: the package's, as the mode says; only quill changes.
    let lock_before = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    run_as_adopter(&dir, "cargo", &["xtask", "version", "-p", "quill", "bump", "patch", "--commit", "--tag"]);
    assert_eq!(stdout_of(&dir, "git", &["tag", "--points-at", "HEAD"]).trim(), "v2.4.2");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("version = \"2.4.2\" #:version"), "{manifest}");
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    assert_eq!(
        lock,
        lock_before.replace("name = \"quill\"\nversion = \"2.4.1\"", "name = \"quill\"\nversion = \"2.4.2\"")
    );

    // The workspace stays green under its own strict lints.
    run_as_adopter(&dir, "cargo", &["test", "--workspace", "--quiet"]);
    run_as_adopter(&dir, "cargo", &["clippy", "--workspace", "--quiet", "--", "-D", "warnings"]);
}

#[test]
fn a_rust_version_no_builder_meets_is_refused_before_any_build() {
    let _engine = engine_lock();
    let dir = std::env::temp_dir().join(format!("xtask-adoption-unreachable-{}", std::process::id()));
    let _cleanup = Adopted(dir.clone());
    adopted(&dir, UNREACHABLE_RUST_VERSION);
    let (released, log) = release_local(&dir);
    assert!(!released, "{log}");
    assert!(log.contains(UNREACHABLE_RUST_VERSION) && log.contains("rust-version"), "names the requirement: {log}");
    assert!(log.contains("Cargo.toml"), "names where it comes from: {log}");
    assert!(log.contains("1.97"), "names the newest builder's Rust: {log}");
    assert!(!log.contains("==> build"), "refused before any build: {log}");
}
