//! The properties that keep the release's gates, its signer and its re-runs out of the tag pusher's
//! hands, checked on the parsed YAML as `properties.rs` does: the gates run from the default
//! branch's checkout before anything publishes, one concurrency group covers releases and
//! retractions, only the workflows the keyless verification accepts can sign (and the signing
//! page shows that identity), every image a workflow runs is pinned by digest, and a re-run
//! resumes (artifacts overwritten, the GitHub release edited, "Latest" only with `latest`).

use std::collections::BTreeSet;

use yaml_rust2::Yaml;

use super::properties::{command_of, run_of, steps, uses_of, Repo};

/// The identity `cargo xtask audit` and `release notes` pass cosign for this repository
/// (`rules::signing::identity_regexp` of `acme/beacon`, tag pattern `v{version}`, edge branch
/// `main`: the engine's unit test pins the same text).
pub const RELEASES_OF_ACME_BEACON: &str = r"^https://github\.com/acme/beacon/\.github/workflows/(?:(?:release\.yml|xtask-release\.yml)@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?|ci\.yml@refs/heads/main)$";
const DEFAULT_BRANCH: &str = "${{ github.event.repository.default_branch }}";

fn needs(job: &Yaml) -> Vec<&str> {
    match job["needs"].as_str() {
        Some(one) => vec![one],
        None => job["needs"].as_vec().map(|v| v.iter().filter_map(Yaml::as_str).collect()).unwrap_or_default(),
    }
}

/// Whether `job` of `workflow` runs only after `gate` (directly or through the jobs it needs).
fn after_gate(workflow: &Yaml, job: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![job];
    while let Some(name) = todo.pop() {
        if name == "gate" {
            return true;
        }
        if seen.insert(name) {
            todo.extend(needs(&workflow["jobs"][name]));
        }
    }
    false
}

/// 8. Release and retraction each start with a `gate` job that checks out the default branch (not
///    the tagged commit) and runs its `.github/actions/gate` on `github.sha`; every other job needs
///    it; the release's gate requires the commit's CI. The action reads the release branches with
///    the default branch's xtask, checks ancestry, and asks GitHub for a successful push run of CI,
///    which runs on every release branch.
pub fn gates_run_from_the_default_branch(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    for (file, workflow) in [("release.yml", &repo.release), ("retract.yml", &repo.retract)] {
        let gate = &workflow["jobs"]["gate"];
        let checkout = steps(gate).iter().position(|s| uses_of(s).starts_with("actions/checkout@"));
        let action = steps(gate).iter().position(|s| uses_of(s) == "./.github/actions/gate");
        match (checkout, action) {
            (Some(c), Some(a)) if c < a => {
                let with = &steps(gate)[c]["with"];
                if with["ref"].as_str() != Some(DEFAULT_BRANCH) || with["fetch-depth"].as_i64() != Some(0) {
                    problems.push(format!("{file}:gate: does not check out the default branch with fetch-depth: 0"));
                }
                if steps(gate)[a]["with"]["commit"].as_str() != Some("${{ github.sha }}") {
                    problems.push(format!("{file}:gate: does not check github.sha"));
                }
                let ci = steps(gate)[a]["with"]["require-ci"].as_str().unwrap_or("true");
                if file == "release.yml" && (ci != "true" || gate["permissions"]["actions"].as_str() != Some("read")) {
                    problems.push(format!("{file}:gate: does not require the commit's CI (require-ci, actions: read)"));
                }
            }
            _ => problems.push(format!(
                "{file}: no gate job that checks out the default branch, then runs ./.github/actions/gate"
            )),
        }
        for (name, _) in workflow["jobs"].as_hash().map(|h| h.iter().collect::<Vec<_>>()).unwrap_or_default() {
            let name = name.as_str().unwrap();
            if name != "gate" && !after_gate(workflow, name) {
                problems.push(format!(
                    "{file}:{name}: runs without the gate (needs it neither directly nor through another job)"
                ));
            }
        }
    }
    // The gate asks for a push run of ci.yml on a release branch: CI runs on every one.
    let pushed: Vec<&str> =
        repo.ci["on"]["push"]["branches"].as_vec().into_iter().flatten().filter_map(Yaml::as_str).collect();
    let xtask = &repo.manifest["workspace"]["metadata"]["xtask"];
    let release_branches = xtask.get("release-branches").and_then(|b| b.as_array());
    for branch in release_branches.into_iter().flatten().filter_map(|b| b.as_str()) {
        if !pushed.contains(&branch) {
            problems.push(format!("ci.yml: does not run on pushes to the release branch {branch:?}"));
        }
    }
    let runs: Vec<&str> = steps(&repo.gate["runs"]).iter().map(run_of).collect();
    let has = |text: &str| runs.iter().any(|run| run.contains(text));
    if !has("git branch --show-current") {
        problems.push("actions/gate: does not refuse to run from a detached (tagged) commit".to_owned());
    }
    if !has("cargo xtask --quiet plan --json --ref \"refs/heads/$BRANCH\"") || !has("'.release_branches[]'") {
        problems.push("actions/gate: the release branches are not the default branch's plan's".to_owned());
    }
    if !has("git merge-base --is-ancestor \"$COMMIT\" \"refs/remotes/origin/$branch\"") {
        problems.push("actions/gate: no step checks that the commit is on a release branch".to_owned());
    }
    let ci = [
        "actions/workflows/$CI_WORKFLOW/runs",
        "-f head_sha=\"$COMMIT\"",
        "-f event=push",
        ".conclusion == \"success\"",
    ];
    if !ci.iter().all(|text| has(text)) {
        problems.push("actions/gate: does not ask GitHub for a successful push run of CI on the commit".to_owned());
    }
    problems
}

