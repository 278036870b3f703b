//! What each image's build gets from the plan besides its sources: where buildx imports and exports
//! its cache, the system libraries it links, its builder, and the run's state directory (part of
//! `rules::plan`).

use anyhow::Result;

use super::Inputs;
use crate::rules::config::ImageConfig;
use crate::rules::dependency_graph::Graph;
use crate::rules::reference::rewrite_registry;
use crate::rules::system_libraries::{self, SystemLibraries};
use crate::rules::toolchain::{self, BuilderChoice};

/// The system libraries of image `name`, from its dependency graph (none read: nothing detected).
pub(super) fn system_libraries(inputs: &Inputs, name: &str, image: &ImageConfig) -> SystemLibraries {
    let graph = inputs.dependency_graphs.get(name).cloned().unwrap_or_else(|| Ok(Graph::default()));
    system_libraries::decide(name, &graph, image.system_packages.as_deref())
}

/// The builder of image `name`: what its package and the dependencies its build compiles ask for
/// (a graph that could not be read is the plan's problem already, shown by the system libraries).
pub(super) fn builder(inputs: &Inputs, name: &str, package: &str) -> BuilderChoice {
    let rust_versions = match inputs.dependency_graphs.get(name) {
        Some(Ok(graph)) => graph.rust_versions.clone(),
        _ => Default::default(),
    };
    toolchain::choose(&inputs.toolchain, inputs.config.builder.as_ref(), (name, package), &rust_versions)
}

/// buildx cache import/export for `image`: a registry cache when configured, the GitHub Actions
/// cache in CI, else none beyond the engine's own build cache (a local export would copy the whole
/// cache, toolchains included, on every build for nothing the engine does not already keep).
/// Exports never fail a build.
pub(super) fn cache_refs(image: &str, inputs: &Inputs) -> Result<(Vec<String>, Vec<String>)> {
    // zstd level 1: the toolchain layers dominate the cache, and gzip takes three times as long to export them.
    let export = "mode=max,ignore-error=true,compression=zstd,compression-level=1";
    if let Some(prefix) = &inputs.config.cache.registry {
        let prefix = match &inputs.registry {
            Some(registry) => rewrite_registry(prefix, registry)?,
            None => prefix.clone(),
        };
        let reference = format!("{prefix}/{image}:buildcache");
        return Ok((
            vec![format!("type=registry,ref={reference}")],
            vec![format!("type=registry,ref={reference},{export}")],
        ));
    }
    if inputs.ci.gha_cache {
        return Ok((vec![format!("type=gha,scope={image}")], vec![format!("type=gha,scope={image},{export}")]));
    }
    Ok((Vec::new(), Vec::new()))
}

/// `target/xtask`, or `target/xtask/image-<names sorted, joined by +>` for a selection of images.
pub(super) fn out_dir(only_images: &[String]) -> String {
    if only_images.is_empty() {
        return "target/xtask".to_owned();
    }
    let mut names = only_images.to_vec();
    names.sort();
    names.dedup();
    format!("target/xtask/image-{}", names.join("+"))
}
