//! The vulnerability gate end to end, on the real engine, registry and trivy, against DBs built from
//! advisories this test writes for the locked `libc`: a HIGH advisory stops the release at scan,
//! naming it (ID, crate, both versions, platforms) with nothing pushed or signed; accepted in
//! `.trivyignore` until a future date it lets the release through, recorded as accepted with its
//! date and the DB it was judged by; a past date fails preflight naming the line. A MEDIUM advisory
//! passes the default policy listed, and fails with MEDIUM in `severities`; an advisory without a
//! fixed version is ignored with `ignore-unfixed = true` and blocks with `false`. The configured
//! `db-repositories` are tried in order. A passed scan is reused while nothing it rests on changes;
//! a changed policy or a newer DB scans again, and a failure is never reused. One build serves every
//! assertion. A binary built with plain `cargo build` (no cargo-auditable data for trivy to read)
//! stops the release at scan, before anything is pushed, however clean it looks.

use xtask_testbed::*;

/// The locked libc (Cargo.lock), as the cargo-auditable binary in the image reports it.
fn locked_libc(fixture: &Fixture) -> String {
    let lock = std::fs::read_to_string(fixture.dir.join("Cargo.lock")).unwrap();
    let at =
        lock.find("name = \"libc\"\nversion = \"").expect("libc is locked") + "name = \"libc\"\nversion = \"".len();
    lock[at..].split('"').next().unwrap().to_owned()
}

