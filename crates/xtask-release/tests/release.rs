//! `cargo xtask release --execute` end to end against a real registry with TLS and htpasswd auth,
//! with real cosign: tag rules over a sequence of releases (stable, rc, newer stable, hotfix on an
//! old line), a planted token, an immutable version, a registry refusing writes mid-release and the
//! resumed release, wrong credentials — and the password never in argv, output or files.

use xtask_testbed::releaser::*;
use xtask_testbed::*;

#[test]
fn releases_follow_the_tag_rules_and_are_signed_and_verified() {
    let _engine = engine_lock();
    let r = Releaser::new("tags");

    r.set_version("1.0.0");
    succeeded(&r.release(), "release 1.0.0");
    let v100 = r.record()["images"][0]["index_digest"].as_str().unwrap().to_owned();
    let tags = r.tags();
    let names: Vec<&str> = tags.keys().map(String::as_str).collect();
    assert_eq!(names, ["1", "1.0", "1.0.0", "latest"]);
    assert!(tags.values().all(|d| *d == v100), "every tag points at the recorded index digest: {tags:?}");
    let record = r.record();
    let platforms: Vec<&String> = record["images"][0]["platforms"].as_object().unwrap().keys().collect();
    assert_eq!(platforms, ["linux/amd64"], "the fixture's one platform");
    let signed = &record["images"][0]["signatures"][0];
    let format = signed["signature_format"].as_str().unwrap();
    assert!(stored_as(format, signed["signature"].as_str().unwrap(), "sig"), "{format}: {signed}");
    // cosign 3 (signing with a signing config by default) writes Sigstore bundles, cosign 2 tags.
    let help = std::process::Command::new("cosign").args(["sign", "--help"]).output().unwrap();
    let cosign3 = String::from_utf8_lossy(&help.stdout).contains("--use-signing-config=true");
    assert_eq!(format, if cosign3 { "sigstore-bundle" } else { "legacy-tags" }, "the installed cosign's format");
    assert_eq!(record["images"][0]["signatures"][0]["attestations"].as_array().unwrap().len(), 1);

    r.set_version("1.1.0-rc.1");
    succeeded(&r.release(), "release 1.1.0-rc.1");
    let tags = r.tags();
    assert_eq!(tags["latest"], v100, "a pre-release never moves latest");
    assert_eq!(tags["1"], v100);
    assert!(tags.contains_key("1.1.0-rc.1") && !tags.contains_key("1.1"));

    r.set_version("1.1.0");
    succeeded(&r.release(), "release 1.1.0");
    let v110 = r.record()["images"][0]["index_digest"].as_str().unwrap().to_owned();
    let tags = r.tags();
    assert_eq!(
        (tags["latest"].as_str(), tags["1"].as_str(), tags["1.1"].as_str()),
        (v110.as_str(), v110.as_str(), v110.as_str())
    );

    // A hotfix on the 1.0 line, from its maintenance branch.
    r.fixture.git(&["checkout", "--quiet", "-b", "release-1.0", "v1.0.0"]);
    r.set_version("1.0.1");
    succeeded(&r.release(), "release 1.0.1");
    let v101 = r.record()["images"][0]["index_digest"].as_str().unwrap().to_owned();
    let tags = r.tags();
    assert_eq!(tags["1.0.1"], v101);
    assert_eq!(tags["1.0"], v101, "the hotfix moves its minor line");
    assert_eq!(tags["1"], v110, "but not the major line, which has 1.1.0");
    assert_eq!(tags["latest"], v110, "and not latest");

    // Running the same release again changes nothing and completes.
    succeeded(&r.release(), "re-release 1.0.1");
    assert_eq!(r.tags(), tags);
    assert_eq!(
        r.record()["images"][0]["tags_unchanged"][0].as_str().unwrap(),
        format!("{}/ledger:1.0.1", r.registry.namespace())
    );
    // cosign 3's signatures are content-addressed referrers: with the same ones listed and the same
    // key, the verification is reused; the Dockerfile's build checks too (buildx that has them).
    let verification = |record: &serde_json::Value| {
        record["reused"].as_array().unwrap().iter().any(|r| r["check"] == "signature and attestation verification")
    };
    assert_eq!(verification(&r.record()), cosign3, "verification reused: {}", r.record()["reused"]);
    // (The release of 1.0.1 before signed and attested: what it verified after its writes is what
    // was reused.) Another key: nothing verifies with it, so nothing is reused, and the release
    // signs and attests with it.
    let mut other_key = r.env.clone();
    other_key.retain(|(k, _)| !k.starts_with("COSIGN_"));
    other_key.extend(signing_env(&r.fixture.dir));
    let out = r.release_with(&other_key);
    succeeded(&out, "re-release 1.0.1 with another key");
    assert!(!verification(&r.record()), "a new key verifies afresh: {}", r.record()["reused"]);
    assert!(stderr(&out).contains("    signed and attested"), "signed with the new key:\n{}", stderr(&out));
    // The old key's bundles are listed, fetched and refused by the new key: another signer's, not
    // a listing behind the registry, so nothing waits out the retries (the sign step's checks, the
    // notes' reading of the previous release).
    assert!(!stderr(&out).contains("that the registry lists"), "retried:\n{}", stderr(&out));
}

