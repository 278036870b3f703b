//! The GitHub workflows are tested like code: valid against GitHub's workflow schema
//! (check-jsonschema's vendored copy, offline), clean under zizmor's offline audits (unpinned
//! actions, template injection, excessive permissions, persisted credentials), and holding the
//! properties `workflows/properties.rs` reads off the parsed YAML: CI is `bash .ci/run` in a
//! privileged debian:bookworm container, every publishing job is in a protected environment with
//! credentials for every configured registry, keyless signing has the transparency log, the
//! pipeline's own tools are pinned, outputs fail closed; and `workflows/gates.rs`'s: the gates run
//! from the default branch, one concurrency group covers releases and retractions, only the
//! accepted workflows sign, every image is pinned by digest, re-runs resume. Each check is also
//! shown to fail on a broken copy, so a passing run means something.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use support::{report, run_tool, workspace_root};

fn workflows() -> Vec<PathBuf> {
    let dir = workspace_root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 2, "ci.yml and release.yml");
    files
}

fn check_schema(schema: &str, files: &[PathBuf]) -> Output {
    let mut args = vec!["--builtin-schema", schema];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    run_tool("check-jsonschema", &args, &workspace_root())
}

/// A scratch copy of `.github` to break on purpose.
fn scratch_github(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-workflows-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let status = Command::new("cp").arg("-a").arg(workspace_root().join(".github")).arg(&dir).status().unwrap();
    assert!(status.success());
    dir
}

#[test]
fn workflows_match_githubs_schema() {
    let out = check_schema("vendor.github-workflows", &workflows());
    assert!(out.status.success(), "{}", report(&out));
    let actions = ["setup", "gate"].map(|name| workspace_root().join(format!(".github/actions/{name}/action.yml")));
    let out = check_schema("vendor.github-actions", &actions);
    assert!(out.status.success(), "{}", report(&out));

    let scratch = scratch_github("schema");
    let broken = scratch.join(".github/workflows/release.yml");
    let text = std::fs::read_to_string(&broken).unwrap().replace("runs-on:", "runs_on:");
    std::fs::write(&broken, text).unwrap();
    let out = check_schema("vendor.github-workflows", &[broken]);
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(!out.status.success(), "an invalid key must fail the schema check");
}