#[test]
fn libc_advisories_block_or_pass_a_release_as_the_policy_says() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("vulngate");
    fixture.retry_once();
    let libc = locked_libc(&fixture);
    let mirror = DbMirror::start();
    let images = Registry::start();
    let advisories = [
        advisory("XTASK-2099-0001", "libc", ">=0.2.0, <0.2.999", Some("0.2.999"), "HIGH"),
        advisory("XTASK-2099-0002", "libc", ">=0.2.0, <0.2.998", Some("0.2.998"), "MEDIUM"),
        advisory("XTASK-2099-0003", "libc", ">=0.2.0", None, "HIGH"),
    ]
    .concat();
    let db = mirror.push("libc", &advisories, "0");
    let mut env = signing_env(&fixture.dir);
    env.push(("XTASK_TRIVY_DB_REPOSITORY".into(), db.clone()));
    let namespace = format!("{}/acme", images.host());
    let release =
        || xtask_env(&fixture.dir, &["release", "--execute", "--registry", &namespace, "--image", "ledger"], &env);

    // HIGH on the locked libc: the release stops at scan, nothing is pushed or signed.
    let out = release();
    let err = stderr(&out);
    assert!(!out.status.success(), "a HIGH advisory must stop the release");
    assert!(err.contains("<== scan FAILED") && !err.contains("==> push-versioned"), "{err}");
    let named =
        format!("XTASK-2099-0001 (HIGH) vulnerability in libc {libc}, fixed in 0.2.999, on linux/amd64, linux/arm64");
    assert!(err.contains(&named), "the gate names ID, crate, versions and platforms:\n{err}");
    assert!(!err.contains("XTASK-2099-0003"), "no fixed version: ignored by default (ignore-unfixed = true)");
    assert!(images.catalog().is_empty(), "the catalog must stay empty: {:?}", images.catalog());

    // Accepted until a future date: the release completes, the record says so and by which DB.
    fixture.write(".trivyignore", "# accepted for the test\nXTASK-2099-0001 exp:2099-12-31\n");
    let out = release();
    assert!(out.status.success(), "with the advisory accepted:\n{}", stderr(&out));
    let record = read_json(&fixture.dir.join("target/xtask/image-ledger/release-record.json"));
    let scan = &record["images"][0]["scan"];
    let accepted = &scan["accepted"][0];
    assert_eq!((accepted["id"].as_str(), accepted["until"].as_str()), (Some("XTASK-2099-0001"), Some("2099-12-31")));
    assert_eq!((accepted["package"].as_str(), accepted["line"].as_u64()), (Some("libc"), Some(2)));
    let medium = &scan["findings"][0];
    assert_eq!((medium["id"].as_str(), medium["severity"].as_str()), (Some("XTASK-2099-0002"), Some("MEDIUM")));
    assert_eq!((medium["installed"].as_str(), medium["fixed"].as_str()), (Some(libc.as_str()), Some("0.2.998")));
    assert_eq!(medium["platforms"], serde_json::json!(["linux/amd64", "linux/arm64"]));
    assert_eq!((medium["blocking"].as_bool(), scan["passed"].as_bool()), (Some(false), Some(true)));
    assert_eq!(record["scan"]["db"]["repository"], db.as_str());
    assert!(record["scan"]["db"]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(record["scan"]["db"]["updated_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(record["scan"]["policy"]["scanners"], serde_json::json!(["vuln", "secret", "misconfig"]));
    let err = stderr(&out);
    assert!(err.contains("accepted until 2099-12-31 (.trivyignore:2)"), "{err}");
    assert!(signature_tags_present(&images.tags("acme/ledger")), "signed");

    // Past its date: preflight fails, naming the line; nothing is built.
    fixture.write(".trivyignore", "XTASK-2099-0001 exp:2020-01-01\n");
    let out = release();
    assert!(!out.status.success());
    assert!(stderr(&out).contains(".trivyignore:1: XTASK-2099-0001 expired on 2020-01-01"), "{}", stderr(&out));
    assert!(stderr(&out).contains("<== preflight FAILED") && !stderr(&out).contains("==> build"));

    // The policy, on the same build (`scan`; the configuration edited, not committed).
    fixture.write(".trivyignore", "XTASK-2099-0001 exp:2099-12-31\n");
    let scan = |edit: Option<(&str, &str)>, env: &[(String, String)]| {
        let original = std::fs::read_to_string(fixture.dir.join("Cargo.toml")).unwrap();
        if let Some((from, to)) = edit {
            fixture.edit("Cargo.toml", from, to);
        }
        let out = xtask_env(&fixture.dir, &["scan", "--image", "ledger"], env);
        fixture.write("Cargo.toml", &original);
        out
    };
    let db_env = [("XTASK_TRIVY_DB_REPOSITORY".to_owned(), db.clone())];
    let out = scan(None, &db_env);
    assert!(out.status.success() && stderr(&out).contains("XTASK-2099-0002"), "MEDIUM is listed, not blocking");
    // Nothing changed: the passed scan is reused, its findings listed as before.
    let out = scan(None, &db_env);
    let err = stderr(&out);
    assert!(
        out.status.success() && err.contains("ledger: scan passed at ") && err.contains("XTASK-2099-0002"),
        "{err}"
    );
    // A changed policy scans again (the reused pass would have let MEDIUM through).
    let out = scan(
        Some(("severities = [\"HIGH\", \"CRITICAL\"]", "severities = [\"MEDIUM\", \"HIGH\", \"CRITICAL\"]")),
        &db_env,
    );
    assert!(!stderr(&out).contains("scan passed at "), "a changed policy is not a reuse: {}", stderr(&out));
    assert!(!out.status.success(), "MEDIUM in severities must block");
    assert!(stderr(&out).contains("XTASK-2099-0002 (MEDIUM) vulnerability in libc"), "{}", stderr(&out));
    let out = scan(Some(("ignore-unfixed = true", "ignore-unfixed = false")), &db_env);
    assert!(!out.status.success(), "an unfixed HIGH must block with ignore-unfixed = false");
    assert!(stderr(&out).contains("XTASK-2099-0003 (HIGH) vulnerability in libc"), "{}", stderr(&out));
    assert!(stderr(&out).contains("no fixed version"), "{}", stderr(&out));

    // The configured sources, tried in order: the first down, the second serves the DB.
    let down = format!("127.0.0.1:{}/trivy-db:2", free_port());
    let sources = format!("db-repositories = [\"{down}\", \"{db}\"]\nignorefile = \".trivyignore\"");
    let unset = [("XTASK_TRIVY_DB_REPOSITORY".to_owned(), String::new())];
    let out = scan(Some(("ignorefile = \".trivyignore\"", &sources)), &unset);
    assert!(out.status.success(), "the second configured source serves: {}", stderr(&out));
    assert!(stderr(&out).contains(&format!("no usable vulnerability DB from {down}")), "{}", stderr(&out));
    let summary = read_json(&fixture.dir.join("target/xtask/image-ledger/scan-summary.json"));
    assert_eq!(
        (summary["db"]["repository"].as_str(), summary["overrides"].as_array().map(Vec::len)),
        (Some(db.as_str()), Some(0))
    );

    // A newer DB at the same source (a new digest) scans again, and finds the new advisory; its
    // failure is recorded but never reused as a pass: the next run scans, and fails, again.
    let newer =
        [advisories.as_str(), &advisory("XTASK-2099-0004", "libc", ">=0.2.0", Some("0.2.999"), "CRITICAL")].concat();
    assert_eq!(mirror.push("libc", &newer, "0"), db);
    for run in ["the newer DB", "the newer DB again"] {
        let out = scan(None, &db_env);
        let err = stderr(&out);
        assert!(!out.status.success() && !err.contains("scan passed at "), "{run} scans again:\n{err}");
        assert!(err.contains("XTASK-2099-0004 (CRITICAL) vulnerability in libc"), "{run}:\n{err}");
    }
}

/// The blind scan: a team's own copy of the engine's Dockerfile building with plain `cargo build`, as
/// most Dockerfiles do, under a DB with a HIGH advisory on the libc the service links. trivy sees no
/// crate in that binary, so it finds nothing; the gate must not read that as clean.
#[test]
fn a_binary_without_cargo_auditable_data_stops_the_release_before_anything_is_pushed() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("blindscan");
    fixture.eject_dockerfile();
    fixture.edit_all("docker/Dockerfile", "cargo auditable build", "cargo build");
    fixture.one_platform_per_image();
    fixture.commit("build with plain cargo build");
    let libc = locked_libc(&fixture);
    let mirror = DbMirror::start();
    let images = Registry::start();
    let db =
        mirror.push("libc", &advisory("XTASK-2099-0005", "libc", ">=0.2.0, <0.2.999", Some("0.2.999"), "HIGH"), "0");
    let mut env = signing_env(&fixture.dir);
    env.push(("XTASK_TRIVY_DB_REPOSITORY".into(), db));
    let namespace = format!("{}/acme", images.host());
    let out = xtask_env(&fixture.dir, &["release", "--execute", "--registry", &namespace, "--image", "ledger"], &env);
    let err = stderr(&out);
    assert!(!out.status.success(), "a scan that cannot see the crates must not pass:\n{err}");
    assert!(err.contains("<== scan FAILED") && !err.contains("==> push-versioned"), "{err}");
    for needle in [
        "ledger linux/amd64: the scan is blind to the binary's crates: its SBOM lists no Rust crate at all",
        "built with plain `cargo build`",
        "crate(s) `ledger` links on x86_64-unknown-linux-gnu (",
        &format!("libc {libc}"),
        "Build the binary with `cargo auditable build`",
        "an ejected or own Dockerfile must too (docker/Dockerfile)",
    ] {
        assert!(err.contains(needle), "the refusal names the cause and the fix ({needle:?}):\n{err}");
    }
    assert!(images.catalog().is_empty(), "nothing may be pushed: {:?}", images.catalog());
}
