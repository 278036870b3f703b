//! A retraction that must delete a floating tag on a registry that refuses manifest deletes (405,
//! as ghcr.io and Docker Hub answer; here `registry:2` with `storage.delete.enabled: false`)
//! refuses before changing anything and says what to do instead; the same retraction on a
//! registry that deletes completes. Real registries, skopeo, cosign and git; the released image
//! is a small hand-made one (the decision is about tags, not builds), pushed under `1.0.0` and
//! the floating tags `1.0`, `1`, `latest` as a release of 1.0.0 leaves them.

use std::process::Command;

use xtask_testbed::*;

const REASON: &str = "1.0.0 corrupts its state file";

/// A one-platform image whose config carries version label 1.0.0, as an OCI layout in `dir`.
fn write_image(dir: &std::path::Path) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |contents: &str| -> (String, usize) {
        let file = dir.join("blob");
        std::fs::write(&file, contents).unwrap();
        let out = Command::new("sha256sum").arg(&file).output().unwrap();
        let hex = String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned();
        std::fs::rename(&file, blobs.join(&hex)).unwrap();
        (format!("sha256:{hex}"), contents.len())
    };
    let config = r#"{"architecture":"amd64","os":"linux","config":{"Labels":{"org.opencontainers.image.version":"1.0.0"}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let (config_digest, config_size) = put(config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [],
    })
    .to_string();
    let (digest, size) = put(&manifest);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size}]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A plain-HTTP `registry:2` on loopback holding ledger 1.0.0 and its floating tags.
struct Released {
    registry: Registry,
}

impl Released {
    fn start(fixture: &Fixture, deletes: bool) -> Released {
        let container = docker_ok(&[
            "run",
            "--detach",
            "--publish",
            "127.0.0.1::5000",
            "--env",
            &format!("REGISTRY_STORAGE_DELETE_ENABLED={deletes}"),
            "registry:2",
        ]);
        let port = docker_ok(&["port", &container, "5000/tcp"]).rsplit(':').next().unwrap().parse().unwrap();
        let registry = Registry { container, port };
        let layout = fixture.dir.join("target/released-image");
        write_image(&layout);
        for tag in ["1.0.0", "1.0", "1", "latest"] {
            let to = format!("docker://{}/acme/ledger:{tag}", registry.host());
            let mut tries = 0;
            loop {
                let out = Command::new("skopeo")
                    .args(["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false"])
                    .arg(format!("oci:{}", layout.display()))
                    .arg(&to)
                    .output()
                    .unwrap();
                if out.status.success() {
                    break;
                }
                tries += 1;
                assert!(tries < 50, "push {to}: {}", String::from_utf8_lossy(&out.stderr));
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
        Released { registry }
    }

    fn namespace(&self) -> String {
        format!("{}/acme", self.registry.host())
    }

    fn tags(&self) -> Vec<String> {
        let out = Command::new("skopeo")
            .args(["list-tags", "--tls-verify=false"])
            .arg(format!("docker://{}/ledger", self.namespace()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut tags: Vec<String> =
            list["Tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
        tags.sort();
        tags
    }
}

fn retract(fixture: &Fixture, registry: &Released, env: &[(String, String)], execute: bool) -> std::process::Output {
    let namespace = registry.namespace();
    let mut args =
        vec!["release", "retract", "1.0.0", "--reason", REASON, "--registry", &namespace, "--image", "ledger"];
    if execute {
        args.push("--execute");
    }
    xtask_env(&fixture.dir, &args, env)
}

#[test]
fn a_tag_deletion_the_registry_refuses_stops_the_retraction_before_anything_changes() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("retract-undeletable");
    fixture.git(&["tag", "v1.0.0"]);
    let env = signing_env(&fixture.dir);
    let released: Vec<String> = ["1", "1.0", "1.0.0", "latest"].map(String::from).to_vec();

    // Deletes turned off: DELETE answers 405 UNSUPPORTED, as on ghcr.io.
    let refusing = Released::start(&fixture, false);
    assert_eq!(refusing.tags(), released);
    let started = std::time::Instant::now();
    let dry = retract(&fixture, &refusing, &env, false);
    assert!(dry.status.success(), "the dry run does not probe an unknown registry:\n{}", stderr(&dry));
    let listing = String::from_utf8_lossy(&dry.stdout);
    assert!(listing.contains("-> deleted (no live release left under it)"), "{listing}");
    let out = retract(&fixture, &refusing, &env, true);
    let err = stderr(&out);
    assert!(!out.status.success(), "the retraction must refuse:\n{err}");
    assert!(err.contains("cannot retract 1.0.0: nothing was changed"), "{err}");
    for tag in ["1.0", "1", "latest"] {
        assert!(err.contains(&format!("{}/ledger:{tag}", refusing.namespace())), "names {tag}: {err}");
    }
    assert!(err.contains("refuses to delete manifests") && err.contains("release a fixed version first"), "{err}");
    assert_eq!(refusing.tags(), released, "no tag moved, deleted or pointed at a placeholder");
    assert_eq!(fixture.git(&["tag", "--list", "retracted/*"]), "", "no retraction tag either");
    eprintln!("refused in {:.1}s", started.elapsed().as_secs_f64());

    // The same retraction where deletes are allowed: the probe passes and the tags go.
    let deleting = Released::start(&fixture, true);
    let out = retract(&fixture, &deleting, &env, true);
    assert!(out.status.success(), "{}", stderr(&out));
    let tags = deleting.tags();
    assert_eq!(tags[0], "1.0.0", "the version stays");
    assert!(
        tags.len() == 2 && tags[1].starts_with("sha256-"),
        "the floating tags are gone, an attestation came: {tags:?}"
    );
    assert_eq!(fixture.git(&["tag", "--list", "retracted/*"]), "retracted/v1.0.0");
}
