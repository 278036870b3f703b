//! Preflight catches every configuration problem before anything is built: `.trivyignore` entries
//! that are undated, malformed or expired, a Dockerfile that does not exist or speaks another build
//! contract than the engine's, a target stage it does
//! not define, an unknown `--builder`, a signing key that does not open, no usable vulnerability DB
//! and a stale one. Each fails `cargo xtask release --execute` in seconds, naming the file and line
//! or the setting, while no `docker buildx build` of the workspace starts and the registry stays
//! empty. buildx's Dockerfile checks fail on a secret in ENV, every time, and a pass is reused
//! while the Dockerfile and what judges it stay the same. The plan a release prints marks a scan
//! override as one. `cargo xtask build` runs the same
//! configuration checks before any buildx, and both refuse a Rust requirement no builder meets and a
//! toolchain channel no builder has (`nightly`), naming the file, the key and the builders. Signing
//! with the transparency log on (`tlog-upload = true`) needs Rekor and TUF to answer before anything
//! is built or pushed.

use std::process::Output;

use xtask_testbed::*;

struct Case {
    fixture: Fixture,
    mirror: DbMirror,
    env: Vec<(String, String)>,
}

impl Case {
    /// `release --execute` with `args`, asserting it failed in preflight before any build.
    fn fails_in_preflight(&self, args: &[&str], env: &[(String, String)], needles: &[&str]) {
        let namespace = format!("{}/acme", self.mirror.registry.host());
        let mut argv = vec!["release", "--execute", "--registry", &namespace];
        argv.extend_from_slice(args);
        let fixture = self.fixture.dir.display().to_string();
        let watch = Watch::start(&["buildx", "build", &fixture]);
        let started = std::time::Instant::now();
        let out: Output = xtask_env(&self.fixture.dir, &argv, &[self.env.as_slice(), env].concat());
        let (took, builds) = (started.elapsed(), builds(watch.finish()));
        let err = stderr(&out);
        assert!(!out.status.success(), "{argv:?} must fail:\n{err}");
        assert!(err.contains("<== preflight FAILED"), "it must fail in preflight:\n{err}");
        assert!(builds.is_empty(), "no build may start: {builds:?}");
        assert!(!err.contains("==> build") && !self.fixture.dir.join("target/xtask/build-record.json").exists());
        for needle in needles {
            assert!(err.contains(needle), "the error should say {needle:?}:\n{err}");
        }
        assert!(took.as_secs() < 60, "preflight took {took:?}");
        assert!(self.mirror.registry.catalog().iter().all(|r| !r.starts_with("acme/")), "nothing may be pushed");
    }

    fn change(&self, path: &str, from: &str, to: &str) {
        self.fixture.edit(path, from, to);
        self.fixture.commit(&format!("{path}: {to}"));
    }
}

