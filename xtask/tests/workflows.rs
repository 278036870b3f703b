//! The GitHub workflows are tested like code: valid against GitHub's workflow schema
//! (check-jsonschema's vendored copy, offline), clean under zizmor's offline audits (unpinned
//! actions, template injection, excessive permissions, persisted credentials), and holding the
//! properties `workflows/properties.rs` reads off the parsed YAML: CI is `bash .ci/run` in a
//! privileged debian:bookworm container, every publishing job is in a protected environment with
//! credentials for every configured registry, keyless signing has the transparency log, the
//! pipeline's own tools are pinned, outputs fail closed, concurrency is per tag, and releases come
//! only from release branches. Each check is also shown to fail on a broken copy, so a passing run
//! means something.

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
    let action = workspace_root().join(".github/actions/setup/action.yml");
    let out = check_schema("vendor.github-actions", &[action]);
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

use properties::Repo;

/// Asserts `check` finds nothing in the repository, and finds `expected` once `break_it` has
/// edited a scratch copy of `.github`, `.ci` and the root Cargo.toml.
fn holds_and_fails_when_broken(check: fn(&Repo) -> Vec<String>, break_it: &[(&str, &str, &str)], expected: &str) {
    let problems = check(&Repo::read(&workspace_root()));
    assert!(problems.is_empty(), "{problems:#?}");
    static SCRATCH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let scratch = scratch_github(&format!("property-{}", SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    for entry in [".ci", "Cargo.toml"] {
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
        "release.yml:variants: `cargo xtask release --execute --image \"$IMAGE\" --platform \"$PLATFORM\"` has no credentials for docker.io",
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
fn outputs_fail_closed_and_releases_are_per_tag_from_release_branches() {
    let release = ".github/workflows/release.yml";
    holds_and_fails_when_broken(
        properties::outputs_fail_closed,
        &[(
            release,
            "          set -euo pipefail\n          cargo xtask --quiet plan",
            "          cargo xtask --quiet plan",
        )],
        "without `set -o pipefail`",
    );
    holds_and_fails_when_broken(
        properties::outputs_fail_closed,
        &[(release, "jq -e --compact-output", "jq --compact-output")],
        "without -e",
    );
    holds_and_fails_when_broken(
        properties::concurrency_is_per_tag,
        &[(release, "group: release-${{ github.ref }}", "group: release")],
        "is not per tag",
    );
    holds_and_fails_when_broken(
        properties::concurrency_is_per_tag,
        &[(
            ".github/workflows/retract.yml",
            "group: retract-${{ inputs.version || github.ref_name }}",
            "group: release-${{ github.ref }}",
        )],
        "is not its own",
    );
    holds_and_fails_when_broken(
        properties::releases_only_from_release_branches,
        &[(release, "git merge-base --is-ancestor", "true")],
        "no step checks that github.sha",
    );
    holds_and_fails_when_broken(
        properties::releases_only_from_release_branches,
        &[(
            release,
            "          fetch-depth: 0 # every release tag and branch",
            "          fetch-depth: 1 # every release tag and branch",
        )],
        "checkout without fetch-depth: 0",
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
            "cargo xtask release merge --image \"$IMAGE\" variants",
            "cargo xtask release merge variants",
            "no step runs `cargo xtask release merge",
        ),
        ("    needs: merge\n", "    needs: variants\n", "summary does not need merge"),
        (".variant_matrix | select", ".matrix | select", "is not the plan's variant_matrix"),
    ] {
        holds_and_fails_when_broken(properties::release_chain_fans_out_per_platform, &[(release, from, to)], expected);
    }
}
