//! `cargo xtask build`: one `docker buildx build` per image over all its platforms, exported as a
//! reproducible OCI archive (timestamps rewritten to the commit time), loaded into the engine, and
//! written to the build record. Crates are vendored on the host and given to the build as a named
//! context, so the compile runs with `--network=none`; arm64 is cross-compiled, not emulated.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::console;
use crate::rules::plan::{ImagePlan, Plan};
use crate::steps::build_record::{BuildRecord, BuiltImage, BuiltPlatform};
use crate::tools::docker::{self, Buildx};
use crate::tools::oci;

/// How the build step runs, beyond what the plan decides.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub builder: Option<String>,
}

/// Builds and loads every image of the plan and writes the build record.
pub fn build_all(sh: &Shell, plan: &Plan, settings: &Settings) -> Result<BuildRecord> {
    docker::require_engine(sh)?;
    let root = sh.current_dir();
    let vendor = vendor_crates(sh, &root)?;
    let mut images = Vec::new();
    for image in &plan.images {
        let out = image_dir(&root, &image.name);
        std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
        let archive = out.join("image.oci.tar");
        build_image(sh, plan, image, settings, &vendor, (&archive, Variant::Image), &[])?;
        let index = oci::read_archive(sh, &archive)?;
        check_platforms(image, &index)?;
        let provenance = record_provenance(sh, plan, image, settings, &vendor, &out, &index)?;
        docker::load(sh, &archive)?;
        console::progress!("    {} {} ({})", image.local_ref, index.index_digest, image.platforms.join(", "));
        images.push(BuiltImage {
            name: image.name.clone(),
            local_ref: image.local_ref.clone(),
            index_digest: index.index_digest,
            platforms: index
                .manifests
                .into_iter()
                .zip(provenance)
                .map(|(m, provenance)| BuiltPlatform {
                    platform: m.platform,
                    digest: m.digest,
                    labels: m.labels,
                    provenance,
                })
                .collect(),
            archive,
        });
    }
    let record = BuildRecord {
        schema_version: crate::steps::build_record::SCHEMA_VERSION,
        version: plan.version.to_string(),
        git_sha: plan.git.sha.clone(),
        images,
    };
    let path = record.write(&root)?;
    console::progress!("    build record: {}", path.display());
    Ok(record)
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

/// Times one build of `image` (into a scratch archive, not loaded), for `cargo xtask bench`.
pub fn measure(
    sh: &Shell,
    plan: &Plan,
    image: &ImagePlan,
    variant: Variant,
    extra_build_args: &[(&str, &str)],
) -> Result<std::time::Duration> {
    let root = sh.current_dir();
    let vendor = vendor_crates(sh, &root)?;
    let archive = root.join("target/xtask/bench/measure.oci.tar");
    std::fs::create_dir_all(archive.parent().unwrap_or(&root))?;
    let started = std::time::Instant::now();
    build_image(sh, plan, image, &Settings::default(), &vendor, (&archive, variant), extra_build_args)?;
    Ok(started.elapsed())
}

/// Runs the build again with provenance attestations (every step a cache hit) and writes each
/// platform manifest's provenance predicate next to the archive, in the order of `index.manifests`.
fn record_provenance(
    sh: &Shell,
    plan: &Plan,
    image: &ImagePlan,
    settings: &Settings,
    vendor: &Path,
    out: &Path,
    index: &oci::ArchiveIndex,
) -> Result<Vec<PathBuf>> {
    let attested = out.join("provenance.oci.tar");
    build_image(sh, plan, image, settings, vendor, (&attested, Variant::Provenance), &[])?;
    let mut statements = oci::read_attestations(sh, &attested, SLSA_PROVENANCE_V02)?;
    let mut paths = Vec::new();
    for manifest in &index.manifests {
        let Some(mut statement) = statements.remove(&manifest.digest) else {
            bail!(
                "the build with provenance produced a different {} manifest than {}: the build is not reproducible (try `cargo xtask build --check-reproducible`)",
                manifest.platform,
                manifest.digest
            );
        };
        let path = out.join(format!("provenance-{}.json", manifest.platform.replace('/', "-")));
        let predicate = statement
            .get_mut("predicate")
            .map(serde_json::Value::take)
            .context("an in-toto statement without predicate")?;
        std::fs::write(&path, serde_json::to_string_pretty(&predicate)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        paths.push(path);
    }
    std::fs::remove_file(&attested).ok();
    Ok(paths)
}

const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";

fn image_dir(root: &Path, name: &str) -> PathBuf {
    root.join("target/xtask/build").join(name)
}

/// `cargo vendor` on the host (which has the registry credentials and CA) for a hermetic build.
pub fn vendor_crates(sh: &Shell, root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/xtask/vendor");
    cmd!(sh, "cargo vendor --locked --versioned-dirs --quiet {dir}").quiet().ignore_stdout().run().context(
        "`cargo vendor` failed: check that Cargo.lock is committed and up to date (`cargo update --workspace`)",
    )?;
    Ok(dir)
}

fn build_image(
    sh: &Shell,
    plan: &Plan,
    image: &ImagePlan,
    settings: &Settings,
    vendor: &Path,
    (archive, variant): (&Path, Variant),
    extra_build_args: &[(&str, &str)],
) -> Result<()> {
    let no_cache = variant == Variant::Uncached;
    let root = sh.current_dir();
    let label = |key: &str| image.labels.get(key).cloned().unwrap_or_default();
    let build_args = [
        ("VERSION", label("org.opencontainers.image.version")),
        ("VCS_REF", plan.git.sha.clone()),
        ("CREATED", label("org.opencontainers.image.created")),
        ("SOURCE", label("org.opencontainers.image.source")),
        ("LICENSES", label("org.opencontainers.image.licenses")),
    ];
    let mut names = vec![image.local_ref.clone()];
    names.extend(image.versioned_tags.iter().filter(|t| **t != image.local_ref).cloned());
    // A local cache directory that does not exist yet is no cache to import.
    let cache_from = if no_cache {
        Vec::new()
    } else {
        image.cache_from.iter().filter(|c| local_cache_exists(&root, c)).cloned().collect()
    };
    docker::buildx_build(
        sh,
        &Buildx {
            builder: settings.builder.as_deref(),
            dockerfile: &root.join(&image.dockerfile),
            context: &root.join(&image.context),
            target: image.target.as_deref(),
            platforms: &image.platforms,
            build_contexts: vec![format!("vendor={}", vendor.display())],
            build_args: build_args
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .chain(extra_build_args.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .collect(),
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
            source_date_epoch: plan.source_date_epoch,
        },
    )
    .with_context(|| format!("building image {}", image.name))
}

fn local_cache_exists(root: &Path, cache_from: &str) -> bool {
    match cache_from.split(',').find_map(|kv| kv.strip_prefix("src=")) {
        Some(src) if cache_from.starts_with("type=local") => root.join(src).join("index.json").exists(),
        _ => true,
    }
}

fn check_platforms(image: &ImagePlan, index: &oci::ArchiveIndex) -> Result<()> {
    let mut built: Vec<&str> = index.manifests.iter().map(|m| m.platform.as_str()).collect();
    let mut planned: Vec<&str> = image.platforms.iter().map(String::as_str).collect();
    built.sort_unstable();
    planned.sort_unstable();
    if built != planned {
        bail!("image {} was planned for {planned:?} but the build produced {built:?}", image.name);
    }
    Ok(())
}

/// Rebuilds every image from scratch and compares index digests with the record.
pub fn check_reproducible(sh: &Shell, plan: &Plan, settings: &Settings, record: &BuildRecord) -> Result<()> {
    let root = sh.current_dir();
    let vendor = root.join("target/xtask/vendor");
    let mut differing = Vec::new();
    for (image, built) in plan.images.iter().zip(&record.images) {
        let archive = image_dir(&root, &image.name).join("rebuild.oci.tar");
        build_image(sh, plan, image, settings, &vendor, (&archive, Variant::Uncached), &[])?;
        let again = oci::read_archive(sh, &archive)?;
        if again.index_digest == built.index_digest {
            console::progress!("    {}: reproducible ({})", image.name, built.index_digest);
        } else {
            differing
                .push(format!("{}: first build {}, rebuild {}", image.name, built.index_digest, again.index_digest));
        }
    }
    if !differing.is_empty() {
        bail!("the rebuild without cache is not bit-for-bit identical:\n  {}", differing.join("\n  "));
    }
    Ok(())
}
