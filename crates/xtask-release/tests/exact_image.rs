//! Exactly the scanned bytes are pushed and smoke-tested. The release pushes from the build archive
//! by digest and writes tags from that digest, and runs smoke tests by digest (`--pull never`), so
//! another image under the image's local name — put there right before each `docker run` and
//! `docker push` by a `docker` on PATH that re-tags, as a second build or a stray `docker tag` at
//! the wrong moment would — is never tested or pushed. And the commands that write an image's
//! local names or its files under `target/xtask` (build, scan, audit, release) take the workspace
//! lock: a second one refuses, naming the first.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use xtask_testbed::flaky_front::FlakyFront;
use xtask_testbed::releaser::succeeded;
use xtask_testbed::*;

fn fixture(name: &str) -> Fixture {
    let fixture = Fixture::ledger(name);
    fixture.one_platform_per_image();
    fixture.commit("one platform per image");
    let out = fixture.xtask(&["version", "set", "1.0.0", "--commit", "--tag"]);
    assert!(out.status.success(), "version set: {}", stderr(&out));
    fixture
}

/// The real docker's path.
fn real_docker() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("docker"))
        .find(|docker| docker.is_file())
        .expect("docker on PATH")
        .display()
        .to_string()
}

/// A `docker` that, before each of `commands` (`run|push`), keeps what each of `names` holds under a
/// side name (once) and then points the name at `decoy`.
fn write_retagging_docker(dir: &Path, commands: &str, names: &[String], decoy: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let docker = real_docker();
    let mut script = format!("#!/bin/sh\ncase \"$1\" in {commands})\n");
    for (i, name) in names.iter().enumerate() {
        let keep = format!("xtask-test-keep/{}-{i}:held", std::process::id());
        script.push_str(&format!(
            "  {docker} image inspect {keep} >/dev/null 2>&1 || {docker} tag {name} {keep} >/dev/null 2>&1\n  {docker} tag {decoy} {name} >/dev/null 2>&1\n"
        ));
    }
    script.push_str(&format!(";;\nesac\nexec {docker} \"$@\"\n"));
    let shim = dir.join("docker");
    std::fs::write(&shim, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Releases 1.0.0 to a fresh registry with the image's name re-tagged before each of `commands`;
/// checks that the release succeeds, smoke-tested, and that the registry's 1.0.0 is the build.
fn release_while_retagging(fixture: &Fixture, commands: &str) {
    let registry = Registry::start();
    let front = FlakyFront::start(registry.port, 0, 11);
    let namespace = format!("{}/acme", front.host());
    let name = format!("{namespace}/ledger:1.0.0");
    let shims = fixture.dir.join("target/shims");
    write_retagging_docker(&shims, commands, std::slice::from_ref(&name), "debian:trixie-slim");
    let mut env = signing_env(&fixture.dir);
    env.push(("PATH".into(), format!("{}:{}", shims.display(), std::env::var("PATH").unwrap_or_default())));
    let args = ["release", "--execute", "--registry", &namespace, "--image", "ledger"];
    let out = xtask_env(&fixture.dir, &args, &env);
    succeeded(&out, &format!("the release while its image's name is re-tagged before each `docker {commands}`"));
    let record = read_json(&fixture.dir.join("target/xtask/image-ledger/release-record.json"));
    let built = record["images"][0]["index_digest"].as_str().unwrap().to_owned();
    let accept = format!("{INDEX_MEDIA_TYPES}, application/vnd.oci.image.manifest.v1+json");
    let pushed = http_get(registry.port, "/v2/acme/ledger/manifests/1.0.0", &[("Accept", &accept)]).unwrap();
    assert_eq!(pushed.header("Docker-Content-Digest"), Some(built.as_str()), "{commands}: 1.0.0 is the build");
    assert!(stderr(&out).contains("ledger on linux/"), "{commands}: the smoke test ran");
    untag_local(&front.host());
    let keep = format!("xtask-test-keep/{}-0:held", std::process::id());
    let _ = Command::new("docker").args(["image", "rm", &keep]).output();
}

#[test]
fn a_different_image_under_the_same_name_is_never_tested_or_pushed() {
    let _engine = engine_lock();
    let fixture = fixture("exact-image");
    // Re-tagged only before a push: what is pushed is still the build.
    release_while_retagging(&fixture, "push");
    // Re-tagged before every run too: what is smoke-tested is the build (by digest, never pulled).
    release_while_retagging(&fixture, "run|push");
}

/// The lock file of image `ledger`, once it names a holder.
fn wait_for_holder(lock: &Path, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let holder = std::fs::read_to_string(lock).unwrap_or_default();
        if !holder.trim().is_empty() {
            return holder;
        }
        assert!(Instant::now() < deadline, "nothing took {} in time", lock.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn refused_by(out: &Output, holder: &str) {
    let said = stderr(out);
    assert!(!out.status.success(), "a second command on the image must refuse:\n{said}");
    let (command, pid) = holder.trim().split_once(' ').unwrap();
    let expected = format!("another `cargo xtask {command}` of image ledger is running in this workspace");
    assert!(said.contains(&expected) && said.contains(&format!("process {pid}")), "names the holder:\n{said}");
}

#[test]
fn commands_that_write_an_images_files_take_the_workspace_lock() {
    let _engine = engine_lock();
    let fixture = fixture("workspace-lock");
    let lock = fixture.dir.join("target/xtask/locks/ledger.lock");
    let _ = std::fs::remove_file(&lock);
    // A namespace of this test's own: the images it loads are named under it.
    let namespace = format!("127.0.0.1:9/lock-{}", std::process::id());
    let build = ["build", "--image", "ledger", "--registry", &namespace];
    let scan = ["scan", "--image", "ledger", "--registry", &namespace];
    let first = Command::new(xtask_binary())
        .args(build)
        .current_dir(&fixture.dir)
        .envs(testbed_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let holder = wait_for_holder(&lock, Duration::from_secs(60));
    assert!(holder.starts_with(&format!("build {}", first.id())), "the build holds the lock: {holder:?}");
    for args in [&build[..], &scan[..]] {
        refused_by(&xtask(&fixture.dir, args), &holder);
    }
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "the first build: {}", stderr(&out));
    succeeded(&xtask(&fixture.dir, &scan), "a scan once the build has finished");
    untag_local(&namespace);
}
