//! The scan gate on real trivy: clean images pass, a planted GitHub token fails naming the file and
//! the rule, `.trivyignore` entries need a future expiry, and a policy with `vuln` fails closed when
//! the vulnerability DB is out of reach. The scanned digests are the built ones.

mod support;

use support::*;

fn ok(out: &std::process::Output, what: &str) {
    assert!(out.status.success(), "{what} failed:\n{}", stderr(out));
}

#[test]
fn clean_image_passes_and_the_reports_cover_exactly_the_built_digests() {
    let _engine = engine_lock();
    let root = workspace_root();
    ok(&xtask(&root, &["build"]), "build");
    ok(&xtask(&root, &["scan", "--scanners", "secret,misconfig"]), "scan");

    // For machines: --quiet keeps stderr free of progress, --json puts the result on stdout.
    let out = xtask(&root, &["--quiet", "build", "--json"]);
    ok(&out, "quiet build");
    assert!(!stderr(&out).contains("==> build"), "--quiet must drop step headers:\n{}", stderr(&out));
    let built: serde_json::Value = serde_json::from_slice(&out.stdout).expect("build --json prints the build record");
    let out = xtask(&root, &["--quiet", "scan", "--scanners", "secret,misconfig", "--json"]);
    ok(&out, "quiet scan");
    let scanned: serde_json::Value = serde_json::from_slice(&out.stdout).expect("scan --json prints the summary");
    assert_eq!(scanned["images"][0]["index_digest"], built["images"][0]["index_digest"]);

    let record = read_json(&root.join("target/xtask/build-record.json"));
    let summary = read_json(&root.join("target/xtask/scan-summary.json"));
    assert_eq!(summary["passed"], true);
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
        assert!(components.contains(&"libc") && components.contains(&"beacon"), "SBOM components: {components:?}");
    }
}

#[test]
fn a_policy_with_vuln_fails_closed_without_the_vulnerability_db() {
    let _engine = engine_lock();
    let root = workspace_root();
    ok(&xtask(&root, &["build"]), "build");
    let out = xtask(&root, &["scan", "--scanners", "vuln,secret"]);
    assert!(!out.status.success(), "a vuln scan without its DB must fail");
    let err = stderr(&out);
    for needle in ["fails closed", "--db-repository", "--cache-dir", "--scanners secret,misconfig"] {
        assert!(err.contains(needle), "the error should mention {needle:?}:\n{err}");
    }
}

#[test]
fn a_planted_token_fails_the_gate_and_trivyignore_entries_must_not_be_stale() {
    let _engine = engine_lock();
    let fixture = Fixture::copy_of_workspace("leak");
    // Built at run time so this source file carries no token-shaped literal.
    let token = format!("ghp_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5");
    fixture.write("leak.env", &format!("GITHUB_TOKEN={token}\n"));
    fixture.write(
        "docker/Dockerfile",
        &(std::fs::read_to_string(fixture.dir.join("docker/Dockerfile")).unwrap()
            + "\nFROM runtime AS leaky\nCOPY leak.env /etc/leak.env\n"),
    );
    fixture.edit("Cargo.toml", "target = \"runtime\"", "target = \"leaky\"");
    fixture.commit("plant a token");
    ok(&fixture.xtask(&["build"]), "build");

    let out = fixture.xtask(&["scan", "--scanners", "secret,misconfig"]);
    assert!(!out.status.success(), "a planted token must fail the gate");
    let err = stderr(&out);
    assert!(err.contains("github-pat") && err.contains("/etc/leak.env"), "name the rule and file:\n{err}");
    assert!(!err.contains(&token), "the secret itself must not be printed");
    let summary = read_json(&fixture.dir.join("target/xtask/scan-summary.json"));
    assert_eq!(summary["passed"], false);

    fixture.write(".trivyignore", "github-pat exp:2020-01-01\n");
    let out = fixture.xtask(&["scan", "--scanners", "secret,misconfig"]);
    assert!(!out.status.success(), "an expired exception must fail the gate");
    assert!(stderr(&out).contains(".trivyignore:1: github-pat expired on 2020-01-01"), "{}", stderr(&out));

    fixture.write(".trivyignore", "github-pat\n");
    let out = fixture.xtask(&["scan", "--scanners", "secret,misconfig"]);
    assert!(!out.status.success(), "an undated exception must fail the gate");
    assert!(stderr(&out).contains("github-pat has no exp:YYYY-MM-DD date"), "{}", stderr(&out));

    fixture.write(".trivyignore", "# accepted: a test fixture\ngithub-pat exp:2999-01-01\n");
    ok(&fixture.xtask(&["scan", "--scanners", "secret,misconfig"]), "scan with a dated exception");
}
