//! Registries that lie about absence, through a front (`xtask_testbed::flaky_front`) before a real
//! `registry:2`: a proxy's 404 page, a 403 whose error code is `NOT_FOUND`, and a credential
//! helper the docker config names but that is not installed. Only a 404 with `MANIFEST_UNKNOWN` or
//! `NAME_UNKNOWN` means a tag is absent: each lie stops the release before anything is written (an
//! immutable version is never overwritten), stops a retraction instead of leaving `latest` on the
//! withdrawn version as "unchanged", and fails an audit instead of skipping a floating tag.

use std::process::Output;

use xtask_testbed::flaky_front::*;
use xtask_testbed::releaser::succeeded;
use xtask_testbed::*;

const SEED: u64 = 7;

/// The digest `acme/ledger:tag` points at, read from the registry itself (not through a front).
fn digest(registry: &Registry, tag: &str) -> Option<String> {
    registry.digest("acme/ledger", tag)
}

fn fixture(name: &str) -> Fixture {
    let fixture = Fixture::ledger(name);
    fixture.one_platform_per_image();
    fixture.commit("one platform per image");
    set_version(&fixture, "1.0.0");
    fixture
}

fn set_version(fixture: &Fixture, version: &str) {
    let out = fixture.xtask(&["version", "set", version, "--commit", "--tag"]);
    assert!(out.status.success(), "version set {version}: {}", stderr(&out));
}

/// A front that answers `GET …/manifests/<tag>` with `fault`, every time.
fn lying_about(registry: &Registry, tag: &'static str, fault: Fault) -> FlakyFront {
    let front = FlakyFront::start(registry.port, 0, SEED);
    let path: fn(&str) -> bool = match tag {
        "1.0.0" => |p| p.ends_with("/manifests/1.0.0"),
        "latest" => |p| p.ends_with("/manifests/latest"),
        _ => unreachable!("{tag}"),
    };
    front.always(Rule { method: "GET", path, fault });
    front
}

/// Runs `cargo xtask ARGS… --registry <front>/acme --image ledger`, signing with `signing`.
fn through(fixture: &Fixture, front: &FlakyFront, args: &[&str], env: &[(String, String)]) -> Output {
    let namespace = format!("{}/acme", front.host());
    let args: Vec<&str> = args.iter().copied().chain(["--registry", &namespace, "--image", "ledger"]).collect();
    xtask_env(&fixture.dir, &args, env)
}

/// What went wrong, collected so that one run names every failure.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.0.push(problem());
        }
    }

    /// The command must have stopped, its error naming each of `says`.
    fn stopped(&mut self, out: &Output, what: &str, says: &[&str]) {
        let said = stderr(out);
        let missing: Vec<&&str> = says.iter().filter(|s| !said.contains(**s)).collect();
        self.check(!out.status.success() && missing.is_empty(), || {
            format!("{what}: should have stopped naming {missing:?} (exit {}):\n{said}", out.status)
        });
    }

    fn wrote_nothing(&mut self, front: &FlakyFront, what: &str) {
        let writes: Vec<String> = front
            .requests()
            .into_iter()
            .filter(|r| ["PUT ", "POST ", "PATCH ", "DELETE "].iter().any(|m| r.starts_with(m)))
            .collect();
        self.check(writes.is_empty(), || format!("{what}: nothing may be written, but: {writes:?}"));
    }

    fn assert_none(self) {
        assert!(self.0.is_empty(), "{}", self.0.join("\n\n"));
    }
}

const PAGE_404: &str = "404 Not Found, an HTML page (\"404 page not found\")";
const FORBIDDEN_NOT_FOUND: &str = "403 Forbidden, NOT_FOUND: artifact not found";

