//! Where a retraction cannot delete a floating tag, it refuses before changing anything, and says
//! what to do instead (pure).
//!
//! Deleting a tag (`tools::untag`) points it at a placeholder manifest and deletes that manifest:
//! it needs the registry API's manifest DELETE. ghcr.io answers it with 405 (a tag goes only with
//! its package version, through the GitHub Packages API or UI) and so does Docker Hub (tags are
//! deleted through Hub's own API or UI); a self-hosted registry may have deletes turned off
//! (`registry:2`: `storage.delete.enabled: false`, also 405). Those two hosts are known here, so
//! even the dry run refuses; any other registry is probed before the executed run changes a tag (a
//! placeholder pushed by digest, untagged, then deleted). Left behind otherwise: a tag on an empty
//! placeholder image, a retraction half done.

use anyhow::{bail, Result};

use crate::rules::retract::{Action, RepositoryPlan};

/// Why `registry` cannot delete a tag through the registry API, for the hosts known to refuse.
pub fn known_refusal(registry: &str) -> Option<String> {
    match registry {
        "ghcr.io" => Some(
            "ghcr.io refuses tag deletion through the registry API (a manifest DELETE answers 405): a tag \
             goes only with its package version (GitHub's UI, or `gh api -X DELETE \
             /orgs/OWNER/packages/container/NAME/versions/ID`)"
                .to_owned(),
        ),
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => Some(
            "Docker Hub refuses tag deletion through the registry API (a manifest DELETE answers 405): \
             tags are deleted in Docker Hub's web interface or with its API (`DELETE \
             https://hub.docker.com/v2/namespaces/NAMESPACE/repositories/NAME/tags/TAG`)"
                .to_owned(),
        ),
        _ => None,
    }
}

/// The floating tags `plan` must delete (no live release left under them).
pub fn deletions(plan: &RepositoryPlan) -> Vec<&str> {
    plan.changes.iter().filter(|change| change.action == Action::Delete).map(|change| change.tag.as_str()).collect()
}

/// Refuses the retraction when a repository that must delete tags is on a registry that cannot:
/// `refusal(repository)` says why, `None` when it can. Every such repository is named at once.
pub fn check(version: &str, plans: &[RepositoryPlan], refusal: impl Fn(&str) -> Option<String>) -> Result<()> {
    let mut problems = Vec::new();
    for plan in plans {
        let tags = deletions(plan);
        if tags.is_empty() {
            continue;
        }
        if let Some(why) = refusal(&plan.repository) {
            let references: Vec<String> = tags.iter().map(|tag| format!("{}:{tag}", plan.repository)).collect();
            problems.push(format!(
                "{} must be deleted (no live release is left under it), but {why}",
                references.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "cannot retract {version}: nothing was changed.\n  {}\nEither release a fixed version first, so that \
         the retraction moves these tags to it instead of deleting them, then retract {version}; or delete \
         the tags yourself as said above, then retract {version} (a tag that no longer points at it is \
         left alone)",
        problems.join("\n  ")
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::rules::retract::{Change, Current};

    fn plan(repository: &str, actions: &[(&str, Action)]) -> RepositoryPlan {
        RepositoryPlan {
            image: "beacon".into(),
            repository: repository.into(),
            digest: "sha256:aa".into(),
            changes: actions
                .iter()
                .map(|(tag, action)| Change {
                    tag: tag.to_string(),
                    now: Current::At("sha256:aa".into()),
                    action: action.clone(),
                })
                .collect(),
            targets: BTreeMap::new(),
            attested: None,
        }
    }

    fn by_host(repository: &str) -> Option<String> {
        known_refusal(repository.split('/').next().unwrap())
    }

    #[test]
    fn known_hosts_refuse_others_are_probed() {
        assert!(known_refusal("ghcr.io").unwrap().contains("405"));
        assert!(known_refusal("docker.io").unwrap().contains("hub.docker.com"));
        assert_eq!(known_refusal("127.0.0.1:5000"), None);
        assert_eq!(known_refusal("quay.io"), None);
    }

    #[test]
    fn a_deletion_on_a_registry_that_cannot_delete_is_refused_naming_each_tag_and_the_fixes() {
        let v100: semver::Version = "1.0.0".parse().unwrap();
        let plans = [
            plan(
                "ghcr.io/acme/beacon",
                &[("1.1", Action::Delete), ("1", Action::Move(v100.clone())), ("latest", Action::Keep)],
            ),
            plan("docker.io/acme/beacon", &[("1.1", Action::Delete)]),
            plan("quay.io/acme/beacon", &[("1.1", Action::Delete)]),
        ];
        let err = check("1.1.0", &plans, by_host).unwrap_err().to_string();
        assert!(err.contains("cannot retract 1.1.0: nothing was changed"), "{err}");
        assert!(err.contains("ghcr.io/acme/beacon:1.1 must be deleted") && err.contains("gh api -X DELETE"), "{err}");
        assert!(err.contains("docker.io/acme/beacon:1.1 must be deleted"), "{err}");
        assert!(!err.contains("quay.io") && !err.contains("beacon:1 ") && !err.contains(":latest"), "{err}");
        assert!(err.contains("release a fixed version first"), "{err}");
    }

    #[test]
    fn moves_and_kept_tags_need_no_deletion() {
        let v100: semver::Version = "1.0.0".parse().unwrap();
        let plans = [plan("ghcr.io/acme/beacon", &[("1", Action::Move(v100)), ("latest", Action::Keep)])];
        check("1.1.0", &plans, by_host).unwrap();
        check("1.1.0", &[plan("quay.io/acme/beacon", &[("1.1", Action::Delete)])], by_host).unwrap();
    }
}