#[test]
fn failures_leave_the_registry_untouched_and_a_failed_release_resumes() {
    let _engine = engine_lock();
    let mut r = Releaser::new("failures");

    // Wrong password: one clear error before anything is built.
    let prefix = r.registry.credential_prefix();
    let mut wrong = r.env.clone();
    wrong.retain(|(k, _)| *k != format!("{prefix}_PASSWORD"));
    wrong.push((format!("{prefix}_PASSWORD"), "not-the-password".into()));
    let out = r.release_with(&wrong);
    assert!(!out.status.success());
    let err = stderr(&out);
    let source = format!("did not accept the credentials from {prefix}_USERNAME/{prefix}_PASSWORD");
    assert!(err.contains(&source), "{err}");
    assert!(!err.contains("==> build") && !err.contains("not-the-password"), "{err}");
    assert!(!r.fixture.dir.join("target/xtask/image-ledger/build-record.json").exists(), "nothing may be built");

    // A planted token: the scan gate stops the release before anything is pushed.
    let token = format!("ghp_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5");
    r.fixture.write("leak.env", &format!("GITHUB_TOKEN={token}\n"));
    r.fixture.eject_dockerfile();
    let dockerfile = std::fs::read_to_string(r.fixture.dir.join("docker/Dockerfile")).unwrap();
    r.fixture
        .write("docker/Dockerfile", &(dockerfile.clone() + "\nFROM service AS leaky\nCOPY leak.env /etc/leak.env\n"));
    r.fixture.edit("Cargo.toml", "target = \"service\"", "target = \"leaky\"");
    r.fixture.commit("plant a token");
    let out = r.release();
    assert!(!out.status.success(), "a planted token must stop the release");
    assert!(stderr(&out).contains("github-pat") && !stderr(&out).contains("==> push-versioned"), "{}", stderr(&out));
    assert!(r.registry.catalog().is_empty(), "the catalog must stay empty: {:?}", r.registry.catalog());

    // The registry refuses writes during the push: nothing floating moves; the rerun completes.
    r.fixture.write("docker/Dockerfile", &dockerfile);
    r.fixture.edit("Cargo.toml", "target = \"leaky\"", "target = \"service\"");
    std::fs::remove_file(r.fixture.dir.join("leak.env")).unwrap();
    r.fixture.commit("remove the token");
    r.registry.run(true);
    let out = r.release();
    assert!(!out.status.success(), "a push into a read-only registry must fail");
    assert!(stderr(&out).contains("==> push-versioned") && !stderr(&out).contains("==> push-floating"));
    assert!(r.tags().is_empty(), "no tag may exist after a failed push: {:?}", r.tags());
    let built = read_json(&r.fixture.dir.join("target/xtask/image-ledger/build-record.json"))["images"][0]
        ["index_digest"]
        .clone();
    r.registry.run(false);
    succeeded(&r.release(), "the same release, rerun");
    let tags = r.tags();
    let names: Vec<&str> = tags.keys().map(String::as_str).collect();
    assert_eq!(names, ["0.1", "0.1.0", "latest"]);
    assert!(
        tags.values().all(|d| Some(d.as_str()) == built.as_str()),
        "same digests as the failed attempt built: {tags:?}"
    );

    // An existing version with another digest is refused and nothing changes.
    r.fixture.edit("crates/ledger/src/http.rs", "ok\\n", "ok!\\n");
    r.fixture.commit("change the service without a new version");
    let out = r.release();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("immutable"), "{}", stderr(&out));
    assert_eq!(r.tags(), tags, "the registry must be unchanged");

    // One release at a time.
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(r.fixture.dir.join("target/xtask/locks/ledger.lock"))
        .unwrap();
    // flock(2), as the xtask locks (std's `File::lock` needs Rust 1.89; the xtask declares 1.85).
    // SAFETY: the descriptor stays open for the call (and the rest of the test).
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(locked, 0, "flock: {}", std::io::Error::last_os_error());
    let out = r.release();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("another `cargo xtask release` of image ledger is running"), "{}", stderr(&out));
}
