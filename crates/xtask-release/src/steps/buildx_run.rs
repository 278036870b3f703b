//! One `docker buildx build` of an image as the plan says it, in one of its variants (the image
//! itself, the same build with provenance attached, a rebuild without cache, a measurement): the
//! build args, names, labels, caches and contexts it gets, and where its archive and log go.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::rules::plan::{ImagePlan, Plan};
use crate::rules::service;
use crate::rules::toolset::Capabilities;
use crate::steps::sources::Sources;
use crate::tools::docker::{self, Buildx};

/// How the build step runs, beyond what the plan decides.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub builder: Option<String>,
    /// Build args beyond the plan's, given after them so they win (`TOOLCHAIN_PLATFORM`,
    /// `BUILDER_IMAGE`: the slow tier's arm64 build host).
    pub build_args: Vec<(String, String)>,
    /// Build every image even where nothing it is built from changed (`--rebuild`).
    pub rebuild: bool,
    /// What the tools can do (the run's capability probe); probed by `build_all` when `None`.
    pub capabilities: Option<Capabilities>,
}

/// Which build of an image to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The image itself: cached, exports cache, no attestations.
    Image,
    /// The same build with SLSA provenance attached (a cache hit), to take the provenance from.
    Provenance,
    /// The image again without cache, to compare digests.
    Uncached,
    /// For measurements: cached except these Dockerfile stages (`--no-cache-filter`); exports no cache.
    Measure(&'static [&'static str]),
}

/// The buildx metadata of an image's build, beside its archive.
pub const METADATA_FILE: &str = "metadata.json";

pub fn image_dir(out: &Path, name: &str) -> PathBuf {
    out.join("build").join(name)
}

pub fn build_image(
    sh: &Shell,
    plan: &Plan,
    image: &ImagePlan,
    settings: &Settings,
    sources: &Sources,
    (archive, variant): (&Path, Variant),
    extra_build_args: &[(&str, &str)],
) -> Result<()> {
    let no_cache = variant == Variant::Uncached;
    let root = sh.current_dir();
    let extra: Vec<(String, String)> = extra_build_args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let names = image_names(image);
    let cache_from = if no_cache { Vec::new() } else { image.cache_from.clone() };
    let (dockerfile, target) = dockerfile_and_target(&root, archive, image)?;
    docker::buildx_build(
        sh,
        &Buildx {
            builder: settings.builder.as_deref(),
            dockerfile: &dockerfile,
            context: &root.join(&image.context),
            target: target.as_deref(),
            platforms: &image.platforms,
            build_contexts: sources.contexts(image)?,
            build_args: build_args(plan, image, &extra),
            labels: image.labels.clone().into_iter().collect(),
            annotations: image.annotations.clone().into_iter().collect(),
            cache_from,
            cache_to: if variant == Variant::Image { image.cache_to.clone() } else { Vec::new() },
            no_cache,
            no_cache_filter: match variant {
                Variant::Measure(stages) => stages.iter().map(|s| s.to_string()).collect(),
                _ => Vec::new(),
            },
            provenance: variant == Variant::Provenance,
            names: &names,
            archive,
            log: &archive.with_file_name(log_name(archive)),
            source_date_epoch: plan.source_date_epoch,
            metadata_file: match (variant, settings.capabilities) {
                (Variant::Image, Some(c)) if c.provenance_from_history => Some(archive.with_file_name(METADATA_FILE)),
                _ => None,
            }
            .as_deref(),
        },
    )
    .with_context(|| format!("building image {}", image.name))
}

/// Every build arg of an image's build, in the order given (later ones win): the plan's, then `extra`.
/// `PORT` only when the image names one: a Dockerfile of its own keeps its default otherwise.
pub fn build_args(plan: &Plan, image: &ImagePlan, extra: &[(String, String)]) -> Vec<(String, String)> {
    let planned = [
        ("PACKAGE", image.package.clone()),
        ("BIN", image.binary.clone()),
        ("VCS_REF", plan.git.sha.clone()),
        ("BUILDER_IMAGE", image.builder.image.clone()),
        ("TOOLCHAIN", image.builder.toolchain.as_str().to_owned()),
        ("TZDATA", image.tzdata.to_string()),
        ("SYSTEM_PACKAGES", image.system.packages.join(" ")),
        ("LINKAGE", image.system.linkage.as_str().to_owned()),
    ];
    let port = image.service.as_ref().filter(|s| s.port_configured).map(|s| ("PORT", s.port.to_string()));
    let planned = planned.into_iter().chain(port).map(|(k, v)| (k.to_owned(), v));
    planned.chain(extra.iter().cloned()).collect()
}

/// The Dockerfile and target buildx builds: the image's own, or, for a HEALTHCHECK of the image's
/// own (or none), a copy beside `archive` with the stage `rules::service` generates appended (and the
/// Dockerfile's ignore file beside it, where BuildKit looks for it).
fn dockerfile_and_target(root: &Path, archive: &Path, image: &ImagePlan) -> Result<(PathBuf, Option<String>)> {
    let original = root.join(&image.dockerfile);
    let Some(stage) = image.service.as_ref().and_then(|service| service.generated_stage(&image.name)) else {
        return Ok((original, image.target.clone()));
    };
    let text = std::fs::read_to_string(&original).with_context(|| format!("cannot read {}", original.display()))?;
    let generated = archive.with_file_name("Dockerfile");
    let ignore = root.join(format!("{}.dockerignore", image.dockerfile));
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write(&generated, &format!("{text}{stage}"))?;
    match std::fs::read_to_string(&ignore) {
        Ok(rules) => write(&generated.with_file_name("Dockerfile.dockerignore"), &rules)?,
        Err(_) => {
            let _ = std::fs::remove_file(generated.with_file_name("Dockerfile.dockerignore"));
        }
    }
    Ok((generated, Some(service::GENERATED_TARGET.to_owned())))
}

/// The names an image is loaded into the engine under: its local reference, then its versioned tags.
pub fn image_names(image: &ImagePlan) -> Vec<String> {
    let mut names = vec![image.local_ref.clone()];
    names.extend(image.versioned_tags.iter().filter(|t| **t != image.local_ref).cloned());
    names
}

/// The build log beside an archive: `image.oci.tar` → `build.log`, `provenance.oci.tar` →
/// `provenance.log`, `rebuild.oci.tar` → `rebuild.log`.
fn log_name(archive: &Path) -> String {
    let stem = archive.file_name().and_then(|n| n.to_str()).unwrap_or("build").trim_end_matches(".oci.tar");
    if stem == "image" {
        "build.log".to_owned()
    } else {
        format!("{stem}.log")
    }
}
