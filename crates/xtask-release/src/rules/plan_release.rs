//! One package's release in a plan, pure: its version, release tag and Docker tags — the workspace's
//! with today's checks in lockstep versioning, the package's own (checked against its own release
//! and retraction tags, floating tags decided from them) in independent versioning.

use anyhow::{bail, Result};
use semver::Version;

use super::Inputs;
use crate::rules::context::{BuildContext, Trigger};
use crate::rules::tags::{self, Tags};
use crate::rules::versioning::{Mode, TagPattern};

/// One package's release in this context: its version, release tag and Docker tags.
pub(super) struct PackageRelease {
    pub version: Version,
    pub release_tag: String,
    pub tags: Tags,
    pub local_tag: String,
}

/// The release of `package`: in lockstep the workspace's, with today's checks; in independent
/// mode its own version, checked against its own release tags, floating tags decided from them.
pub(super) fn package_release(inputs: &Inputs, context: &BuildContext, package: &str) -> Result<PackageRelease> {
    let Inputs { git, versioning, .. } = inputs;
    let version = versioning.version_of(package, &inputs.version).clone();
    let release_tag = versioning.release_tag(package, &version);
    let tags = match (versioning.mode, versioning.tag_pattern) {
        (Mode::Lockstep, TagPattern::V) => {
            tags::check_release_tags(&version, &context.trigger, &git.tags_at_head)?;
            tags::check_not_retracted(&version, &context.trigger, &git.retracted_tags)?;
            tags::tags_for(&context.trigger, &version, &git.release_tags, &git.retracted_tags, &git.sha)?
        }
        _ => {
            if let Trigger::Tag(tagged) = &context.trigger {
                if *tagged != version {
                    bail!(
                        "the ref {} names {package} {tagged} but crate `{package}` is at version {version}: tag \
                         the commit that sets it (`cargo xtask version -p {package} set {tagged} --commit --tag`)",
                        context.git_ref
                    );
                }
            }
            for tag in &git.tags_at_head {
                if versioning.tag_pattern.version_of(package, tag).is_some_and(|tagged| tagged != version) {
                    bail!(
                        "HEAD carries tag {tag} but crate `{package}` is at version {version}: a release tag \
                         must name the version of its commit; delete the tag (`git tag -d {tag}`) or fix the version"
                    );
                }
            }
            let retraction = versioning.retraction_tag(package, &version);
            tags::check_not_retracted_as(&version, &context.trigger, &retraction, &git.retracted_tags)?;
            let retracted = versioning.retracted(package, &git.retracted_tags);
            let live: Vec<Version> = versioning
                .released(package, &git.release_tags)
                .into_iter()
                .filter(|released| !retracted.contains(released))
                .collect();
            tags::tags_for_live(&context.trigger, &version, &live, &git.sha)?
        }
    };
    let local_tag = tags::local_tag(&context.trigger, &version, &git.sha)?;
    Ok(PackageRelease { version, release_tag, tags, local_tag })
}
