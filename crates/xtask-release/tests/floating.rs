//! Floating tags only move forward, whatever the checkout knows: on a real registry, a hotfix
//! released from a checkout that never fetched the newer release leaves `latest` and the major
//! line on it (each tag is read right before it would move), and two releases racing from two
//! checkouts — a stale hotfix and a newer minor — leave `latest` on the highest release.

use std::process::Command;

use xtask_testbed::releaser::*;
use xtask_testbed::*;

/// A second checkout of `r`'s workspace (its history and tags, no build output), for a release
/// made at the same time from elsewhere.
fn second_checkout(r: &Releaser, name: &str) -> RemovedOnDrop {
    let dir = std::env::temp_dir().join(format!("xtask-floating-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let status =
        Command::new("git").args(["clone", "--quiet", "--no-local"]).arg(&r.fixture.dir).arg(&dir).status().unwrap();
    assert!(status.success(), "git clone");
    RemovedOnDrop(dir)
}

fn release_in(r: &Releaser, dir: &std::path::Path) -> std::process::Output {
    let namespace = r.registry.namespace();
    xtask_env(dir, &["release", "--execute", "--registry", &namespace, "--image", "ledger"], &r.env)
}

#[test]
fn a_stale_hotfix_and_a_racing_release_never_move_latest_back() {
    let _engine = engine_lock();
    let r = Releaser::new("floating");
    r.release_version("1.0.0");
    let v110 = r.release_version("1.1.0");

    // A hotfix on the 1.0 line from a checkout that never fetched v1.1.0: its plan moves `latest`
    // and `1`, the registry says they serve 1.1.0, so they stay; `1.0` moves.
    r.fixture.git(&["checkout", "--quiet", "-b", "release-1.0", "v1.0.0"]);
    r.fixture.git(&["tag", "--delete", "v1.1.0"]);
    r.set_version("1.0.1");
    let plan = r.fixture.xtask(&["plan", "--image", "ledger"]);
    assert!(String::from_utf8_lossy(&plan.stdout).contains("/ledger:latest"), "the stale plan would move latest");
    let out = r.release();
    succeeded(&out, "the stale hotfix");
    assert!(stderr(&out).contains("ledger:latest: not moved, it serves 1.1.0, newer than 1.0.1"), "{}", stderr(&out));
    let v101 = r.record()["images"][0]["index_digest"].as_str().unwrap().to_owned();
    let tags = r.tags();
    assert_eq!((tags["latest"].as_str(), tags["1"].as_str()), (v110.as_str(), v110.as_str()), "{tags:?}");
    assert_eq!(tags["1.0"], v101, "the hotfix's own line moves");

    // Two releases at once: 1.0.2 from the stale maintenance checkout, 1.2.0 from another checkout of
    // main. Whichever moves `latest` last, it ends on 1.2.0.
    r.set_version("1.0.2");
    let main = second_checkout(&r, "main");
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).current_dir(&main.0).envs(ADOPTER_GIT_ENV).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["checkout", "--quiet", "main"]);
    let bump = xtask_env(&main.0, &["version", "set", "1.2.0", "--commit", "--tag"], &[]);
    succeeded(&bump, "version set 1.2.0 in the main checkout");
    let (hotfix, minor) = std::thread::scope(|scope| {
        let hotfix = scope.spawn(|| r.release());
        let minor = scope.spawn(|| release_in(&r, &main.0));
        (hotfix.join().unwrap(), minor.join().unwrap())
    });
    succeeded(&hotfix, "release 1.0.2 (racing)");
    succeeded(&minor, "release 1.2.0 (racing)");
    let record = read_json(&main.0.join("target/xtask/image-ledger/release-record.json"));
    let v120 = record["images"][0]["index_digest"].as_str().unwrap().to_owned();
    let tags = r.tags();
    assert_eq!((tags["latest"].as_str(), tags["1"].as_str()), (v120.as_str(), v120.as_str()), "{tags:?}");
    assert_eq!(tags["1.2"], v120);
    assert_eq!(tags["1.1"], v110, "another line's tag is left as it was");
    assert_ne!(tags["1.0"], v101, "the hotfix's own line moved to 1.0.2");
}
