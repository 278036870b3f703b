//! The GitHub workflows are tested like code: valid against GitHub's workflow schema
//! (check-jsonschema's vendored copy, offline) and clean under zizmor's offline audits (unpinned
//! actions, template injection, excessive permissions, persisted credentials). Each check is also
//! shown to fail on a broken copy, so a passing run means something.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::workspace_root;

fn run(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is not installed ({e}): run `bash .ci/testbed.sh`"))
}

fn report(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

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
    run("check-jsonschema", &args, &workspace_root())
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
    let out = run("zizmor", &["--offline", "--persona", "pedantic", ".github"], &workspace_root());
    assert!(out.status.success(), "zizmor findings:\n{}", report(&out));
    assert!(report(&out).contains("No findings"), "{}", report(&out));

    let scratch = scratch_github("zizmor");
    let broken = scratch.join(".github/workflows/ci.yml");
    let text = std::fs::read_to_string(&broken).unwrap();
    let text =
        text.replacen("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "actions/checkout@v4", 1);
    let text = text.replacen("run: cargo xtask ci\n", "run: cargo xtask ci --ref \"${{ github.head_ref }}\"\n", 1);
    std::fs::write(&broken, text).unwrap();
    let out = run("zizmor", &["--offline", "--persona", "pedantic", ".github"], &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let found = report(&out);
    assert!(!out.status.success(), "an unpinned action and a template injection must be reported:\n{found}");
    assert!(found.contains("unpinned-uses") && found.contains("template-injection"), "{found}");
}
