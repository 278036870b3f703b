//! A tag release publishes only a commit that is on a release branch. Anyone who may push a `v*`
//! tag could otherwise tag any commit — a branch nobody reviewed — and publish it as `latest`.
//! Checked under GitHub Actions from `GITHUB_SHA` against the fetched `origin/<branch>` of each
//! of `release-branches` (pure: the caller asks git and passes the answers in).

use anyhow::{bail, Result};

/// What git says about the tagged commit and one release branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ancestry {
    /// The branch contains the commit.
    Contains,
    /// The branch exists here and does not contain it.
    Lacks,
    /// The branch was not fetched (or does not exist).
    Missing,
}

/// The ref a release branch is checked against in a CI clone.
pub fn remote_ref(branch: &str) -> String {
    format!("refs/remotes/origin/{branch}")
}

/// Passes when one release branch contains `commit`; otherwise says what to do.
pub fn check(commit: &str, git_ref: &str, branches: &[(String, Ancestry)]) -> Result<()> {
    if branches.iter().any(|(_, ancestry)| *ancestry == Ancestry::Contains) {
        return Ok(());
    }
    let names: Vec<String> = branches.iter().map(|(branch, _)| format!("origin/{branch}")).collect();
    if branches.iter().all(|(_, ancestry)| *ancestry == Ancestry::Missing) {
        bail!(
            "cannot tell whether commit {commit} of {git_ref} is on a release branch: {} not fetched. Check out \
             with every branch (actions/checkout `fetch-depth: 0`)",
            names.join(", ")
        );
    }
    bail!(
        "commit {commit} of {git_ref} is not on a release branch ({}): a release publishes only reviewed \
         commits of release-branches in [workspace.metadata.xtask]. Tag a commit of a release branch (delete \
         this tag: `git push origin :{git_ref}`), or add its branch to release-branches in the root Cargo.toml",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branches(list: &[(&str, Ancestry)]) -> Vec<(String, Ancestry)> {
        list.iter().map(|(b, a)| (b.to_string(), *a)).collect()
    }

    #[test]
    fn one_release_branch_containing_the_commit_is_enough() {
        let tag = "refs/tags/v1.2.3";
        check("abc", tag, &branches(&[("main", Ancestry::Contains)])).unwrap();
        check("abc", tag, &branches(&[("main", Ancestry::Lacks), ("release/1.x", Ancestry::Contains)])).unwrap();
        check("abc", tag, &branches(&[("main", Ancestry::Missing), ("release/1.x", Ancestry::Contains)])).unwrap();
    }

    #[test]
    fn a_commit_on_no_release_branch_is_refused_naming_the_fix() {
        let tag = "refs/tags/v1.2.3";
        let err = check("abc", tag, &branches(&[("main", Ancestry::Lacks), ("release/1.x", Ancestry::Missing)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("commit abc of refs/tags/v1.2.3 is not on a release branch"), "{err}");
        assert!(err.contains("origin/main, origin/release/1.x") && err.contains("release-branches"), "{err}");
        let err = check("abc", tag, &branches(&[("main", Ancestry::Missing)])).unwrap_err().to_string();
        assert!(err.contains("origin/main not fetched") && err.contains("fetch-depth: 0"), "{err}");
        assert!(check("abc", tag, &[]).is_err(), "no release branch at all");
        assert_eq!(remote_ref("release/1.x"), "refs/remotes/origin/release/1.x");
    }
}
