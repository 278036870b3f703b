//! The scan gate on real trivy, with the full policy (vuln against the testbed's DB mirror): clean
//! images pass, a planted GitHub token fails naming the file and the rule, `.trivyignore` entries
//! need a future expiry, the DB sources are tried in order, a stale DB or none fails closed, and a
//! source whose DB changed is downloaded again. The scanned digests are the built ones. A report
//! trivy wrote without `Results`, or of a schema the engine does not read, fails closed.

use std::process::Command;

use xtask_testbed::releaser::succeeded as ok;
use xtask_testbed::*;

#[test]
fn clean_image_passes_and_the_reports_cover_exactly_the_built_digests() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("scan");
    let root = fixture.dir.clone();
    ok(&xtask(&root, &["build"]), "build");
    ok(&xtask(&root, &["scan"]), "scan");

    // For machines: --quiet keeps stderr free of progress, --json puts the result on stdout.
    let out = xtask(&root, &["--quiet", "build", "--json"]);
    ok(&out, "quiet build");
    assert!(!stderr(&out).contains("==> build"), "--quiet must drop step headers:\n{}", stderr(&out));
    let built: serde_json::Value = serde_json::from_slice(&out.stdout).expect("build --json prints the build record");
    let out = xtask(&root, &["--quiet", "scan", "--json"]);
    ok(&out, "quiet scan");
    let scanned: serde_json::Value = serde_json::from_slice(&out.stdout).expect("scan --json prints the summary");
    assert_eq!(scanned["images"][0]["index_digest"], built["images"][0]["index_digest"]);

    let record = read_json(&root.join("target/xtask/build-record.json"));
    let summary = read_json(&root.join("target/xtask/scan-summary.json"));
    assert_eq!(summary["passed"], true);
    assert_eq!(summary["policy"]["scanners"], serde_json::json!(["vuln", "secret", "misconfig"]));
    assert_eq!(summary["db"]["repository"], testbed_db(), "the vuln scanner ran against the testbed DB");
    assert!(summary["db"]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(summary["overrides"][0]["by"], "XTASK_TRIVY_DB_REPOSITORY");
    for target in ["linux/amd64", "linux/arm64"] {
        let report =
            summary["images"][0]["targets"].as_array().unwrap().iter().find(|t| t["target"] == target).unwrap();
        let sarif = read_json(std::path::Path::new(report["sarif"].as_str().unwrap()));
        let category = format!("xtask-scan/ledger/{target}/");
        assert_eq!(sarif["runs"][0]["automationDetails"]["id"], category.as_str(), "one code-scanning category each");
    }
    let built: Vec<&str> =
        record["images"][0]["platforms"].as_array().unwrap().iter().map(|p| p["digest"].as_str().unwrap()).collect();
    let targets = summary["images"][0]["targets"].as_array().unwrap();
    let scanned: Vec<&str> = targets.iter().filter_map(|t| t["digest"].as_str()).collect();
    assert_eq!(scanned, built, "trivy must scan exactly the built platform digests");
    assert!(targets.iter().any(|t| t["target"] == "Dockerfile"), "the Dockerfile is linted");

    for target in targets.iter().filter(|t| t["digest"].is_string()) {
        for key in ["report", "sarif"] {
            let path = target[key].as_str().unwrap();
            assert!(std::path::Path::new(path).is_file(), "{key} {path} missing");
        }
        let sbom = read_json(std::path::Path::new(target["sbom"].as_str().unwrap()));
        let components: Vec<&str> =
            sbom["components"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
        // cargo-auditable puts the dependency tree into the binary, so the SBOM sees the crates.
        assert!(components.contains(&"libc") && components.contains(&"ledger"), "SBOM components: {components:?}");
    }
}

#[test]
fn db_sources_are_tried_in_order_a_stale_db_or_none_fails_closed_and_a_moved_one_is_downloaded_again() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("dbsources");
    fixture.retry_once();
    let root = fixture.dir.clone();
    // The DB's sources are the same for every image: one image's platforms are enough.
    ok(&xtask(&root, &["build", "--image", "ledger"]), "build");
    let mirror = DbMirror::start();
    let clean = advisory("XTASK-2099-0100", "no-such-crate", ">=0.0.0", Some("9.9.9"), "HIGH");
    let up = mirror.push("up", &clean, "0");
    let scan_with = |sources: &str| xtask(&root, &["scan", "--image", "ledger", "--db-repository", sources]);
    let db_of_summary = || read_json(&root.join("target/xtask/image-ledger/scan-summary.json"))["db"].clone();

    // The first source down, then one without the tag: the scan uses the next that serves a DB.
    let down = format!("127.0.0.1:{}/trivy-db:2", free_port());
    let missing = format!("{}/missing:2", mirror.registry.host());
    let out = scan_with(&format!("{down},{missing},{up}"));
    ok(&out, "scan with the first two sources unusable");
    let err = stderr(&out);
    assert!(err.contains(&format!("warning: no usable vulnerability DB from {down}")), "{err}");
    assert!(err.contains(&format!("warning: no usable vulnerability DB from {missing}: it holds no")), "{err}");
    assert!(err.contains(&format!("downloaded {up}")), "{err}");
    let first = db_of_summary();
    assert_eq!(first["repository"], up.as_str());

    // Cached per source: the same digest is not downloaded again ...
    let out = scan_with(&up);
    ok(&out, "scan from the cache");
    assert!(!stderr(&out).contains("downloaded"), "{}", stderr(&out));
    assert_eq!(db_of_summary()["digest"], first["digest"]);
    // ... but a DB that moved on the source is, never the cached one reused silently.
    mirror.push("up", &(clean.clone() + &advisory("XTASK-2099-0101", "no-such-crate", ">=0.0.0", None, "LOW")), "0");
    let out = scan_with(&up);
    ok(&out, "scan after the source moved");
    assert!(stderr(&out).contains(&format!("downloaded {up}")), "{}", stderr(&out));
    assert_ne!(db_of_summary()["digest"], first["digest"]);

    // No source serves a DB: fail closed, naming each.
    let other_down = format!("127.0.0.1:{}/trivy-db:2", free_port());
    let out = scan_with(&format!("{down},{other_down}"));
    assert!(!out.status.success(), "a vuln scan without a DB must fail");
    let err = stderr(&out);
    assert!(err.contains("no usable vulnerability DB, so the scan fails closed"), "{err}");
    assert!(err.contains(&format!("\n  {down}: ")) && err.contains(&format!("\n  {other_down}: ")), "{err}");

    // A DB older than max-db-age (48h): fail closed, naming its age and the fix.
    let stale = mirror.push("stale", &clean, "72h");
    let out = scan_with(&stale);
    assert!(!out.status.success(), "a stale DB must fail the scan");
    let err = stderr(&out);
    assert!(err.contains("was updated 3days") && err.contains("more than max-db-age = 2days"), "{err}");
    assert!(err.contains("raise max-db-age deliberately"), "{err}");
}

