//! `cargo xtask release retract` end to end against a real registry with TLS and htpasswd auth,
//! real cosign and real git: release 1.0.0 and 1.1.0, retract 1.1.0 (dry run, refusals, a run the
//! registry interrupts, the resumed run, the attestation read back with cosign), then later plans
//! and releases pass over 1.1.0 — and the password never in argv, output or files.

use std::process::{Command, Output, Stdio};

use xtask_testbed::releaser::*;
use xtask_testbed::*;

const REASON: &str = "1.1.0 drops requests under load";
const PREDICATE_TYPE: &str = "https://example.com/acme/ledger/retraction/v1";

fn failed_with(out: &Output, message: &str) {
    assert!(!out.status.success(), "expected a failure mentioning {message:?}");
    assert!(stderr(out).contains(message), "expected {message:?} in:\n{}", stderr(out));
}

/// The in-toto statements of the retraction attestations on `digest` that verify with the key the
/// retraction used.
fn retraction_statements(r: &Releaser, digest: &str) -> Vec<serde_json::Value> {
    let public_key = r.fixture.dir.join("target/xtask/image-ledger/cosign.pub");
    let image = format!("{}/ledger@{digest}", r.registry.namespace());
    let out = Command::new("cosign")
        .args(["verify-attestation", "--insecure-ignore-tlog=true", "--type", PREDICATE_TYPE, "--key"])
        .arg(&public_key)
        .arg(&image)
        .env("DOCKER_CONFIG", r.registry.docker_config())
        .env("SSL_CERT_FILE", r.registry.dir.join("bundle.pem"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "cosign verify-attestation {image}: {}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout
        .lines()
        .map(|line| {
            let envelope: serde_json::Value = serde_json::from_str(line).unwrap();
            let mut decode =
                Command::new("base64").arg("--decode").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
            use std::io::Write;
            decode.stdin.take().unwrap().write_all(envelope["payload"].as_str().unwrap().as_bytes()).unwrap();
            serde_json::from_slice(&decode.wait_with_output().unwrap().stdout).unwrap()
        })
        .collect()
}

#[test]
fn a_retraction_rolls_floating_tags_back_is_attested_and_later_releases_remember_it() {
    let _engine = engine_lock();
    let mut r = Releaser::new("retract");
    let v100 = r.release_version("1.0.0");
    let v110 = r.release_version("1.1.0");
    let released = r.tags();
    assert_eq!(
        (released["latest"].as_str(), released["1"].as_str(), released["1.1"].as_str()),
        (&*v110, &*v110, &*v110)
    );
    let namespace = r.registry.namespace();

    // Refused before the registry is touched: a version never released, one never pushed here.
    failed_with(&r.retract(&["9.9.9", "--reason", REASON, "--execute"]), "9.9.9 was never released");
    r.fixture.git(&["tag", "v0.9.0"]);
    failed_with(&r.retract(&["0.9.0", "--reason", REASON, "--execute"]), "ledger:0.9.0 is not in the registry");
    r.fixture.git(&["tag", "--delete", "v0.9.0"]);
    failed_with(&r.retract(&["1.1.0", "--execute"]), "pass --reason TEXT");
    assert_eq!(r.tags(), released, "the refusals must leave the registry untouched");

    // The dry run lists every move and deletion, and changes nothing.
    let out = r.retract(&["1.1.0", "--reason", REASON]);
    succeeded(&out, "the dry run");
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listing.contains(&format!("image ledger in {namespace}/ledger")), "{listing}");
    assert!(listing.contains(&format!("1.1      {v110} (1.1.0)  -> deleted")), "{listing}");
    assert!(listing.contains(&format!("1        {v110} (1.1.0)  -> 1.0.0 {v100}")), "{listing}");
    assert!(listing.contains(&format!("latest   {v110} (1.1.0)  -> 1.0.0 {v100}")), "{listing}");
    assert!(stderr(&out).contains("dry run: nothing was moved"), "{}", stderr(&out));
    assert_eq!(r.tags(), released, "a dry run changes nothing");
    assert_eq!(r.fixture.git(&["tag", "--list", "retracted/*"]), "", "a dry run creates no tag");

    // A registry refusing writes stops the retraction at its first move: one error, nothing moved.
    r.registry.run(true);
    let out = r.retract(&["1.1.0", "--reason", REASON, "--execute"]);
    failed_with(&out, "run `cargo xtask release retract 1.1.0 --execute` again");
    assert!(stderr(&out).contains("==> move-floating") && !stderr(&out).contains("==> attest"));
    assert_eq!(r.tags(), released, "the read-only registry kept every tag");
    // The tag was made first, so the reason needs no repeating from here on.
    let message = r.fixture.git(&["for-each-ref", "--format=%(objecttype) %(contents)", "refs/tags/retracted/v1.1.0"]);
    assert_eq!(message, format!("tag {REASON}"));

    // A registry refusing deletes (1.1 must go: no live 1.1 release is left) is found out by a
    // delete probe before any tag changes: refused, nothing moved (see retract_undeletable.rs).
    r.registry.deletes = false;
    r.registry.run(false);
    let out = r.retract(&["1.1.0", "--execute"]);
    failed_with(&out, "cannot retract 1.1.0: nothing was changed");
    failed_with(&out, &format!("{namespace}/ledger:1.1 must be deleted"));
    assert_eq!(r.tags(), released, "the refusal moved nothing");

    // The re-run where deletes are allowed completes it: moves, the deletion, then the attestation.
    r.registry.deletes = true;
    r.registry.run(false);
    let out = r.retract(&["1.1.0", "--execute"]);
    succeeded(&out, "the resumed retraction");
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listing.contains(&format!("latest   {v110} (1.1.0)  -> 1.0.0 {v100}")), "{listing}");
    assert!(listing.contains(&format!("1.1      {v110} (1.1.0)  -> deleted")), "{listing}");

    let tags = r.tags();
    let names: Vec<&str> = tags.keys().map(String::as_str).collect();
    assert_eq!(names, ["1", "1.0", "1.0.0", "1.1.0", "latest"], "1.1 is gone, 1.1.0 stays");
    assert_eq!((tags["latest"].as_str(), tags["1"].as_str()), (&*v100, &*v100));
    assert_eq!(tags["1.1.0"], v110, "versions are immutable: 1.1.0 still resolves");
    let statements = retraction_statements(&r, &v110);
    assert_eq!(statements.len(), 1, "one retraction attestation: {statements:?}");
    let predicate = &statements[0]["predicate"];
    assert_eq!(statements[0]["predicateType"], PREDICATE_TYPE);
    assert_eq!((predicate["version"].as_str(), predicate["reason"].as_str()), (Some("1.1.0"), Some(REASON)));
    assert_eq!(predicate["git_ref"], "refs/tags/retracted/v1.1.0");
    assert_eq!(predicate["digest"], v110.as_str());
    let record = read_json(&r.fixture.dir.join("target/xtask/image-ledger/retraction-record.json"));
    assert_eq!((record["version"].as_str(), record["reason"].as_str()), (Some("1.1.0"), Some(REASON)));
    let release = r.record();
    let format = release["images"][0]["signatures"][0]["signature_format"].as_str().unwrap();
    let stored = record["attestations"][format!("{namespace}/ledger")].as_str().unwrap();
    assert!(stored_as(format, stored, "att"), "{format}: {stored}");

    // Already retracted: a clear error, and the registry untouched (no second attestation).
    failed_with(&r.retract(&["1.1.0", "--execute"]), "1.1.0 is already retracted");
    assert_eq!(r.tags(), tags);
    assert_eq!(retraction_statements(&r, &v110).len(), 1);

    // Later decisions remember: releasing 1.1.0 again is refused; a 1.0.1 hotfix would move `1`
    // and `latest`; 1.1.1 moves `latest`, `1` and `1.1` as if 1.1.0 never existed.
    failed_with(&r.release(), "1.1.0 was retracted");
    r.fixture.git(&["checkout", "--quiet", "-b", "release-1.0", "v1.0.0"]);
    r.set_version("1.0.1");
    let plan = r.fixture.xtask(&["plan", "--json", "--registry", &namespace]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let floating: Vec<&str> =
        plan["images"][0]["floating_tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let expected: Vec<String> = ["1.0", "1", "latest"].iter().map(|t| format!("{namespace}/ledger:{t}")).collect();
    assert_eq!(floating, expected);
    r.fixture.git(&["checkout", "--quiet", "main"]);
    let v111 = r.release_version("1.1.1");
    let tags = r.tags();
    assert_eq!((tags["latest"].as_str(), tags["1"].as_str(), tags["1.1"].as_str()), (&*v111, &*v111, &*v111));
    assert_eq!((tags["1.1.0"].as_str(), tags["1.0"].as_str()), (&*v110, &*v100));
}

#[test]
fn a_retraction_never_promotes_an_image_the_release_did_not_sign() {
    let _engine = engine_lock();
    let r = Releaser::new("retract-unsigned");
    r.release_version("1.0.0");
    let v110 = r.release_version("1.1.0");
    let namespace = r.registry.namespace();

    // Someone with push access puts another build under 1.0.0's tag: the same version label,
    // another digest, no signature of this release's key.
    r.fixture.git(&["checkout", "--quiet", "v1.0.0"]);
    r.fixture.edit("crates/ledger/src/http.rs", "ok\\n", "ok, trust me\\n");
    let built = r.fixture.xtask(&["build", "--image", "ledger", "--registry", &namespace]);
    succeeded(&built, "the unsigned build of 1.0.0");
    let pushed = Command::new("docker")
        .arg("--config")
        .arg(r.registry.docker_config())
        .args(["push", "--quiet", &format!("{namespace}/ledger:1.0.0")])
        .output()
        .unwrap();
    assert!(pushed.status.success(), "docker push: {}", stderr(&pushed));
    r.fixture.git(&["checkout", "--quiet", "--", "."]);
    r.fixture.git(&["checkout", "--quiet", "main"]);
    let before = r.tags();
    assert_ne!(before["1.0.0"], before["1"], "the tag now serves the unsigned build");

    // Retracting 1.1.0 would move `latest` and `1` to 1.0.0: refused, naming why, nothing moved.
    let out = r.retract(&["1.1.0", "--reason", REASON, "--execute"]);
    failed_with(&out, "its signature does not verify with this release's key or identity");
    failed_with(&out, "refusing to promote an image this project did not sign");
    let after = r.tags();
    assert_eq!((after["latest"].as_str(), after["1"].as_str()), (&*v110, &*v110), "nothing moved: {after:?}");
}
