//! `cargo xtask build`: one `docker buildx build` per image over all its platforms, exported as a
//! reproducible OCI archive (timestamps rewritten to the commit time), loaded into the engine, and
//! written to the build record. Crates are vendored on the host and given to the build as a named
//! context, so the compile runs with `--network=none`; arm64 is cross-compiled, not emulated. An
//! image over its size budget (`max-size`) fails the step, so nothing of it is ever pushed.

use std::borrow::Cow;

use anyhow::{anyhow, bail, Context, Result};
use xshell::Shell;

use crate::console;
use crate::rules::plan::{ImagePlan, Plan};
use crate::rules::size_budget;
use crate::steps::build_record::{BuildRecord, BuiltImage, BuiltPlatform};
use crate::steps::build_reuse::{self, Decision};
use crate::steps::buildx_run::{build_image, image_dir};
pub use crate::steps::buildx_run::{Settings, Variant};
use crate::steps::provenance::record_provenance;
pub use crate::steps::sources::{prepare_sources, Sources};
use crate::steps::{parallel, sources};
use crate::tools::docker;
use crate::tools::{doctor, oci, said, toolset};

/// Builds and loads every image of the plan, all at once (the engine schedules their steps), and
/// writes the build record. A failure names the image; every image's failure is reported.
pub fn build_all(sh: &Shell, plan: &Plan, settings: &Settings) -> Result<BuildRecord> {
    let settings = &*probed(sh, settings)?;
    let root = sh.current_dir();
    let out_dir = root.join(&plan.out_dir);
    let gathered = sources::gather(sh, &plan.images)?;
    let identities = build_reuse::identities(sh, plan, settings, &gathered)?;
    let mut decisions = build_reuse::decide(sh, (plan, &out_dir), &identities, settings.rebuild)?;
    let to_build: Vec<&str> = plan
        .images
        .iter()
        .filter(|image| !matches!(decisions.get(&image.name), Some(Decision::Reuse(_))))
        .map(|image| image.name.as_str())
        .collect();
    let sources = match to_build.is_empty() {
        true => None,
        false => Some(sources::materialize(sh, (&root, &out_dir), &gathered, &to_build)?),
    };
    let built_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let jobs: Vec<(&ImagePlan, Option<Decision>)> =
        plan.images.iter().map(|image| (image, decisions.remove(&image.name))).collect();
    let results = parallel::all(sh, &jobs, |sh, (image, decision)| match (decision, &sources) {
        (Some(Decision::Reuse(recorded)), _) => {
            let since = if recorded.built_at.is_empty() { "an earlier build" } else { &recorded.built_at };
            console::progress!("    {}: unchanged since {since}, {}", image.name, recorded.index_digest);
            Ok(BuiltImage { reused: true, ..(**recorded).clone() })
        }
        (decision, Some(sources)) => {
            if let Some(Decision::Build(why)) = decision {
                console::progress!("    {}: building ({why})", image.name);
            }
            let built = build_and_load(sh, plan, image, settings, sources)?;
            let identity = identities.get(&image.name).cloned().unwrap_or_default();
            Ok(BuiltImage { inputs: identity, built_at: built_at.clone(), reused: false, ..built })
        }
        (_, None) => Err(anyhow!("no sources were prepared for {}", image.name)),
    });
    let images = every_built(plan, results)?;
    let record = BuildRecord {
        schema_version: crate::steps::build_record::SCHEMA_VERSION,
        version: plan.version.to_string(),
        git_sha: plan.git.sha.clone(),
        images,
    };
    let path = record.write(&out_dir)?;
    console::progress!("    build record: {}", path.display());
    within_budgets(plan, &record)?;
    Ok(record)
}

/// Every image within its size budget (`max-size`), checked once the record is written (a rerun of
/// the same commit reuses the build and fails alike): one error naming each platform over its budget.
fn within_budgets(plan: &Plan, record: &BuildRecord) -> Result<()> {
    let mut over = Vec::new();
    for (image, built) in plan.images.iter().zip(&record.images) {
        let sizes: Vec<(&str, u64)> = built.platforms.iter().map(|p| (p.platform.as_str(), p.size)).collect();
        if let Some(budget) = image.max_size {
            let sizes = sizes.iter().map(|(p, size)| format!("{p} {}", size_budget::human(*size)));
            console::progress!(
                "    {}: {} (max-size {})",
                image.name,
                sizes.collect::<Vec<_>>().join(", "),
                size_budget::human(budget)
            );
        }
        if let Err(error) = size_budget::check(&image.name, image.max_size, &sizes) {
            over.push(format!("{error:#}"));
        }
    }
    if !over.is_empty() {
        bail!("{}", over.join("\n"));
    }
    Ok(())
}

