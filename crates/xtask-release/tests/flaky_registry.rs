//! Releases through a registry that fails: a fault-injecting front (`xtask_testbed::flaky_front`) before
//! a real `registry:2`. A release with the default retry settings through a front failing about one
//! request in six (with realistic bodies: the spec's JSON errors for 429 and 503, nginx's page for
//! 502) completes in one run, and the registry then holds what the build record says, signed; a registry refusing a
//! request (401, 404 on a manifest PUT, MANIFEST_INVALID) fails the release at once, with no retry;
//! a registry that stays at 503 fails it once the retry budget is spent, naming the registry, the
//! operation, the status and the attempts, with no floating tag moved.

use std::process::Command;
use std::time::Instant;

use xtask_testbed::flaky_front::*;
use xtask_testbed::*;

/// Which requests fail: the same ones on every run (the front is deterministic for a seed).
const SEED: u64 = 23;

/// `cosign ARGS… IMAGE` against the registry itself, with the release's public key; its success.
fn cosign_verifies(fixture: &Fixture, args: &[&str], image: &str) -> bool {
    let out = Command::new("cosign")
        .args(args)
        .args(["--key", "target/xtask/cosign.pub", "--insecure-ignore-tlog=true", "--allow-http-registry=true"])
        .args(["--allow-insecure-registry=true", image])
        .current_dir(&fixture.dir)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!("cosign {args:?} {image}: {}", stderr(&out));
    }
    out.status.success()
}

fn fixture(name: &str, retry: &str) -> Fixture {
    let fixture = Fixture::ledger(name);
    fixture.one_platform_per_image();
    if !retry.is_empty() {
        fixture.edit(
            "Cargo.toml",
            "[workspace.metadata.xtask.scan]",
            &format!("{retry}\n[workspace.metadata.xtask.scan]"),
        );
    }
    fixture.commit("one platform per image");
    let out = fixture.xtask(&["version", "set", "1.0.0", "--commit", "--tag"]);
    assert!(out.status.success(), "version set: {}", stderr(&out));
    fixture
}