#[test]
fn configuration_problems_fail_in_preflight_before_anything_is_built() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("preflight");
    fixture.eject_dockerfile();
    fixture.retry_once();
    let mirror = DbMirror::start();
    let env = signing_env(&fixture.dir);
    let case = Case { fixture, mirror, env };
    let none: &[(String, String)] = &[];

    // Every bad .trivyignore line at once, each named with its line and the fix.
    case.fixture.write(
        ".trivyignore",
        "# exceptions\nXTASK-0001\nXTASK-0002 exp:2020-01-01\nXTASK-0003 exp:31-12-2099\nXTASK-0004 exp:2099-12-31\n",
    );
    case.fails_in_preflight(
        &[],
        none,
        &[
            "the configuration has 3 problem(s), found before building anything",
            ".trivyignore:2: XTASK-0001 has no exp:YYYY-MM-DD date: accept it until a date with `XTASK-0001 exp:YYYY-MM-DD`",
            ".trivyignore:3: XTASK-0002 expired on 2020-01-01",
            ".trivyignore:4: XTASK-0003 has exp:31-12-2099, which is not a YYYY-MM-DD date",
        ],
    );
    std::fs::remove_file(case.fixture.dir.join(".trivyignore")).unwrap();

    case.change("Cargo.toml", "dockerfile = \"docker/Dockerfile\"", "dockerfile = \"docker/Dockerfle\"");
    case.fails_in_preflight(
        &[],
        none,
        &["workspace.metadata.xtask.images.ledger.dockerfile: cannot read docker/Dockerfle", "fix the path"],
    );
    case.change("Cargo.toml", "dockerfile = \"docker/Dockerfle\"", "dockerfile = \"docker/Dockerfile\"");

    case.change("Cargo.toml", "target = \"service\"", "target = \"servce\"");
    case.fails_in_preflight(
        &[],
        none,
        &[
            "workspace.metadata.xtask.images.ledger.target: docker/Dockerfile defines no stage \"servce\"",
            "(it has stages toolchain-debian, toolchain-rustup, toolchain, toolchain-target, recipe, source, \
             vendor-online, vendor, deps, build, runtime-files, runtime-static, runtime-dynamic, runtime, service)",
        ],
    );
    case.change("Cargo.toml", "target = \"servce\"", "target = \"service\"");

    case.fails_in_preflight(
        &["--builder", "no-such-builder"],
        none,
        &["--builder no-such-builder: buildx has no builder of that name", "docker buildx ls"],
    );

    let wrong = [("COSIGN_PASSWORD".to_owned(), "not-the-key-pass".to_owned())];
    case.fails_in_preflight(
        &[],
        &wrong,
        &["cosign could not open COSIGN_PRIVATE_KEY: check the key and COSIGN_PASSWORD"],
    );

    let down = format!("127.0.0.1:{}/trivy-db:2", free_port());
    case.fails_in_preflight(
        &["--db-repository", &down],
        none,
        &["no usable vulnerability DB, so the scan fails closed"],
    );

    let stale = case.mirror.push(
        "stale",
        &advisory("XTASK-2099-0200", "no-such-crate", ">=0.0.0", Some("1.0.0"), "LOW"),
        "72h",
    );
    case.fails_in_preflight(&["--db-repository", &stale], none, &["was updated 3days", "max-db-age = 2days"]);

    // buildx's Dockerfile checks (buildx 0.15 and newer): a pass is reused while the Dockerfile,
    // its target and args, buildx, the engine and the builder are the same; a secret in ENV fails
    // preflight, and that failure is never reused.
    let namespace = format!("{}/acme", case.mirror.registry.host());
    let dry_run = || {
        let out = xtask_env(&case.fixture.dir, &["release", "--registry", &namespace], &case.env);
        assert!(out.status.success(), "the dry run: {}", stderr(&out));
        stderr(&out)
    };
    let first = dry_run();
    if first.contains("has no `--call check`") {
        assert!(first.contains("Dockerfile build checks: not run (buildx 0.1"), "{first}");
    } else {
        let again = dry_run();
        assert!(
            again.contains("ledger: the Dockerfile's build checks passed at ") && again.contains(", reused"),
            "{again}"
        );
        let dockerfile = std::fs::read_to_string(case.fixture.dir.join("docker/Dockerfile")).unwrap();
        case.fixture.write("docker/Dockerfile", &format!("{dockerfile}\nENV API_TOKEN=not-a-real-one\n"));
        case.fixture.commit("a secret in ENV");
        for _ in 0..2 {
            case.fails_in_preflight(
                &[],
                none,
                &["build check FAIL: ledger: docker/Dockerfile:", "SecretsUsedInArgOrEnv (HIGH)"],
            );
        }
        case.fixture.write("docker/Dockerfile", &dockerfile);
        case.fixture.commit("no secret");
        let back = dry_run();
        assert!(
            back.contains("ledger: the Dockerfile's build checks passed at ") && back.contains(", reused"),
            "the same Dockerfile as before: {back}"
        );
    }

    // The plan printed (and run) is the effective policy, an override marked as one.
    let out = xtask_env(
        &case.fixture.dir,
        &["release", "--registry", &namespace, "--scanners", "secret,misconfig"],
        &case.env,
    );
    assert!(out.status.success(), "the dry run: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("scanners secret, misconfig (override: --scanners; configured vuln, secret, misconfig)"),
        "{err}"
    );
    assert!(err.contains("no vulnerability DB (no vuln scanner)"), "{err}");
    let out = case.fixture.xtask(&["plan", "--json", "--scanners", "secret,misconfig"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan --json");
    assert_eq!(plan["scan"]["scanners"], serde_json::json!(["secret", "misconfig"]));
    assert_eq!(plan["scan_overrides"][0]["by"], "--scanners");
    assert_eq!(plan["scan"]["db-repositories"], serde_json::json!([testbed_db()]));
    assert_eq!(plan["scan_overrides"][1]["by"], "XTASK_TRIVY_DB_REPOSITORY");
}

/// `cargo xtask build` with `args` in the fixture, asserting it failed in its preflight, before any
/// `docker buildx build`, saying each of `needles`.
fn build_fails_in_preflight(fixture: &Fixture, needles: &[&str]) {
    let dir = fixture.dir.display().to_string();
    let watch = Watch::start(&["buildx", "build", &dir]);
    let out = xtask(&fixture.dir, &["build"]);
    let (builds, err) = (builds(watch.finish()), stderr(&out));
    assert!(!out.status.success(), "build must fail:\n{err}");
    assert!(err.contains("<== preflight FAILED") && !err.contains("==> build"), "it must fail in preflight:\n{err}");
    assert!(builds.is_empty(), "no build may start: {builds:?}");
    for needle in needles {
        assert!(err.contains(needle), "the error should say {needle:?}:\n{err}");
    }
}

#[test]
fn build_checks_the_configuration_and_the_toolchain_before_anything_is_built() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("toolchain-preflight");
    fixture.eject_dockerfile();
    let mirror = DbMirror::start();
    let case = Case { env: signing_env(&fixture.dir), fixture, mirror };

    // A Dockerfile that does not exist: named with its key, not as buildx's "open Nope".
    case.change("Cargo.toml", "dockerfile = \"docker/Dockerfile\"", "dockerfile = \"docker/Nope\"");
    build_fails_in_preflight(
        &case.fixture,
        &["workspace.metadata.xtask.images.ledger.dockerfile: cannot read docker/Nope", "fix the path"],
    );
    case.change("Cargo.toml", "dockerfile = \"docker/Nope\"", "dockerfile = \"docker/Dockerfile\"");

    // An ejected Dockerfile of a build contract this engine no longer speaks: both versions, the fix.
    case.change("docker/Dockerfile", "# xtask-release build contract 2", "# xtask-release build contract 0");
    let contract = [
        "workspace.metadata.xtask.images.ledger.dockerfile: docker/Dockerfile was written for build contract 0",
        "speaks contract 2",
        "cargo xtask init --eject-dockerfile --force",
    ];
    build_fails_in_preflight(&case.fixture, &contract);
    case.fails_in_preflight(&[], &[], &contract);
    case.change("docker/Dockerfile", "# xtask-release build contract 0", "# xtask-release build contract 2");

    // A rust-version beyond every builder: refused by build and release alike.
    case.change("crates/ledger/Cargo.toml", "rust-version.workspace = true", "rust-version = \"1.99\"");
    let refusal = [
        "workspace.metadata.xtask.images.ledger: requires Rust 1.99",
        "crates/ledger/Cargo.toml package.rust-version = \"1.99\"",
        "Debian trixie has rustc 1.85.1, Debian forky has rustc 1.97.1",
    ];
    build_fails_in_preflight(&case.fixture, &refusal);
    case.fails_in_preflight(&[], &[], &refusal);
    let out = case.fixture.xtask(&["plan"]);
    assert!(out.status.success(), "the plan shows the problem, preflight refuses it: {}", stderr(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("PROBLEM: workspace.metadata.xtask.images.ledger: requires Rust 1.99"), "{plan}");
    case.change("crates/ledger/Cargo.toml", "rust-version = \"1.99\"", "rust-version.workspace = true");

    // A toolchain file: a version counts, `stable` means the newest builder, `nightly` is refused.
    case.fixture.write("rust-toolchain.toml", "[toolchain]\nchannel = \"1.88\"\n");
    case.fixture.commit("rust-toolchain.toml: 1.88");
    let builder = |fixture: &Fixture| {
        let out = fixture.xtask(&["plan", "--json", "--image", "ledger"]);
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan --json");
        plan["images"][0]["builder"].clone()
    };
    let chosen = builder(&case.fixture);
    assert_eq!(chosen["image"], "debian:forky-slim", "{chosen}");
    assert_eq!(chosen["because"], "rust-toolchain.toml toolchain.channel = \"1.88\"");
    case.change("rust-toolchain.toml", "1.88", "stable");
    let chosen = builder(&case.fixture);
    assert_eq!(chosen["image"], "debian:forky-slim", "{chosen}");
    assert!(chosen["because"].as_str().unwrap().contains("the newest builder"), "{chosen}");
    case.change("rust-toolchain.toml", "stable", "nightly");
    build_fails_in_preflight(
        &case.fixture,
        &[
            "rust-toolchain.toml toolchain.channel = \"nightly\"",
            "no builder ships a nightly or beta Rust",
            "channel = \"1.88\"",
        ],
    );
}

/// Serves `files` (path → contents) over HTTP on 127.0.0.1 until dropped: a Sigstore service that
/// answers, on this machine.
struct Served(std::process::Child, u16);

impl Served {
    fn start(dir: &std::path::Path, files: &[&str]) -> Served {
        for file in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}").unwrap();
        }
        let port = free_port();
        let child = std::process::Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 serves the files");
        let up = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "the local HTTP server did not start");
        Served(child, port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn signing_with_the_transparency_log_needs_rekor_and_tuf_before_anything_is_built() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("tlog-preflight");
    let mirror = DbMirror::start();
    let case = Case { env: signing_env(&fixture.dir), fixture, mirror };
    case.change(
        "Cargo.toml",
        "[workspace.metadata.xtask.signing]\n",
        "[workspace.metadata.xtask.signing]\ntlog-upload = true\n",
    );

    // Key signing with the log on, and neither service answering (closed ports on this machine,
    // where preflight is told to look): refused before any build, naming both URLs and the fix.
    let (rekor, tuf) = (format!("http://127.0.0.1:{}", free_port()), format!("http://127.0.0.1:{}", free_port()));
    let down = [("XTASK_REKOR_URL".to_owned(), rekor.clone()), ("XTASK_TUF_URL".to_owned(), tuf.clone())];
    case.fails_in_preflight(
        &[],
        &down,
        &[
            "workspace.metadata.xtask.signing.tlog-upload is true, so signing will need the transparency log and TUF",
            "2 of them did not answer (checked before anything is built or pushed)",
            &format!("the transparency log (Rekor) at {rekor}/api/v1/log: curl: (7)"),
            &format!("the Sigstore TUF repository at {tuf}/timestamp.json: curl: (7)"),
            "set tlog-upload = false under [workspace.metadata.xtask.signing] in the root Cargo.toml",
        ],
    );

    // Both answering: preflight says so (a dry run: nothing is built or signed).
    let root = case.fixture.dir.join("target/sigstore");
    let served = Served::start(&root, &["api/v1/log", "timestamp.json"]);
    let up = format!("http://127.0.0.1:{}", served.1);
    let env = [case.env.clone(), vec![("XTASK_REKOR_URL".into(), up.clone()), ("XTASK_TUF_URL".into(), up)]].concat();
    let namespace = format!("{}/acme", case.mirror.registry.host());
    let out = xtask_env(&case.fixture.dir, &["release", "--registry", &namespace], &env);
    assert!(out.status.success(), "both services answer: {}", stderr(&out));
    assert!(stderr(&out).contains("transparency log and TUF: reachable"), "{}", stderr(&out));
}