#[test]
fn a_planted_token_fails_the_gate_and_trivyignore_entries_must_not_be_stale() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("leak");
    // Built at run time so this source file carries no token-shaped literal.
    let token = format!("ghp_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5");
    fixture.write("leak.env", &format!("GITHUB_TOKEN={token}\n"));
    // A team's own edit of the engine's Dockerfile, ejected into the workspace.
    fixture.eject_dockerfile();
    fixture.write(
        "docker/Dockerfile",
        &(std::fs::read_to_string(fixture.dir.join("docker/Dockerfile")).unwrap()
            + "\nFROM service AS leaky\nCOPY leak.env /etc/leak.env\n"),
    );
    fixture.edit("Cargo.toml", "target = \"service\"", "target = \"leaky\"");
    fixture.one_platform_per_image();
    fixture.commit("plant a token");
    ok(&fixture.xtask(&["build", "--image", "ledger"]), "build");

    let out = fixture.xtask(&["scan", "--image", "ledger"]);
    assert!(!out.status.success(), "a planted token must fail the gate");
    let err = stderr(&out);
    assert!(err.contains("github-pat") && err.contains("/etc/leak.env"), "name the rule and file:\n{err}");
    assert!(!err.contains(&token), "the secret itself must not be printed");
    let summary = read_json(&fixture.dir.join("target/xtask/image-ledger/scan-summary.json"));
    assert_eq!(summary["passed"], false);

    fixture.write(".trivyignore", "github-pat exp:2020-01-01\n");
    let out = fixture.xtask(&["scan", "--image", "ledger"]);
    assert!(!out.status.success(), "an expired exception must fail the gate");
    assert!(stderr(&out).contains(".trivyignore:1: github-pat expired on 2020-01-01"), "{}", stderr(&out));

    fixture.write(".trivyignore", "github-pat\n");
    let out = fixture.xtask(&["scan", "--image", "ledger"]);
    assert!(!out.status.success(), "an undated exception must fail the gate");
    assert!(stderr(&out).contains("github-pat has no exp:YYYY-MM-DD date"), "{}", stderr(&out));

    fixture.write(".trivyignore", "# accepted: a test fixture\ngithub-pat exp:2999-01-01\n");
    ok(&fixture.xtask(&["scan", "--image", "ledger"]), "scan with a dated exception");
}

