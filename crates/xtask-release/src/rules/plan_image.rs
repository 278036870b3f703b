//! One image's plan, pure (part of `rules::plan`): the binary it ships, its repositories after
//! `--registry`, every reference it is pushed as, its labels (with the configured annotations), size
//! budget, cache, builder, smoke test, system libraries and service.

use anyhow::{bail, Result};

use super::build::{builder, cache_refs, system_libraries};
use super::release::PackageRelease;
use super::{ImagePlan, Inputs};
use crate::rules::config::ImageConfig;
use crate::rules::dockerfile;
use crate::rules::labels::{self, LabelInputs, PackageMeta};
use crate::rules::reference::rewrite_registry;
use crate::rules::service::Service;
use crate::rules::size_budget;

/// The plan of image `name`, released as `release`.
pub(super) fn compute(inputs: &Inputs, name: &str, image: &ImageConfig, release: &PackageRelease) -> Result<ImagePlan> {
    let (tags, local_tag) = (&release.tags, &release.local_tag);
    let Some(package) = inputs.packages.get(&image.package) else {
        let members: Vec<&String> = inputs.packages.keys().collect();
        bail!(
            "workspace.metadata.xtask.images.{name}.package: no workspace crate named `{}` \
             (members: {members:?}): fix the package name",
            image.package
        );
    };
    let binary = binary(name, image, package)?;
    let repositories = repositories(image, inputs.registry.as_deref())?;
    let references = |tags: &[String]| -> Vec<String> {
        repositories.iter().flat_map(|repository| tags.iter().map(move |tag| format!("{repository}:{tag}"))).collect()
    };
    let versioned_tags = references(&tags.versioned);
    let floating_tags = references(&tags.floating);
    let computed = labels::oci_labels(LabelInputs {
        image: name,
        package,
        version: &release.version,
        revision: &inputs.git.sha,
        commit_time: inputs.git.commit_time,
    });
    let labels = labels::with_overrides(computed, &image.annotations);
    let max_size = match image.max_size.as_deref().map(size_budget::parse_size) {
        Some(Err(problem)) => bail!("workspace.metadata.xtask.images.{name}.max-size: {problem}"),
        parsed => parsed.and_then(Result::ok),
    };
    let (cache_from, cache_to) = cache_refs(name, inputs)?;
    Ok(ImagePlan {
        name: name.to_owned(),
        package: image.package.clone(),
        version: release.version.clone(),
        release_tag: release.release_tag.clone(),
        binary,
        dockerfile: image.dockerfile.clone().unwrap_or_else(|| dockerfile::ENGINE_DOCKERFILE_PATH.to_owned()),
        context: image.context.clone(),
        target: image.target.clone(),
        platforms: image.platforms.iter().map(|platform| platform.as_str().to_owned()).collect(),
        local_ref: format!("{}:{local_tag}", repositories[0]),
        repositories,
        tags: versioned_tags.iter().chain(&floating_tags).cloned().collect(),
        versioned_tags,
        floating_tags,
        annotations: labels.clone(),
        labels,
        max_size,
        cache_from,
        cache_to,
        builder: builder(inputs, name, &image.package),
        smoke: image.smoke.clone(),
        tzdata: image.tzdata,
        system: system_libraries(inputs, name, image),
        service: Service::of(image),
    })
}

/// The binary target image `name` ships: the configured one, or the package's only one.
fn binary(name: &str, image: &ImageConfig, package: &PackageMeta) -> Result<String> {
    Ok(match (&image.binary, package.binaries.as_slice()) {
        (Some(binary), binaries) if binaries.contains(binary) => binary.clone(),
        (Some(binary), binaries) => bail!(
            "workspace.metadata.xtask.images.{name}.binary: crate `{}` has no binary `{binary}` (its binaries: {binaries:?})",
            image.package
        ),
        (None, [only]) => only.clone(),
        (None, []) => bail!(
            "workspace.metadata.xtask.images.{name}.package: crate `{}` has no binary target, so there is nothing to ship: \
             name a crate with a `src/main.rs` or a [[bin]]",
            image.package
        ),
        (None, binaries) => bail!(
            "workspace.metadata.xtask.images.{name}: crate `{}` has several binaries {binaries:?}: say which one the image ships with `binary = \"…\"`",
            image.package
        ),
    })
}

/// The image's repositories, with `--registry` (`registry`) applied, each once.
fn repositories(image: &ImageConfig, registry: Option<&str>) -> Result<Vec<String>> {
    let mut repositories: Vec<String> = Vec::new();
    for repository in &image.repositories {
        let repository = match registry {
            Some(registry) => rewrite_registry(repository, registry)?,
            None => repository.clone(),
        };
        // `--registry` maps `ghcr.io/acme/beacon` and `docker.io/acme/beacon` to the same place.
        if !repositories.contains(&repository) {
            repositories.push(repository);
        }
    }
    Ok(repositories)
}
