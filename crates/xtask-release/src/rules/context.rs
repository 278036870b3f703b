//! Which kind of build this is: a local run, a pull request, a branch, the edge branch or a
//! release tag. Pure: decided from `--ref`, else GitHub Actions' variables, else the local clone.
//!
//! The kind decides what gets pushed (see `tags`), so an unknown ref is an error rather than a
//! guess.

use anyhow::{bail, Result};
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::rules::versioning::Versioning;

/// The GitHub Actions variables that say what triggered a CI run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CiEnv {
    /// `GITHUB_ACTIONS=true`.
    pub github_actions: bool,
    /// The GitHub Actions cache service is reachable from this step (`ACTIONS_RUNTIME_TOKEN` and
    /// `ACTIONS_CACHE_URL`/`ACTIONS_RESULTS_URL` exported, e.g. by crazy-max/ghaction-github-runtime):
    /// only then can buildx use `type=gha`.
    pub gha_cache: bool,
    /// `GITHUB_EVENT_NAME`, e.g. `push`, `pull_request`.
    pub event_name: Option<String>,
    /// `GITHUB_REF`, e.g. `refs/tags/v1.2.3`, `refs/heads/main`, `refs/pull/7/merge`.
    pub git_ref: Option<String>,
}

/// The kind of build, as the plan JSON spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Local,
    PullRequest,
    Branch,
    Edge,
    Tag,
}

/// What triggered the build, with what the tag rules need to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A run on a developer machine with no release tag at HEAD: a release of the workspace version.
    Local,
    /// A pull request; the number when the ref carries it.
    PullRequest { number: Option<u64> },
    /// A branch other than the edge branch.
    Branch,
    /// The edge branch.
    Edge,
    /// A `vX.Y.Z` release tag.
    Tag(Version),
}

/// The decided context and the ref it was decided from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildContext {
    pub trigger: Trigger,
    /// The package a release tag names (`tool-v1.2.3` in independent versioning); `None` when the
    /// tag names no package (`v1.2.3`) or the context is no tag.
    pub package: Option<String>,
    /// The full git ref (`refs/tags/v1.2.3`), or `HEAD` for a local run on a detached HEAD.
    pub git_ref: String,
}

impl BuildContext {
    pub fn kind(&self) -> Kind {
        match self.trigger {
            Trigger::Local => Kind::Local,
            Trigger::PullRequest { .. } => Kind::PullRequest,
            Trigger::Branch => Kind::Branch,
            Trigger::Edge => Kind::Edge,
            Trigger::Tag(_) => Kind::Tag,
        }
    }
}

/// What the local clone contributes when neither `--ref` nor CI says anything.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalHead<'a> {
    pub branch: Option<&'a str>,
    pub tags_at_head: &'a [String],
}

/// Decides the context: `--ref` wins, then GitHub Actions' variables, then the local clone (where a
/// `v*` tag on HEAD makes it a tag release).
#[cfg(test)]
pub fn resolve(ref_override: Option<&str>, ci: &CiEnv, head: LocalHead, edge_branch: &str) -> Result<BuildContext> {
    resolve_with(ref_override, ci, head, edge_branch, (&Versioning::default(), &[]))
}

/// `resolve` with the release tags of `versioning` (its tag pattern), naming one of `packages`.
pub fn resolve_with(
    ref_override: Option<&str>,
    ci: &CiEnv,
    head: LocalHead,
    edge_branch: &str,
    tags: (&Versioning, &[String]),
) -> Result<BuildContext> {
    let (versioning, packages) = tags;
    let parse = |tag: &str| versioning.parse_tag(packages, tag).map(|(package, v)| (package.map(str::to_owned), v));
    let from_ref = |git_ref: &str| from_ref(git_ref, edge_branch, &parse, versioning.tag_pattern.as_str());
    if let Some(git_ref) = ref_override {
        return from_ref(git_ref);
    }
    if ci.github_actions {
        let Some(git_ref) = ci.git_ref.as_deref().filter(|r| !r.is_empty()) else {
            bail!("GITHUB_ACTIONS is set but GITHUB_REF is not: pass --ref refs/… to say what is built");
        };
        // pull_request_target runs with the base branch's ref: never treat it as an edge build.
        let is_pull_request = ci.event_name.as_deref().is_some_and(|event| event.starts_with("pull_request"));
        if is_pull_request {
            let number = pull_request_number(git_ref);
            return Ok(BuildContext {
                trigger: Trigger::PullRequest { number },
                package: None,
                git_ref: git_ref.to_owned(),
            });
        }
        return from_ref(git_ref);
    }
    if let Some((tag, (package, version))) = head.tags_at_head.iter().find_map(|tag| Some((tag, parse(tag)?))) {
        return Ok(BuildContext { trigger: Trigger::Tag(version), package, git_ref: format!("refs/tags/{tag}") });
    }
    let git_ref = head.branch.map_or_else(|| "HEAD".to_owned(), |branch| format!("refs/heads/{branch}"));
    Ok(BuildContext { trigger: Trigger::Local, package: None, git_ref })
}

type ParseTag<'a> = dyn Fn(&str) -> Option<(Option<String>, Version)> + 'a;

