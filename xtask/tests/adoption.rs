//! Adoption, as docs/src/adopting.md tells it: a fresh `cargo new` workspace with other crate names (a
//! binary and a library with one dependency, each at the version and edition `cargo new` gave it, no
//! `[workspace.package]`) gets this repository's `xtask/` and `docker/`, the xtask as a member, the
//! `.cargo/config.toml` alias and an image table — nothing else — and then `cargo xtask ci
//! --rehearsal-only` (built from the copied sources, as its developers would run it) publishes its
//! image to a throwaway registry: built, smoke-tested, scanned, pushed, verified, signed, floating
//! tags moved. The crates keep their own versions: independent versioning, detected.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} does not contain {from:?}:\n{text}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The image table the adopter writes (adopting.md, step 4).
const IMAGE_TABLE: &str = r#"
[workspace.metadata.xtask.images.hello]
package = "hello"
dockerfile = "docker/Dockerfile"
target = "runtime"
platforms = ["linux/amd64", "linux/arm64"]
repositories = ["ghcr.io/example/hello"]
"#;

/// The project's program: like most command-line programs it answers `--version` with
/// `name X.Y.Z`, which the smoke test checks (adopting.md, "The binary").
const MAIN: &str = r#"fn main() {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("hello {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    println!("{}", hello_words::greeting(42));
}
"#;

const LIB: &str = r#"/// A greeting with a number in it, written by the `itoa` crate.
pub fn greeting(n: u32) -> String {
    format!("hello, {} worlds", itoa::Buffer::new().format(n))
}
"#;

#[test]
fn a_fresh_workspace_adopts_the_xtask_and_rehearses_a_release() {
    let _engine = engine_lock();
    let dir = std::env::temp_dir().join(format!("xtask-adoption-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cleanup = RemovedOnDrop(dir.clone());

    // A workspace of its own: `cargo new` for each member (which lists it in the root manifest),
    // the project's code and one dependency, its lock file, committed.
    std::fs::write(dir.join("Cargo.toml"), "[workspace]\nresolver = \"3\"\n").unwrap();
    run_as_adopter(&dir, "cargo", &["new", "--quiet", "--vcs", "none", "hello"]);
    run_as_adopter(&dir, "cargo", &["new", "--quiet", "--vcs", "none", "--lib", "hello-words"]);
    edit(
        &dir.join("hello/Cargo.toml"),
        "[dependencies]",
        "[dependencies]\nhello-words = { path = \"../hello-words\" }",
    );
    edit(&dir.join("hello-words/Cargo.toml"), "[dependencies]", "[dependencies]\nitoa = \"1\"");
    std::fs::write(dir.join("hello/src/main.rs"), MAIN).unwrap();
    std::fs::write(dir.join("hello-words/src/lib.rs"), LIB).unwrap();
    std::fs::write(dir.join(".gitignore"), "/target\n").unwrap();
    run_as_adopter(&dir, "cargo", &["generate-lockfile", "--offline", "--quiet"]);
    run_as_adopter(&dir, "git", &["init", "--quiet", "--initial-branch=main"]);
    run_as_adopter(&dir, "git", &["add", "--all"]);
    run_as_adopter(&dir, "git", &["commit", "--quiet", "--message", "hello as it is"]);

    // The adoption steps: copy xtask/ and docker/, the member, the alias, the image table.
    let root = workspace_root();
    for entry in ["xtask", "docker"] {
        let status = Command::new("cp").arg("-a").arg(root.join(entry)).arg(&dir).status().unwrap();
        assert!(status.success(), "copy {entry}");
    }
    let _ = std::fs::remove_dir_all(dir.join("xtask/target"));
    edit(&dir.join("Cargo.toml"), "\"hello-words\"]", "\"hello-words\", \"xtask\"]");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest + IMAGE_TABLE).unwrap();
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    std::fs::write(dir.join(".cargo/config.toml"), "[alias]\nxtask = \"run --package xtask --\"\n").unwrap();

    // `cargo xtask plan` builds the xtask (adding its dependencies to Cargo.lock); commit it all.
    let plan = run_as_adopter(&dir, "cargo", &["xtask", "plan"]);
    assert!(
        plan.contains("image hello (crate hello, binary hello)") && plan.contains("ghcr.io/example/hello:0.1.0"),
        "{plan}"
    );
    assert!(plan.contains("versions  independent, release tags v{version}"), "{plan}");
    run_as_adopter(&dir, "git", &["add", "--all"]);
    run_as_adopter(&dir, "git", &["commit", "--quiet", "--message", "adopt the release automation"]);

    let out = as_adopter(&dir, "cargo")
        .args(["xtask", "ci", "--rehearsal-only"])
        .envs(testbed_env())
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{log}");
    assert!(out.status.success(), "the adopted workspace's rehearsal failed");
    for done in ["hello on linux/amd64: ok", "hello on linux/arm64: ok", "<== push-floating ok", "<== sign ok"] {
        assert!(log.contains(done), "{done:?} missing from the rehearsal log");
    }
    // The throwaway registry is gone, and so are the images the engine loaded to push there.
    let namespace = log.split("throwaway registry ").nth(1).and_then(|l| l.split(' ').next()).unwrap();
    assert!(log.contains("throwaway registry removed, and the engine's 1 tag(s) under it"), "{log}");
    assert_eq!(local_tags(namespace), Vec::<String>::new(), "the engine keeps no tag under {namespace}");
    let record = read_json(&dir.join("target/xtask/release-record.json"));
    assert_eq!(record["version"], "0.1.0");
    assert_eq!(record["images"][0]["name"], "hello");
    assert_eq!(record["images"][0]["platforms"].as_object().unwrap().len(), 2);
    drop(cleanup);
}