/// 9. One publish at a time: release.yml and retract.yml share one concurrency group (a literal,
///    so one per repository), and nothing cancels a publish in progress.
pub fn one_publish_at_a_time(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    let release = repo.release["concurrency"]["group"].as_str().unwrap_or_default();
    let retract = repo.retract["concurrency"]["group"].as_str().unwrap_or_default();
    if release.is_empty() || release.contains("${{") {
        problems.push(format!("release.yml: concurrency group {release:?} is not one per repository"));
    }
    if retract != release {
        problems.push(format!("retract.yml: concurrency group {retract:?} is not release.yml's {release:?}"));
    }
    for (file, workflow) in [("release.yml", &repo.release), ("retract.yml", &repo.retract)] {
        if workflow["concurrency"]["cancel-in-progress"].as_bool() != Some(false) {
            problems.push(format!("{file}: cancel-in-progress is not false"));
        }
    }
    problems
}

/// 10. Only the workflows the keyless verification accepts sign (`id-token: write`): release.yml,
///     on release tags alone; ci.yml's edge job, on main alone; retract.yml (verified by itself).
///     The signing page verifies by the exact identity, never by the repository alone.
pub fn signer_identity_is_pinned(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    for (file, workflow) in &repo.files {
        for (name, job) in workflow["jobs"].as_hash().map(|h| h.iter().collect::<Vec<_>>()).unwrap_or_default() {
            let name = name.as_str().unwrap();
            if job["permissions"]["id-token"].as_str() != Some("write") {
                continue;
            }
            let accepted = match file.as_str() {
                "release.yml" => {
                    let on = &workflow["on"];
                    let tags: Vec<&str> =
                        on["push"]["tags"].as_vec().into_iter().flatten().filter_map(Yaml::as_str).collect();
                    on.as_hash().is_some_and(|h| h.len() == 1)
                        && on["push"].as_hash().is_some_and(|h| h.len() == 1)
                        && !tags.is_empty()
                        && tags.iter().all(|t| t.starts_with("v"))
                }
                "ci.yml" => {
                    name == "edge" && job["if"].as_str().is_some_and(|i| i.contains("github.ref == 'refs/heads/main'"))
                }
                "retract.yml" => true,
                _ => false,
            };
            if !accepted {
                problems.push(format!(
                    "{file}:{name}: signs keyless (id-token: write), but verification accepts only release.yml at a \
                     release tag and ci.yml's edge job at main"
                ));
            }
        }
    }
    let page = &repo.signing_page;
    let regexp = format!("--certificate-identity-regexp '{RELEASES_OF_ACME_BEACON}'");
    let exact = "--certificate-identity https://github.com/acme/beacon/.github/workflows/release.yml@refs/tags/v1.2.3";
    for (shown, what) in [(regexp.as_str(), "the audit's identity regexp"), (exact, "the exact identity of a release")]
    {
        // An option line of a shell block, exactly.
        if !page.lines().any(|line| line.trim() == format!("{shown} \\")) {
            problems.push(format!("signing.md: does not show {what}: {shown}"));
        }
    }
    let options = |prefix: &str| page.lines().filter(|line| line.trim_start().starts_with(prefix)).count();
    let issuer = "--certificate-oidc-issuer https://token.actions.githubusercontent.com";
    if options(issuer) != options("--certificate-identity") {
        problems.push("signing.md: an identity is shown without GitHub's OIDC issuer".to_owned());
    }
    if page.contains("'^https://github.com/acme/beacon/'")
        || page.contains("--certificate-identity-regexp '^https://github.com/acme/beacon/'")
    {
        problems.push("signing.md: verifies by the repository alone (any workflow, any ref)".to_owned());
    }
    problems
}

