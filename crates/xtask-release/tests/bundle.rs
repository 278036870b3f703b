//! `cargo xtask release bundle` and `release import` end to end between two registries with TLS and
//! htpasswd auth, with real cosign: release 1.0.0 (two platforms) to the first, bundle it, stop the first, import
//! the bundle into the second; the same digests there, the signature and both attestations of every
//! platform verify there with the release's key, and the index's signature verifies offline from the
//! layout itself (`cosign verify --local-image`). Importing again changes nothing; an altered blob is
//! refused naming it, and a tag that would move is refused; neither sends anything.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use xtask_testbed::releaser::*;
use xtask_testbed::*;

fn failed_with(out: &Output, message: &str) {
    assert!(!out.status.success(), "expected a failure mentioning {message:?}");
    assert!(stderr(out).contains(message), "expected {message:?} in:\n{}", stderr(out));
}

/// cosign `args` against the second registry (its login and CA), which must succeed.
fn cosign_ok(registry: &SecureRegistry, args: &[&str]) -> String {
    let out = Command::new("cosign")
        .args(args)
        .env("DOCKER_CONFIG", registry.docker_config())
        .env("SSL_CERT_FILE", registry.dir.join("bundle.pem"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "cosign {}: {}", args.join(" "), stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tar(args: &[&str], dir: &Path) {
    let out = Command::new("tar").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "tar {}: {}", args.join(" "), stderr(&out));
}

#[test]
fn a_bundle_imported_into_a_second_registry_verifies_there_with_the_first_one_down() {
    let _engine = engine_lock();
    // Both of ledger's platforms: an index with a manifest per platform, each signed and attested.
    let fixture = Fixture::ledger("bundle");
    let registry = SecureRegistry::start(USER, &password());
    let mut env = registry.env();
    env.extend(signing_env(&fixture.dir));
    let mut r = Releaser { fixture, registry, env };
    let index = r.release_version("1.0.0");
    let record = r.record();
    let platforms: Vec<String> = record["images"][0]["platforms"]
        .as_object()
        .unwrap()
        .values()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(platforms.len(), 2, "{record}");
    assert!(!platforms.contains(&index), "{record}");
    let public_key = r.fixture.dir.join("target/xtask/image-ledger/cosign.pub");
    let work = r.fixture.dir.join("target/bundle-test");
    std::fs::create_dir_all(&work).unwrap();
    let bundle = work.join("ledger-1.0.0.tar");
    let bundle_arg = bundle.display().to_string();

    let namespace = r.registry.namespace();
    let args = ["release", "bundle", "1.0.0", "--registry", &namespace, "--image", "ledger", "--output", &bundle_arg];
    let out = r.run_watched(&args, &r.env);
    succeeded(&out, "release bundle");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains(&bundle_arg) && said.contains(&format!("{namespace}/ledger:1.0.0 {index}")), "{said}");

    // The layout itself: the version's tag names the released index, with the signatures beside it.
    let layout = work.join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    tar(&["-xf", &bundle_arg, "-C", layout.to_str().unwrap()], &work);
    let entries = read_json(&layout.join("index.json"))["manifests"].as_array().unwrap().clone();
    let tagged = |tag: &str| entries.iter().find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == tag);
    assert_eq!(tagged("1.0.0").unwrap()["digest"], index.as_str(), "{entries:?}");
    let artifact_tags: Vec<String> = entries
        .iter()
        .filter_map(|e| e["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .filter(|t| t.starts_with("sha256-"))
        .map(str::to_owned)
        .collect();
    assert!(signature_tags_present(&artifact_tags), "no signature or attestation tags in the bundle: {entries:?}");
    for digest in std::iter::once(&index).chain(&platforms) {
        let hex = digest.trim_start_matches("sha256:");
        assert!(artifact_tags.iter().any(|t| t.contains(hex)), "nothing refers to {digest} in the bundle");
    }

    // Offline, from the layout alone: the index's signature (cosign's `--local-image`).
    let offline = Command::new("cosign")
        .args(["verify", "--local-image", "--insecure-ignore-tlog=true", "--key"])
        .arg(&public_key)
        .arg(&layout)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(offline.status.success(), "cosign verify --local-image: {}", stderr(&offline));

    // The first registry goes down; the second receives the bundle.
    r.registry.stop();
    let second = SecureRegistry::start(USER, &password());
    let to = second.namespace();
    let import = |bundle: &str| r.run_watched(&["release", "import", bundle, "--registry", &to], &second.env());
    let out = import(&bundle_arg);
    succeeded(&out, "release import");
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 already there"), "{}", report(&out));
    assert_eq!(second.digest("ledger", "1.0.0").as_deref(), Some(index.as_str()), "the index digest is kept");
    for platform in &platforms {
        let image = format!("{to}/ledger@{platform}");
        cosign_ok(&second, &["verify", "--insecure-ignore-tlog=true", "--key", public_key.to_str().unwrap(), &image]);
        for kind in ["cyclonedx", "slsaprovenance"] {
            let key = public_key.to_str().unwrap();
            cosign_ok(
                &second,
                &["verify-attestation", "--insecure-ignore-tlog=true", "--type", kind, "--key", key, &image],
            );
        }
    }
    let image = format!("{to}/ledger:1.0.0");
    let verified =
        cosign_ok(&second, &["verify", "--insecure-ignore-tlog=true", "--key", public_key.to_str().unwrap(), &image]);
    assert!(verified.contains(&index), "the signature verified is of another digest: {verified}");

    // Again: nothing new, every tag already there.
    let tags_before = second.tags("ledger");
    let out = import(&bundle_arg);
    succeeded(&out, "the second import");
    assert!(String::from_utf8_lossy(&out.stdout).contains("(0 written"), "{}", report(&out));
    assert_eq!(second.tags("ledger"), tags_before);

    // One byte of one layer changed: refused, naming the blob, before anything is sent.
    let manifest = read_json(&layout.join("blobs/sha256").join(platforms[0].trim_start_matches("sha256:")));
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let file = layout.join("blobs/sha256").join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let tampered = work.join("tampered.tar");
    tar(
        &["-cf", tampered.to_str().unwrap(), "-C", layout.to_str().unwrap(), "oci-layout", "index.json", "blobs"],
        &work,
    );
    failed_with(&import(tampered.to_str().unwrap()), &format!("the bundle's blob {layer} holds other bytes"));

    // The version's tag pointed elsewhere (another manifest the bundle holds): never moved.
    tar(&["-xf", &bundle_arg, "-C", layout.to_str().unwrap()], &work);
    let index_json = std::fs::read_to_string(layout.join("index.json")).unwrap();
    let elsewhere = entries.iter().map(|e| e["digest"].as_str().unwrap()).find(|d| *d != index).unwrap();
    let moved = index_json.replacen(&format!("\"digest\": \"{index}\""), &format!("\"digest\": \"{elsewhere}\""), 1);
    assert_ne!(moved, index_json, "the layout's index.json names {index}");
    std::fs::write(layout.join("index.json"), moved).unwrap();
    let moving = work.join("moving.tar");
    tar(&["-cf", moving.to_str().unwrap(), "-C", layout.to_str().unwrap(), "oci-layout", "index.json", "blobs"], &work);
    failed_with(&import(moving.to_str().unwrap()), &format!("{to}/ledger:1.0.0 already points at {index}"));
    assert_eq!(second.digest("ledger", "1.0.0").as_deref(), Some(index.as_str()), "the refused import moved 1.0.0");
}
