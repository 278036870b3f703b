//! The foundation, end to end on the real engine: `cargo xtask build` cross-builds the two-platform
//! image, the index pushed to a local registry reads back with both platforms under the built
//! digest, and each variant, pulled back from the registry, prints the workspace version, passes its
//! healthcheck, has no shell and does not run as root.

mod support;

use support::*;

fn workspace_version() -> String {
    let out = xtask(&workspace_root(), &["version"]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn two_platform_image_builds_pushes_reads_back_and_runs() {
    let _engine = engine_lock();
    let root = workspace_root();
    let version = workspace_version();
    let registry = Registry::start();
    let namespace = format!("{}/acme", registry.host());

    let out = xtask(&root, &["build", "--registry", &namespace]);
    assert!(out.status.success(), "cargo xtask build failed");
    let record = read_json(&root.join("target/xtask/build-record.json"));
    let image = &record["images"][0];
    let index_digest = image["index_digest"].as_str().unwrap().to_owned();
    let reference = format!("{namespace}/beacon:{version}");

    docker_ok(&["push", "--quiet", &reference]);
    let manifest =
        http_get(registry.port, &format!("/v2/acme/beacon/manifests/{version}"), &[("Accept", INDEX_MEDIA_TYPES)])
            .expect("registry answers");
    assert_eq!(manifest.status, 200, "{}", manifest.body);
    assert_eq!(
        manifest.header("Docker-Content-Digest"),
        Some(index_digest.as_str()),
        "pushed digest differs from the build record"
    );
    let index: serde_json::Value = serde_json::from_str(&manifest.body).unwrap();
    let mut platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| Some(format!("{}/{}", m["platform"]["os"].as_str()?, m["platform"]["architecture"].as_str()?)))
        .collect();
    platforms.sort();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);

    // Run each variant as the registry serves it, not as the build left it in the engine.
    docker_ok(&["image", "rm", &reference]);
    for platform in ["linux/amd64", "linux/arm64"] {
        docker_ok(&["pull", "--quiet", "--platform", platform, &reference]);
        let printed = docker_ok(&["run", "--rm", "--platform", platform, &reference, "--version"]);
        assert!(printed.starts_with(&format!("beacon {version} (")), "{platform}: --version printed {printed:?}");

        let name = format!("images-test-{}", platform.replace('/', "-"));
        let _ = docker(&["rm", "--force", &name]);
        docker_ok(&["run", "--detach", "--name", &name, "--platform", platform, &reference]);
        let mut healthy = false;
        for _ in 0..100 {
            if docker(&["exec", &name, "/beacon", "healthcheck"]).status.success() {
                healthy = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let no_shell = docker(&["exec", &name, "/bin/sh", "-c", "true"]);
        let user = docker_ok(&["inspect", "--format", "{{.Config.User}}", &name]);
        let _ = docker(&["rm", "--force", &name]);
        assert!(healthy, "{platform}: healthcheck never passed");
        assert!(!no_shell.status.success(), "{platform}: the runtime image has a /bin/sh");
        let uid = user.split(':').next().unwrap();
        assert!(!uid.is_empty() && uid != "0" && uid != "root", "{platform}: runs as {user:?}");
    }
    docker_ok(&["image", "rm", &reference]);
}

#[test]
fn two_builds_of_one_commit_give_one_index_digest() {
    let _engine = engine_lock();
    let out = xtask(&workspace_root(), &["build", "--check-reproducible"]);
    assert!(out.status.success(), "build --check-reproducible failed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("beacon: reproducible (sha256:"), "{err}");
}