#[test]
fn zizmor_finds_nothing() {
    let out = run_tool("zizmor", &["--offline", "--persona", "pedantic", ".github"], &workspace_root());
    assert!(out.status.success(), "zizmor findings:\n{}", report(&out));
    assert!(report(&out).contains("No findings"), "{}", report(&out));

    let scratch = scratch_github("zizmor");
    let broken = scratch.join(".github/workflows/ci.yml");
    let text = std::fs::read_to_string(&broken).unwrap();
    let text =
        text.replacen("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "actions/checkout@v4", 1);
    let text = text.replacen("run: bash .ci/run\n", "run: bash .ci/run --ref \"${{ github.head_ref }}\"\n", 1);
    std::fs::write(&broken, text).unwrap();
    let out = run_tool("zizmor", &["--offline", "--persona", "pedantic", ".github"], &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let found = report(&out);
    assert!(!out.status.success(), "an unpinned action and a template injection must be reported:\n{found}");
    assert!(found.contains("unpinned-uses") && found.contains("template-injection"), "{found}");
}

#[path = "workflows/properties.rs"]
mod properties;

#[path = "workflows/gates.rs"]
mod gates;

use properties::Repo;

/// Asserts `check` finds nothing in the repository, and finds `expected` once `break_it` has
/// edited a scratch copy of `.github`, `.ci`, `docs` and the root Cargo.toml.
fn holds_and_fails_when_broken(check: fn(&Repo) -> Vec<String>, break_it: &[(&str, &str, &str)], expected: &str) {
    let problems = check(&Repo::read(&workspace_root()));
    assert!(problems.is_empty(), "{problems:#?}");
    static SCRATCH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let scratch = scratch_github(&format!("property-{}", SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    for entry in [".ci", "docs", "Cargo.toml"] {
        let status = Command::new("cp").arg("-a").arg(workspace_root().join(entry)).arg(&scratch).status().unwrap();
        assert!(status.success());
    }
    for (file, from, to) in break_it {
        let path = scratch.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} no longer contains {from:?}: update this test");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
    let problems = check(&Repo::read(&scratch));
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(problems.iter().any(|p| p.contains(expected)), "expected a problem containing {expected:?}: {problems:#?}");
}

#[test]
fn ci_runs_exactly_ci_run_in_a_privileged_bookworm_container() {
    let ci = ".github/workflows/ci.yml";
    holds_and_fails_when_broken(
        properties::ci_runs_the_one_definition,
        &[(ci, "run: bash .ci/run", "run: cargo xtask ci")],
        "no step runs exactly `bash .ci/run`",
    );
    holds_and_fails_when_broken(
        properties::ci_runs_the_one_definition,
        &[(ci, "options: --privileged --cgroupns=host", "options: --cgroupns=host")],
        "not privileged",
    );
    holds_and_fails_when_broken(
        properties::ci_runs_the_one_definition,
        &[(ci, "needs: ci", "needs: []")],
        "edge does not need ci",
    );
}

#[test]
fn every_publishing_job_has_credentials_for_every_configured_registry() {
    let repo = Repo::read(&workspace_root());
    assert_eq!(repo.registries(), ["docker.io".to_owned(), "ghcr.io".to_owned()].into(), "the configured registries");
    let release = ".github/workflows/release.yml";
    holds_and_fails_when_broken(
        properties::publishing_jobs_log_in_everywhere,
        &[(release, "XTASK_REGISTRY_DOCKER_IO_PASSWORD: ${{ secrets.DOCKERHUB_TOKEN }}", "")],
        "release.yml:variants: `target/debug/xtask release --execute --image \"$IMAGE\" --platform \"$PLATFORM\"` has no credentials for docker.io",
    );
    // A registry added to the configuration needs its wiring too.
    holds_and_fails_when_broken(
        properties::publishing_jobs_log_in_everywhere,
        &[("Cargo.toml", "\"docker.io/acme/beaconctl\"", "\"docker.io/acme/beaconctl\", \"quay.io/acme/beaconctl\"")],
        "has no credentials for quay.io",
    );
    holds_and_fails_when_broken(
        properties::publishing_jobs_log_in_everywhere,
        &[(".github/workflows/retract.yml", "    environment: release\n", "")],
        "publishes without a protected environment",
    );
}

#[test]
fn keyless_signing_has_the_transparency_log() {
    holds_and_fails_when_broken(
        properties::keyless_signing_uses_the_transparency_log,
        &[("Cargo.toml", "tlog-upload = true", "tlog-upload = false")],
        "signs keyless, but the root Cargo.toml sets tlog-upload = false",
    );
}

#[test]
fn the_pipelines_tools_are_pinned() {
    let setup = ".github/actions/setup/action.yml";
    holds_and_fails_when_broken(
        properties::setup_is_pinned,
        &[(setup, "--require-hashes ", "")],
        "without --require-hashes",
    );
    holds_and_fails_when_broken(
        properties::setup_is_pinned,
        &[(setup, "RUST_TOOLCHAIN: \"1.95.0\"", "RUST_TOOLCHAIN: stable")],
        "not an explicit version",
    );
    holds_and_fails_when_broken(
        properties::setup_is_pinned,
        &[(".ci/testbed.sh", "RUST_TOOLCHAIN=1.95.0", "RUST_TOOLCHAIN=1.96.0")],
        "not .ci/testbed.sh's",
    );
    holds_and_fails_when_broken(
        properties::setup_is_pinned,
        &[(setup, "cache-image: false", "cache-image: true")],
        "cache-image: false",
    );
    holds_and_fails_when_broken(
        properties::setup_is_pinned,
        &[(
            setup,
            "sudo install -m 0644 \"$RUNNER_TEMP/daemon.json\" /etc/docker/daemon.json",
            "echo '{}' > /etc/docker/daemon.json",
        )],
        "overwritten, not merged",
    );
    holds_and_fails_when_broken(
        properties::setup_is_pinned,
        &[(setup, "grep -q 'io.containerd.snapshotter'", "true")],
        "containerd image store is not checked",
    );
    holds_and_fails_when_broken(
        properties::setup_is_pinned,
        &[(".github/workflows/release.yml", "      - uses: ./.github/actions/setup\n        with:\n          rust-only: \"true\"\n      - uses: actions/download", "      - uses: actions/download")],
        "release.yml:summary: runs cargo without the pinned Rust",
    );
}

#[test]
fn outputs_fail_closed() {
    let release = ".github/workflows/release.yml";
    holds_and_fails_when_broken(
        properties::outputs_fail_closed,
        &[(
            release,
            "          set -euo pipefail\n          target/debug/xtask --quiet plan",
            "          target/debug/xtask --quiet plan",
        )],
        "without `set -o pipefail`",
    );
    holds_and_fails_when_broken(
        properties::outputs_fail_closed,
        &[(release, "jq -e --compact-output", "jq --compact-output")],
        "without -e",
    );
}

#[test]
fn the_gates_run_from_the_default_branch_before_anything_publishes() {
    let (release, retract, gate) =
        (".github/workflows/release.yml", ".github/workflows/retract.yml", ".github/actions/gate/action.yml");
    let check = gates::gates_run_from_the_default_branch;
    let default_branch = "          ref: ${{ github.event.repository.default_branch }}\n";
    for (file, from, to, expected) in [
        (release, default_branch, "", "release.yml:gate: does not check out the default branch"),
        (
            retract,
            default_branch,
            "          ref: ${{ github.sha }}\n",
            "retract.yml:gate: does not check out the default branch",
        ),
        (
            release,
            "          fetch-depth: 0\n          persist-credentials: false\n      - name: On a release",
            "          persist-credentials: false\n      - name: On a release",
            "with fetch-depth: 0",
        ),
        (
            release,
            "        uses: ./.github/actions/gate\n",
            "        uses: ./.github/actions/setup\n",
            "release.yml: no gate job",
        ),
        (release, "    needs: gate\n", "", "release.yml:plan: runs without the gate"),
        (
            retract,
            "    needs: gate\n    if: github.event_name == 'push'",
            "    if: github.event_name == 'push'",
            "retract.yml:pushed-tag: runs without the gate",
        ),
        (
            release,
            "          commit: ${{ github.sha }}",
            "          commit: ${{ github.event.before }}",
            "release.yml:gate: does not check github.sha",
        ),
        (
            release,
            "          commit: ${{ github.sha }}\n",
            "          commit: ${{ github.sha }}\n          require-ci: \"false\"\n",
            "does not require the commit's CI",
        ),
        (release, "      actions: read # the tagged commit's CI runs\n", "", "does not require the commit's CI"),
        (gate, "git merge-base --is-ancestor", "true", "no step checks that the commit is on a release branch"),
        (gate, "branch=$(git branch --show-current)", "branch=main", "detached (tagged) commit"),
        (gate, "--ref \"refs/heads/$BRANCH\"", "", "not the default branch's plan's"),
        (gate, "-f event=push ", "", "successful push run of CI"),
        (
            "Cargo.toml",
            "release-branches = [\"main\"]",
            "release-branches = [\"main\", \"release/1.x\"]",
            "ci.yml: does not run on pushes to the release branch \"release/1.x\"",
        ),
        (gate, "any(.conclusion == \"success\")", "any(.status == \"completed\")", "successful push run of CI"),
    ] {
        holds_and_fails_when_broken(check, &[(file, from, to)], expected);
    }
}

#[test]
fn releases_and_retractions_share_one_concurrency_group() {
    let retract = ".github/workflows/retract.yml";
    let check = gates::one_publish_at_a_time;
    holds_and_fails_when_broken(
        check,
        &[(retract, "  group: publish\n", "  group: retract-${{ inputs.version || github.ref_name }}\n")],
        "is not release.yml's",
    );
    holds_and_fails_when_broken(
        check,
        &[(".github/workflows/release.yml", "  group: publish\n", "  group: release-${{ github.ref }}\n")],
        "is not one per repository",
    );
    holds_and_fails_when_broken(
        check,
        &[(retract, "cancel-in-progress: false", "cancel-in-progress: true")],
        "retract.yml: cancel-in-progress",
    );
}

#[test]
fn only_the_accepted_workflows_sign_and_the_signing_page_shows_their_identity() {
    let check = gates::signer_identity_is_pinned;
    let audit = ".github/workflows/audit.yml";
    holds_and_fails_when_broken(
        check,
        &[(audit, "      packages: read", "      id-token: write\n      packages: read")],
        "audit.yml:audit: signs keyless",
    );
    holds_and_fails_when_broken(
        check,
        &[(".github/workflows/ci.yml", " && github.ref == 'refs/heads/main'", "")],
        "ci.yml:edge: signs keyless",
    );
    holds_and_fails_when_broken(
        check,
        &[(".github/workflows/release.yml", "  push:\n    tags:", "  workflow_dispatch:\n  push:\n    tags:")],
        "release.yml:merge: signs keyless",
    );
    let page = "docs/src/signing.md";
    let identity = gates::RELEASES_OF_ACME_BEACON;
    holds_and_fails_when_broken(
        check,
        &[(page, identity, "^https://github.com/acme/beacon/")],
        "verifies by the repository alone",
    );
    // Both commands of the page: each verifies by the exact identity.
    let exact = (page, "release.yml@refs/tags/v1.2.3 \\", "release.yml@refs/tags/v1.2.3-x \\");
    holds_and_fails_when_broken(check, &[exact, exact], "the exact identity of a release");
    holds_and_fails_when_broken(
        check,
        &[(page, "  --certificate-oidc-issuer https://token.actions.githubusercontent.com \\\n", "")],
        "without GitHub's OIDC issuer",
    );
}

#[test]
fn every_image_a_workflow_runs_is_pinned_by_digest() {
    let check = gates::images_are_pinned_by_digest;
    let setup = ".github/actions/setup/action.yml";
    holds_and_fails_when_broken(
        check,
        &[(setup, "        image: docker.io/tonistiigi/binfmt:", "        # image: docker.io/tonistiigi/binfmt:")],
        "actions/setup: setup-qemu-action's binfmt image \"tonistiigi/binfmt:latest",
    );
    holds_and_fails_when_broken(
        check,
        &[(
            setup,
            "qemu-v10.2.3-68@sha256:400a4873b838d1b89194d982c45e5fb3cda4593fbfd7e08a02e76b03b21166f0",
            "qemu-v10.2.3-68",
        )],
        "is not pinned by digest",
    );
    holds_and_fails_when_broken(
        check,
        &[(".github/workflows/ci.yml", "image: debian:bookworm@sha256:", "image: debian:bookworm-")],
        "ci.yml: ci: container",
    );
}

#[test]
fn a_rerun_resumes_the_release() {
    let release = ".github/workflows/release.yml";
    let check = gates::reruns_resume;
    let overwrite =
        "          overwrite: true # a re-run's record replaces the failed attempt's (else: 409 Conflict)\n";
    holds_and_fails_when_broken(
        check,
        &[(release, overwrite, "")],
        "release.yml:variants: an artifact upload without `overwrite: true`",
    );
    holds_and_fails_when_broken(
        check,
        &[(release, "if gh release view \"$TAG\"", "if false")],
        "does not edit the GitHub release",
    );
    holds_and_fails_when_broken(
        check,
        &[(
            release,
            "--notes-file release-notes.md \"${prerelease[@]}\" \"$latest\"\n          fi",
            "--notes-file release-notes.md \"${prerelease[@]}\"\n          fi",
        )],
        "does not edit the GitHub release",
    );
    holds_and_fails_when_broken(
        check,
        &[(release, "latest=--latest=false", "latest=--latest")],
        "does not follow the images' `latest`",
    );
}

#[test]
fn the_release_fans_out_per_platform_and_merges_per_image() {
    let release = ".github/workflows/release.yml";
    // The plan carries the matrix the chain reads, and the artifact names the merge downloads.
    let plan = support::xtask(&workspace_root(), &["plan", "--json"]);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let jobs = plan["variant_matrix"]["include"].as_array().unwrap();
    let platforms: usize =
        plan["images"].as_array().unwrap().iter().map(|i| i["platforms"].as_array().unwrap().len()).sum();
    assert_eq!(jobs.len(), platforms, "one job per image and platform");
    assert_eq!(plan["variants_per_job"], 1);
    for job in jobs {
        let prefix = format!("variant-{}-", job["image"].as_str().unwrap());
        assert!(job["artifact"].as_str().unwrap().starts_with(&prefix), "the merge downloads {prefix}*: {job}");
    }
    for (from, to, expected) in [
        (
            "matrix: ${{ fromJSON(needs.plan.outputs.variants) }}",
            "matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}",
            "variants: its matrix is not",
        ),
        ("runs-on: ${{ matrix.runner }}", "runs-on: ubuntu-24.04", "runs-on is not the matrix entry's runner"),
        (" --platform \"$PLATFORM\"", "", "no step runs `cargo xtask release --execute"),
        ("pattern: variant-${{ matrix.image }}-*", "pattern: variant-*", "does not download the image's variant"),
        ("needs: [plan, variants]", "needs: [plan]", "merge does not need plan and variants"),
        (
            "target/debug/xtask release merge --image \"$IMAGE\" variants",
            "target/debug/xtask release merge variants",
            "no step runs `cargo xtask release merge",
        ),
        ("    needs: merge\n", "    needs: variants\n", "summary does not need merge"),
        (".variant_matrix | select", ".matrix | select", "is not the plan's variant_matrix"),
    ] {
        holds_and_fails_when_broken(properties::release_chain_fans_out_per_platform, &[(release, from, to)], expected);
    }
}

#[test]
fn no_step_with_a_secret_runs_cargo() {
    let check = gates::secrets_never_reach_cargo;
    holds_and_fails_when_broken(
        check,
        &[(".github/workflows/ci.yml", "run: target/debug/xtask release --execute", "run: cargo xtask release --execute")],
        "ci.yml:edge: \"Publish edge and sha-… (preflight, build, smoke, scan, push, verify, sign)\" runs cargo with a secret",
    );
    holds_and_fails_when_broken(
        check,
        &[(".github/actions/setup/action.yml", "cargo build --locked --package xtask\n", "true\n")],
        "no step without secrets builds the xtask",
    );
}
