//! The README's "Try it locally" lines, run as written by bash in a fresh copy of the workspace:
//! `registry:2` started plainly on 127.0.0.1, a throwaway cosign key, `cargo xtask release --execute
//! --registry localhost:5000/acme` over plain HTTP, and the looks at what was pushed. Only the port
//! (a free one instead of 5000) and the container's name are changed, so the section cannot rot.
//! The release must complete: signed, verified, floating tags moved, scanned with the full policy.

mod support;

use std::process::Command;

use support::*;

/// The first ```sh block of the README section `## Try it locally`.
fn readme_lines() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme.split("\n## Try it locally\n").nth(1).expect("README has a `## Try it locally` section");
    let block = section.split("```sh\n").nth(1).expect("the section has a ```sh block");
    block.split("\n```").next().unwrap().to_owned()
}

/// Removes the registry and the images the lines leave in the engine, whatever happened.
struct Cleanup {
    container: String,
    /// `localhost:PORT`: the images released there are untagged in the engine.
    registry: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", "--volumes", &self.container]);
        untag_local(&self.registry);
    }
}

#[test]
fn the_readme_try_it_locally_lines_release_to_a_plain_http_registry_on_localhost() {
    let _engine = engine_lock();
    let lines = readme_lines();
    for expected in [
        "--publish 127.0.0.1:5000:5000 registry:2",
        "cosign generate-key-pair",
        "cargo xtask release --execute --registry localhost:5000/acme",
    ] {
        assert!(lines.contains(expected), "the README's lines should contain {expected:?}:\n{lines}");
    }
    let port = free_port();
    let container = format!("try-registry-{}", std::process::id());
    let script = lines
        .replace("127.0.0.1:5000:5000", &format!("127.0.0.1:{port}:5000"))
        .replace("localhost:5000", &format!("localhost:{port}"))
        .replace("try-registry", &container);
    let fixture = Fixture::copy_of_workspace("try-it-locally");
    let repository = format!("localhost:{port}/acme/beacon");
    let _cleanup = Cleanup { container, registry: format!("localhost:{port}") };

    let mut bash = Command::new("bash");
    bash.args(["-euo", "pipefail", "-c", &script]).current_dir(&fixture.dir).stdin(std::process::Stdio::null());
    for name in ["GITHUB_ACTIONS", "GITHUB_REF", "GITHUB_EVENT_NAME", "XTASK_REGISTRY", "COSIGN_PRIVATE_KEY"] {
        bash.env_remove(name);
    }
    // The DB source of this machine (the README's laptop reaches trivy's own), and one cargo target
    // directory for every run of this test, so `cargo xtask` compiles the xtask cold only once.
    bash.env("XTASK_TRIVY_DB_REPOSITORY", TESTBED_DB);
    bash.env("CARGO_TARGET_DIR", workspace_root().join("target/try-it-locally"));
    let out = bash.output().expect("run bash");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("--- the README's lines → {}\n{stdout}{stderr}", out.status);
    assert!(out.status.success(), "the README's lines failed");

    let record = read_json(&fixture.dir.join("target/xtask/release-record.json"));
    let version = record["version"].as_str().unwrap().to_owned();
    let image = &record["images"][0];
    assert_eq!(image["tags_pushed"], serde_json::json!([format!("{repository}:{version}")]));
    let floating: Vec<&str> = image["floating_tags"].as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
    assert!(floating.contains(&format!("{repository}:latest").as_str()), "floating tags moved: {floating:?}");
    assert_eq!(image["signatures"][0]["attestations"].as_array().unwrap().len(), 2, "SBOM and provenance per platform");
    assert_eq!(image["scan"]["passed"], true);
    assert_eq!(record["scan"]["policy"]["scanners"], serde_json::json!(["vuln", "secret", "misconfig"]));
    assert_eq!(record["scan"]["db"]["repository"], TESTBED_DB);
    assert!(stderr.contains(&format!("localhost:{port}: plain HTTP (loopback)")), "reached over plain HTTP");
    assert!(!stderr.contains("insecure-registries"), "loopback needs no listing and gets no warning");

    // What the looks at the registry printed.
    for tag in [format!("\"{version}\""), "\"latest\"".to_owned(), ".sig\"".to_owned(), ".att\"".to_owned()] {
        assert!(stdout.contains(&tag), "the tag list should show {tag}:\n{stdout}");
    }
    assert!(
        stdout.contains("\"architecture\": \"amd64\"") && stdout.contains("\"architecture\": \"arm64\""),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("\"docker-reference\":\"{repository}\"")), "cosign verify printed the signature");
    assert!(stdout.contains(&format!("beacon {version} (")), "the image pulled back runs");
}