/// A `trivy` earlier on PATH that runs the real one, then rewrites the JSON report of an image scan
/// as `XTASK_TEST_TRIVY_EDIT` says: `results` drops `Results` (what trivy writes when it read
/// nothing), `schema` makes it a SchemaVersion 3 report.
fn trivy_wrapper(dir: &std::path::Path) -> String {
    let real = Command::new("sh").args(["-c", "command -v trivy"]).output().unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_owned();
    assert!(!real.is_empty(), "trivy is not installed: the testbed (`bash .ci/testbed.sh`) installs it");
    let bin = dir.join("wrapper-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        r#"#!/bin/sh
{real:?} "$@" || exit $?
json=no; out=; prev=
for arg in "$@"; do
    [ "$prev" = --format ] && [ "$arg" = json ] && json=yes
    [ "$prev" = --output ] && out=$arg
    prev=$arg
done
[ "$1" = image ] && [ "$json" = yes ] && [ -n "$out" ] || exit 0
case "${{XTASK_TEST_TRIVY_EDIT:-}}" in
    results) python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r.pop("Results", None); json.dump(r, open(sys.argv[1], "w"))' "$out" ;;
    schema) sed -i 's/"SchemaVersion": 2/"SchemaVersion": 3/' "$out" ;;
esac
"#
    );
    std::fs::write(bin.join("trivy"), script).unwrap();
    let status = Command::new("chmod").arg("+x").arg(bin.join("trivy")).status().unwrap();
    assert!(status.success());
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

#[test]
fn a_trivy_report_without_results_or_of_an_unknown_schema_fails_closed() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("scanreport");
    fixture.one_platform_per_image();
    fixture.commit("one platform");
    ok(&fixture.xtask(&["build", "--image", "ledger"]), "build");
    let mirror = DbMirror::start();
    let db = mirror.push("libc", &advisory("XTASK-2099-0006", "libc", ">=0.2.0", Some("0.2.999"), "HIGH"), "0");
    let path = trivy_wrapper(&fixture.dir.join("target"));
    let scan = |edit: &str| {
        let env = [
            ("XTASK_TRIVY_DB_REPOSITORY".to_owned(), db.clone()),
            ("PATH".to_owned(), path.clone()),
            ("XTASK_TEST_TRIVY_EDIT".to_owned(), edit.to_owned()),
        ];
        fixture.xtask_env(&["scan", "--image", "ledger"], &env)
    };

    // trivy's own report: the HIGH advisory on libc blocks.
    let out = scan("");
    assert!(!out.status.success() && stderr(&out).contains("XTASK-2099-0006 (HIGH)"), "{}", stderr(&out));

    // The same scan, its report without Results: no finding read is not a clean image.
    let out = scan("results");
    let err = stderr(&out);
    assert!(!out.status.success(), "a report without Results must fail closed:\n{err}");
    assert!(err.contains("trivy 0.76.0 wrote a report the scan gate cannot read"), "{err}");
    assert!(err.contains("linux-amd64/report.json: it has no Results: trivy found nothing it could read"), "{err}");
    assert!(err.contains("The scan fails closed"), "{err}");

    // A report of a schema this engine does not read.
    let out = scan("schema");
    let err = stderr(&out);
    assert!(!out.status.success(), "an unknown schema must fail closed:\n{err}");
    assert!(err.contains("its SchemaVersion is 3, and this engine reads only 2"), "{err}");
    let summary = fixture.dir.join("target/xtask/image-ledger/scan-summary.json");
    assert!(!summary.exists() || read_json(&summary)["passed"] == false, "no passing summary");
}