#[test]
fn a_release_through_a_registry_failing_one_request_in_six_completes_in_one_run() {
    let _engine = engine_lock();
    // The default retry settings: each request is retried on its own, so an operation made of
    // many requests (a push: some 25) gets through a registry failing one request in six.
    let fixture = fixture("flaky", "");
    let registry = Registry::start();
    let front = FlakyFront::start(registry.port, 6, SEED);
    let started = Instant::now();
    let namespace = format!("{}/acme", front.host());
    let out = xtask_env(&fixture.dir, &["release", "--execute", "--registry", &namespace], &signing_env(&fixture.dir));
    eprintln!("the release took {:.0}s; the front failed {:?}", started.elapsed().as_secs_f64(), front.injected());
    assert!(out.status.success(), "the release through the flaky front failed:\n{}", stderr(&out));
    let said = stderr(&out);
    let faults = front.injected();
    assert!(faults.len() >= 5, "about one request in six failed: {} of {}", faults.len(), front.requests().len());
    assert!(said.contains("    retry: "), "a line per retry:\n{said}");

    let record = read_json(&fixture.dir.join("target/xtask/release-record.json"));
    let retries: u64 = record["retries"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(retries as usize, said.matches("    retry: ").count(), "the record counts every retry line");
    let images = record["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "ledger and ledgerctl");
    let mut repositories = Vec::new();
    for image in images {
        let name = image["name"].as_str().unwrap();
        let index = image["index_digest"].as_str().unwrap();
        let repository = format!("acme/{name}");
        let tags: Vec<String> = registry.tags(&repository).into_iter().filter(|t| !t.starts_with("sha256-")).collect();
        assert_eq!(tags, ["1", "1.0", "1.0.0", "latest"], "{name}");
        for tag in &tags {
            assert_eq!(registry.digest(&repository, tag).as_deref(), Some(index), "{repository}:{tag}");
        }
        let floating: Vec<&str> =
            image["floating_tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert_eq!(floating.len(), 3, "{floating:?}");
        let direct = format!("{}/{repository}@{index}", registry.host());
        assert!(cosign_verifies(&fixture, &["verify"], &direct), "the signature of {direct} verifies");
        for platform in image["platforms"].as_object().unwrap().values() {
            let manifest = format!("{}/{repository}@{}", registry.host(), platform.as_str().unwrap());
            for kind in ["cyclonedx", "slsaprovenance"] {
                assert!(
                    cosign_verifies(&fixture, &["verify-attestation", "--type", kind], &manifest),
                    "{kind} of {manifest}"
                );
            }
        }
        repositories.push(repository);
    }
    let mut catalog = registry.catalog();
    catalog.sort();
    assert_eq!(catalog, repositories, "the registry holds the released images and nothing else");
    untag_local(&front.host());
}

/// The release's stderr, after checking that it failed.
fn failed(out: &std::process::Output, what: &str) -> String {
    assert!(!out.status.success(), "{what}: the release should have failed");
    stderr(out)
}

#[test]
fn refusals_fail_at_once_and_a_registry_that_stays_down_fails_after_the_budget() {
    let _engine = engine_lock();
    let retry = "[workspace.metadata.xtask.retry]\nattempts = 10\nmax-wait = \"2s\"\nbudget = \"5s\"\n";
    let fixture = fixture("refusals", retry);
    let registry = Registry::start();
    let release = |front: &FlakyFront| {
        let namespace = format!("{}/acme", front.host());
        let args = ["release", "--execute", "--registry", &namespace, "--image", "ledger"];
        xtask_env(&fixture.dir, &args, &signing_env(&fixture.dir))
    };
    let manifest_put = |path: &str| path.contains("/manifests/");
    // The registry's answer, as the client read it: the status and the spec's error code.
    for (fault, method, path, says) in [
        (Fault::Unauthorized, "*", (|_: &str| true) as fn(&str) -> bool, "401 Unauthorized, UNAUTHORIZED"),
        (Fault::NotFound, "PUT", manifest_put as fn(&str) -> bool, "404 Not Found, NAME_UNKNOWN"),
        (Fault::ManifestInvalid, "PUT", manifest_put as fn(&str) -> bool, "400 Bad Request, MANIFEST_INVALID"),
    ] {
        let front = FlakyFront::start(registry.port, 0, SEED);
        front.always(Rule { method, path, fault });
        let started = Instant::now();
        let said = failed(&release(&front), &format!("{fault:?}"));
        eprintln!("{fault:?}: failed in {:.0}s", started.elapsed().as_secs_f64());
        assert!(said.contains(says), "{fault:?}: the error says {says:?}:\n{said}");
        assert!(!said.contains("retry: "), "{fault:?} is not retried:\n{said}");
        let injected = front.injected();
        // The request that failed the release was made once (`GET /v2/`, the ping, is made by each tool).
        let last = injected.last().unwrap_or_else(|| panic!("{fault:?} was never answered"));
        let key = last.split(" → ").next().unwrap().to_owned();
        assert_eq!(
            injected.iter().filter(|i| i.starts_with(&format!("{key} → "))).count(),
            1,
            "{fault:?}: {injected:?}"
        );
        untag_local(&front.host());
    }
    assert!(registry.tags("acme/ledger").iter().all(|t| t == "1.0.0" || t.starts_with("sha256-")));

    // The floating tags' every request stays at 503: the release stops after the budget.
    let front = FlakyFront::start(registry.port, 0, SEED);
    let floating =
        |path: &str| ["/manifests/1", "/manifests/1.0", "/manifests/latest"].iter().any(|t| path.ends_with(t));
    front.always(Rule { method: "*", path: floating, fault: Fault::Unavailable });
    let started = Instant::now();
    let said = failed(&release(&front), "503");
    eprintln!("503: failed in {:.0}s", started.elapsed().as_secs_f64());
    let last: Vec<&str> = said.lines().rev().take(8).collect();
    let last = last.join("\n");
    // A floating tag is read before it is moved (one already at the digest is left alone): the read
    // is what keeps failing.
    for part in ["GET /v2/acme/ledger/manifests/", &front.host(), "503 Service Unavailable", "attempts", "retry budget"]
    {
        assert!(last.contains(part), "the last lines name {part}:\n{last}");
    }
    assert!(said.contains("    retry: push-floating GET /v2/acme/ledger/manifests/"), "{said}");
    let tags: Vec<String> = registry.tags("acme/ledger").into_iter().filter(|t| !t.starts_with("sha256-")).collect();
    assert_eq!(tags, ["1.0.0"], "no floating tag moved");
    untag_local(&front.host());
}