/// 11. Every image a workflow or action runs is pinned by digest: job containers, services,
///     `docker://` steps, and setup-qemu-action's binfmt image (never its `latest` default).
pub fn images_are_pinned_by_digest(repo: &Repo) -> Vec<String> {
    let pinned = |image: &str| {
        image
            .rsplit_once("@sha256:")
            .is_some_and(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let mut problems = Vec::new();
    for (file, yaml) in &repo.files {
        let mut images: Vec<(String, String)> = Vec::new();
        let jobs = yaml["jobs"].as_hash().map(|h| h.iter().collect::<Vec<_>>()).unwrap_or_default();
        for (name, job) in &jobs {
            let name = name.as_str().unwrap();
            let container = job["container"]["image"].as_str().or(job["container"].as_str());
            images.extend(container.map(|image| (format!("{name}: container"), image.to_owned())));
            for (service, spec) in job["services"].as_hash().map(|h| h.iter().collect::<Vec<_>>()).unwrap_or_default() {
                let image = spec["image"].as_str().unwrap_or_default().to_owned();
                images.push((format!("{name}: service {}", service.as_str().unwrap_or_default()), image));
            }
        }
        let all_steps = jobs.iter().flat_map(|(_, job)| steps(job)).chain(steps(&yaml["runs"]));
        for step in all_steps {
            let uses = uses_of(step);
            if let Some(image) = uses.strip_prefix("docker://") {
                images.push(("a docker:// step".to_owned(), image.to_owned()));
            }
            if uses.starts_with("docker/setup-qemu-action@") {
                let image = step["with"]["image"].as_str().unwrap_or("tonistiigi/binfmt:latest (the action's default)");
                images.push(("setup-qemu-action's binfmt image".to_owned(), image.to_owned()));
            }
        }
        for (what, image) in images.into_iter().filter(|(_, image)| !pinned(image)) {
            problems.push(format!("{file}: {what} {image:?} is not pinned by digest"));
        }
    }
    problems
}

/// 12. A re-run resumes: every artifact upload overwrites (a failed attempt's upload would
///     answer 409), and `notes` edits the GitHub release when it exists, marking it "Latest" only
///     when the plan moves the images' `latest`.
pub fn reruns_resume(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, job) in repo.jobs() {
        for step in steps(job).iter().filter(|s| uses_of(s).starts_with("actions/upload-artifact@")) {
            if step["with"]["overwrite"].as_bool() != Some(true) {
                problems.push(format!("{name}: an artifact upload without `overwrite: true` (a re-run answers 409)"));
            }
        }
    }
    let notes = &repo.release["jobs"]["notes"];
    let run = steps(notes).iter().map(run_of).find(|r| r.contains("gh release")).unwrap_or_default();
    let lines: Vec<&str> = run.lines().map(str::trim).collect();
    let creates =
        lines.iter().any(|l| l.starts_with("gh release create \"$TAG\" --verify-tag") && l.ends_with("\"$latest\""));
    let edits = lines.iter().any(|l| l.starts_with("gh release edit \"$TAG\"") && l.ends_with("\"$latest\""));
    if !creates || !edits || !run.contains("if gh release view \"$TAG\"") {
        problems.push(
            "release.yml:notes: does not edit the GitHub release a re-run finds (gh release view, edit, create)"
                .to_owned(),
        );
    }
    let latest_from_plan = lines.contains(&"latest=--latest=false")
        && run.contains("any(.images[].floating_tags[]; endswith(\":latest\"))")
        && lines.contains(&"latest=--latest");
    if !latest_from_plan {
        problems.push(
            "release.yml:notes: GitHub's \"Latest\" does not follow the images' `latest` (--latest=false)".to_owned(),
        );
    }
    if !steps(notes).iter().any(|s| command_of(s).contains("cargo xtask --quiet plan --json | jq -e . > plan.json")) {
        problems.push("release.yml:notes: no plan to read the floating tags from".to_owned());
    }
    problems
}

/// No step that holds a secret runs cargo (which would compile the xtask, and every build script
/// and proc-macro of its dependencies, with the secret in their environment): the setup action
/// builds it with `--locked` in a step without secrets, and the steps that hold secrets run the
/// built `target/debug/xtask`.
pub fn secrets_never_reach_cargo(repo: &Repo) -> Vec<String> {
    let mut problems = Vec::new();
    let builds = steps(&repo.setup["runs"]).iter().any(|step| {
        run_of(step).lines().any(|line| line.trim() == "cargo build --locked --package xtask")
            && !step["env"].as_hash().is_some_and(|env| env.values().any(holds_secret))
    });
    if !builds {
        problems.push("actions/setup: no step without secrets builds the xtask with `cargo build --locked`".into());
    }
    for (file, workflow) in &repo.files {
        let jobs = workflow["jobs"].as_hash().into_iter().flat_map(|jobs| jobs.iter());
        for (job_name, job) in jobs {
            for step in steps(job) {
                let secret = step["env"].as_hash().is_some_and(|env| env.values().any(holds_secret));
                if secret && run_of(step).split_whitespace().any(|word| word == "cargo") {
                    let name = step["name"].as_str().unwrap_or("a step");
                    problems.push(format!("{file}:{}: {name:?} runs cargo with a secret", job_name.as_str().unwrap()));
                }
            }
        }
    }
    problems
}

fn holds_secret(value: &Yaml) -> bool {
    value.as_str().is_some_and(|v| v.contains("secrets."))
}