/// `settings` with the tools' capabilities: as preflight probed them (it checked the engine too),
/// or, run alone, probed here once the engine answers.
fn probed<'s>(sh: &Shell, settings: &'s Settings) -> Result<Cow<'s, Settings>> {
    if settings.capabilities.is_some() {
        return Ok(Cow::Borrowed(settings));
    }
    said::forget();
    doctor::require_engine(sh)?;
    Ok(Cow::Owned(Settings { capabilities: Some(toolset::probe(sh)?), ..settings.clone() }))
}

/// Every image built (`results`, in the plan's order), or one error naming each image that failed.
fn every_built(plan: &Plan, results: Vec<Result<BuiltImage>>) -> Result<Vec<BuiltImage>> {
    let mut images = Vec::new();
    let mut failures = Vec::new();
    for (image, result) in plan.images.iter().zip(results) {
        match result {
            Ok(built) => images.push(built),
            Err(error) => failures.push(format!("image {}: {error:#}", image.name)),
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(images)
}

/// One image: built into its archive, checked, its provenance taken, loaded into the engine.
fn build_and_load(
    sh: &Shell,
    plan: &Plan,
    image: &ImagePlan,
    settings: &Settings,
    sources: &Sources,
) -> Result<BuiltImage> {
    let root = sh.current_dir();
    let out = image_dir(&root.join(&plan.out_dir), &image.name);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let archive = out.join("image.oci.tar");
    let started = std::time::Instant::now();
    console::progress!(
        "    building {} for {} (log: {})",
        image.name,
        image.platforms.join(", "),
        out.join("build.log").display()
    );
    let extra: Vec<(&str, &str)> = settings.build_args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    build_image(sh, plan, image, settings, sources, (&archive, Variant::Image), &extra)?;
    let compiled = compiled_crates(&std::fs::read_to_string(out.join("build.log")).unwrap_or_default());
    let index = oci::read_archive(sh, &archive)?;
    check_platforms(image, &index)?;
    let provenance = record_provenance(sh, plan, image, settings, sources, &out, &index)?;
    docker::load(sh, &archive)?;
    console::progress!(
        "    {} {} ({}) in {:.1}s, {}",
        image.local_ref,
        index.index_digest,
        image.platforms.join(", "),
        started.elapsed().as_secs_f64(),
        match compiled.len() {
            0 => "nothing compiled (all cached)".to_owned(),
            n => format!("{n} crate compile(s): {}", summarize(&compiled)),
        }
    );
    Ok(BuiltImage {
        name: image.name.clone(),
        version: image.version.to_string(),
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
                healthcheck: m.healthcheck,
                user: m.user,
                size: m.size,
                provenance,
            })
            .collect(),
        archive,
        inputs: Default::default(),
        built_at: String::new(),
        reused: false,
    })
}

/// The crates a build log says were compiled (`Compiling name vX.Y.Z` lines, one per platform).
pub fn compiled_crates(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find("Compiling ")? + "Compiling ".len()..];
            let mut words = rest.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .collect()
}

/// `beacon v0.1.0 ×2, itoa v1.0.11` — each crate once, with how many platforms compiled it.
fn summarize(compiled: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for name in compiled {
        match counts.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    let shown: Vec<String> = counts
        .iter()
        .take(6)
        .map(|(name, count)| if *count > 1 { format!("{name} ×{count}") } else { (*name).to_owned() })
        .collect();
    let more = if counts.len() > 6 { format!(" and {} more", counts.len() - 6) } else { String::new() };
    format!("{}{more}", shown.join(", "))
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
    let sources = prepare_sources(sh, (&root, &root.join(&plan.out_dir)), std::slice::from_ref(image))?;
    let archive = root.join("target/xtask/bench/measure.oci.tar");
    std::fs::create_dir_all(archive.parent().unwrap_or(&root))?;
    let started = std::time::Instant::now();
    build_image(sh, plan, image, &Settings::default(), &sources, (&archive, variant), extra_build_args)?;
    Ok(started.elapsed())
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
    let out = root.join(&plan.out_dir);
    let sources = prepare_sources(sh, (&root, &out), &plan.images)?;
    let mut differing = Vec::new();
    for (image, built) in plan.images.iter().zip(&record.images) {
        let archive = image_dir(&out, &image.name).join("rebuild.oci.tar");
        build_image(sh, plan, image, settings, &sources, (&archive, Variant::Uncached), &[])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_crates_are_read_from_the_plain_build_log() {
        let log = "#14 [linux/arm64 build 3/3] RUN cargo auditable build\n\
                   #14 0.412    Compiling beacon v0.0.0 (/src/crates/beacon)\n\
                   #15 0.398    Compiling beacon v0.0.0 (/src/crates/beacon)\n\
                   #16 0.398    Compiling itoa v1.0.11\n\
                   #17 CACHED\n";
        let compiled = compiled_crates(log);
        assert_eq!(compiled, ["beacon v0.0.0", "beacon v0.0.0", "itoa v1.0.11"]);
        assert_eq!(summarize(&compiled), "beacon v0.0.0 ×2, itoa v1.0.11");
        assert!(compiled_crates("#3 CACHED\n").is_empty());
    }
}