fn from_ref(git_ref: &str, edge_branch: &str, parse: &ParseTag, pattern: &str) -> Result<BuildContext> {
    let mut package = None;
    let trigger = if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        let Some((named, version)) = parse(tag) else {
            let shape = if pattern == "v{version}" { "vX.Y.Z[-PRE]".to_owned() } else { format!("{pattern:?}") };
            bail!("{git_ref} is not a release tag: release tags are named {shape} (made by `cargo xtask version bump … --tag`)");
        };
        package = named;
        Trigger::Tag(version)
    } else if let Some(branch) = git_ref.strip_prefix("refs/heads/").filter(|b| !b.is_empty()) {
        if branch == edge_branch {
            Trigger::Edge
        } else {
            Trigger::Branch
        }
    } else if let Some(number) = pull_request_number(git_ref) {
        Trigger::PullRequest { number: Some(number) }
    } else {
        bail!("unsupported ref {git_ref:?}: pass refs/tags/vX.Y.Z, refs/heads/BRANCH or refs/pull/N/merge");
    };
    Ok(BuildContext { trigger, package, git_ref: git_ref.to_owned() })
}

/// `N` in `refs/pull/N/merge` or `refs/pull/N/head`.
fn pull_request_number(git_ref: &str) -> Option<u64> {
    let rest = git_ref.strip_prefix("refs/pull/")?;
    let (number, suffix) = rest.split_once('/')?;
    matches!(suffix, "merge" | "head").then(|| number.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(event: &str, git_ref: &str) -> CiEnv {
        CiEnv {
            github_actions: true,
            event_name: Some(event.into()),
            git_ref: Some(git_ref.into()),
            ..CiEnv::default()
        }
    }

    #[test]
    fn contexts() {
        let v = |text| Version::parse(text).unwrap();
        let tagged = ["v1.2.3".to_string(), "other".to_string()];
        let on_main = LocalHead { branch: Some("main"), tags_at_head: &[] };
        let cases: Vec<(Option<&str>, CiEnv, LocalHead, Trigger, &str)> = vec![
            (None, CiEnv::default(), on_main, Trigger::Local, "refs/heads/main"),
            (None, CiEnv::default(), LocalHead::default(), Trigger::Local, "HEAD"),
            (
                None,
                CiEnv::default(),
                LocalHead { branch: None, tags_at_head: &tagged },
                Trigger::Tag(v("1.2.3")),
                "refs/tags/v1.2.3",
            ),
            (Some("refs/tags/v1.2.3"), CiEnv::default(), on_main, Trigger::Tag(v("1.2.3")), "refs/tags/v1.2.3"),
            (Some("refs/heads/main"), CiEnv::default(), on_main, Trigger::Edge, "refs/heads/main"),
            (Some("refs/heads/feature/x"), CiEnv::default(), on_main, Trigger::Branch, "refs/heads/feature/x"),
            (
                Some("refs/pull/7/merge"),
                CiEnv::default(),
                on_main,
                Trigger::PullRequest { number: Some(7) },
                "refs/pull/7/merge",
            ),
            (
                Some("refs/heads/main"),
                ci("pull_request", "refs/pull/7/merge"),
                on_main,
                Trigger::Edge,
                "refs/heads/main",
            ),
            (
                None,
                ci("push", "refs/tags/v2.0.0-rc.1"),
                on_main,
                Trigger::Tag(v("2.0.0-rc.1")),
                "refs/tags/v2.0.0-rc.1",
            ),
            (None, ci("push", "refs/heads/main"), on_main, Trigger::Edge, "refs/heads/main"),
            (
                None,
                ci("pull_request", "refs/pull/12/merge"),
                on_main,
                Trigger::PullRequest { number: Some(12) },
                "refs/pull/12/merge",
            ),
            (
                None,
                ci("pull_request_target", "refs/heads/main"),
                on_main,
                Trigger::PullRequest { number: None },
                "refs/heads/main",
            ),
            (None, ci("workflow_dispatch", "refs/heads/dev"), on_main, Trigger::Branch, "refs/heads/dev"),
        ];
        for (ref_override, ci, head, trigger, git_ref) in cases {
            let context = resolve(ref_override, &ci, head, "main").unwrap();
            assert_eq!((&context.trigger, context.git_ref.as_str()), (&trigger, git_ref), "{ref_override:?} {ci:?}");
        }
    }

    #[test]
    fn unknown_refs_are_errors() {
        let head = LocalHead::default();
        for (git_ref, message) in [
            ("refs/tags/release-1", "not a release tag"),
            ("refs/tags/v1.2", "not a release tag"),
            ("refs/pull/x/merge", "unsupported ref"),
            ("main", "unsupported ref"),
            ("refs/heads/", "unsupported ref"),
        ] {
            let error = resolve(Some(git_ref), &CiEnv::default(), head, "main").unwrap_err();
            assert!(error.to_string().contains(message), "{git_ref}: {error}");
        }
        let no_ref = CiEnv { github_actions: true, ..CiEnv::default() };
        assert!(resolve(None, &no_ref, head, "main").unwrap_err().to_string().contains("GITHUB_REF"));
    }
}