#[test]
fn a_registry_lying_about_absence_stops_the_release_before_it_overwrites_a_version() {
    let _engine = engine_lock();
    let fixture = fixture("lying-release");
    let signing = signing_env(&fixture.dir);
    let registry = Registry::start();
    let calm = FlakyFront::start(registry.port, 0, SEED);
    succeeded(&through(&fixture, &calm, &["release", "--execute"], &signing), "release 1.0.0");
    let released = digest(&registry, "1.0.0").expect("1.0.0 released");

    // A second build of the same version: the registry's answer about 1.0.0 decides everything.
    fixture.edit("crates/ledger/src/http.rs", "ok\\n", "ok!\\n");
    fixture.commit("change the service without a new version");
    let mut hosts = vec![calm.host()];
    let mut problems = Problems::default();
    let unchanged = |problems: &mut Problems, what: &str| {
        let now = digest(&registry, "1.0.0");
        problems.check(now.as_deref() == Some(released.as_str()), || {
            format!("{what}: 1.0.0 is immutable, but it was {released} and is now {now:?}")
        });
    };
    for (fault, says) in [(Fault::NotFoundPage, PAGE_404), (Fault::ForbiddenNotFound, FORBIDDEN_NOT_FOUND)] {
        let front = lying_about(&registry, "1.0.0", fault);
        let out = through(&fixture, &front, &["release", "--execute"], &signing);
        let what = format!("{fault:?}");
        unchanged(&mut problems, &what);
        problems.stopped(&out, &what, &[says, "GET /v2/acme/ledger/manifests/1.0.0"]);
        problems.wrote_nothing(&front, &what);
        hosts.push(front.host());
    }

    // A registry that wants credentials, and a docker config naming a helper that is not installed.
    let front = FlakyFront::start(registry.port, 0, SEED);
    front.require_credentials();
    let config = fixture.dir.join("target/docker-config-missing-helper");
    std::fs::create_dir_all(&config).unwrap();
    let helpers = serde_json::json!({ "credHelpers": { front.host(): "xtask-missing" } });
    std::fs::write(config.join("config.json"), helpers.to_string()).unwrap();
    let mut env = signing.clone();
    env.push(("DOCKER_CONFIG".into(), config.display().to_string()));
    let out = through(&fixture, &front, &["release", "--execute"], &env);
    let what = "a missing credential helper";
    unchanged(&mut problems, what);
    problems.stopped(&out, what, &["docker-credential-xtask-missing", "not installed"]);
    problems.wrote_nothing(&front, what);
    hosts.push(front.host());
    for host in hosts {
        untag_local(&host);
    }
    problems.assert_none();
}

#[test]
fn a_retraction_and_an_audit_through_a_lying_registry_stop_instead_of_skipping_a_tag() {
    let _engine = engine_lock();
    let fixture = fixture("lying-retract");
    let signing = signing_env(&fixture.dir);
    let registry = Registry::start();
    let calm = FlakyFront::start(registry.port, 0, SEED);
    succeeded(&through(&fixture, &calm, &["release", "--execute"], &signing), "release 1.0.0");
    let key = fixture.dir.join("target/release-key.pub");
    std::fs::copy(fixture.dir.join("target/xtask/image-ledger/cosign.pub"), &key).unwrap();
    set_version(&fixture, "1.0.1");
    succeeded(&through(&fixture, &calm, &["release", "--execute"], &signing), "release 1.0.1");
    let withdrawn = digest(&registry, "1.0.1").expect("1.0.1 released");
    assert_eq!(digest(&registry, "latest").as_deref(), Some(withdrawn.as_str()));
    let floating = |tag| digest(&registry, tag);
    let before = (floating("latest"), floating("1"), floating("1.0"));

    let mut problems = Problems::default();

    // The audit reads every live tag: one it cannot read is an error, never a tag skipped.
    let front = lying_about(&registry, "latest", Fault::NotFoundPage);
    let audit = ["audit", "--public-key", key.to_str().unwrap()];
    problems.stopped(&through(&fixture, &front, &audit, &signing), "the audit", &[PAGE_404, "ledger:latest"]);

    // The retraction reads where each floating tag is before it moves any.
    let front = lying_about(&registry, "latest", Fault::ForbiddenNotFound);
    let retract = ["release", "retract", "1.0.1", "--reason", "a lying registry", "--execute"];
    let out = through(&fixture, &front, &retract, &signing);
    let now = (floating("latest"), floating("1"), floating("1.0"));
    problems.check(now == before, || format!("the retraction moved floating tags: {before:?} → {now:?}"));
    problems.stopped(&out, "the retraction", &[FORBIDDEN_NOT_FOUND, "GET /v2/acme/ledger/manifests/latest"]);
    problems.wrote_nothing(&front, "the retraction");
    untag_local(&calm.host());
    problems.assert_none();
}
