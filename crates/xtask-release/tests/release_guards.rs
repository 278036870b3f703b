//! What preflight refuses in a tag release under GitHub Actions, before anything is built or any
//! registry is reached: a tagged commit (`GITHUB_SHA`) on no release branch, release branches not
//! fetched, and keyless signing (the job's OIDC identity, no key) with `tlog-upload = false`. Real
//! git history in a copy of the workspace; GitHub's variables set as a tag push sets them.

use xtask_testbed::releaser::refused;
use xtask_testbed::*;

fn actions_env(sha: &str) -> Vec<(String, String)> {
    [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/tags/v0.1.0"),
        ("GITHUB_SHA", sha),
        ("GITHUB_REPOSITORY", "acme/ledger"),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.actions.invalid/request"),
        ("COSIGN_PRIVATE_KEY", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn a_tag_release_needs_a_commit_on_a_release_branch_and_keyless_needs_the_transparency_log() {
    let fixture = Fixture::ledger("release-guards");
    let on_main = fixture.git(&["rev-parse", "HEAD"]);
    fixture.git(&["checkout", "--quiet", "-b", "unreviewed"]);
    fixture.write("crates/ledger/UNREVIEWED", "pushed straight to a branch nobody reviewed\n");
    fixture.commit("an unreviewed change");
    let unreviewed = fixture.git(&["rev-parse", "HEAD"]);
    fixture.git(&["tag", "v0.1.0"]);

    // A CI clone without the branches (a shallow checkout) cannot tell: refused, naming the fix.
    refused(&fixture.xtask_env(&["release"], &actions_env(&unreviewed)), &["origin/main not fetched"]);

    // The clone actions/checkout makes with fetch-depth 0: origin/main is there, without the commit.
    fixture.git(&["update-ref", "refs/remotes/origin/main", &on_main]);
    let out = fixture.xtask_env(&["release"], &actions_env(&unreviewed));
    refused(&out, &[&format!("commit {unreviewed} of refs/tags/v0.1.0 is not on a release branch (origin/main)")]);

    // The same tag on a commit of main passes that check; keyless signing with the fixture's
    // `tlog-upload = false` is then refused, still before any registry is reached.
    fixture.git(&["tag", "--delete", "v0.1.0"]);
    fixture.git(&["checkout", "--quiet", "main"]);
    fixture.git(&["tag", "v0.1.0"]);
    let out = fixture.xtask_env(&["release"], &actions_env(&on_main));
    assert!(stderr(&out).contains(&format!("{on_main} is on a release branch")), "{}", stderr(&out));
    refused(
        &out,
        &[
            "workspace.metadata.xtask.signing.tlog-upload is false, but this run signs keyless",
            "Set tlog-upload = true",
        ],
    );
    assert!(!stderr(&out).contains("reachable"), "refused before any registry: {}", stderr(&out));

    // A key signs offline: the same run with COSIGN_PRIVATE_KEY passes the signing check.
    let mut env = actions_env(&on_main);
    env.retain(|(k, _)| k != "COSIGN_PRIVATE_KEY");
    env.extend(signing_env(&fixture.dir));
    let out = fixture.xtask_env(&["release"], &env);
    assert!(!stderr(&out).contains("tlog-upload"), "a key needs no transparency log: {}", stderr(&out));
}
