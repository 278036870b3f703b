//! The build rows of `cargo xtask bench`, measured on the first configured image (by name): P1
//! no-change rebuild, P2 code-only rebuild ÷ cold build, P3 every platform's cross build ÷ amd64's
//! and arm64 under QEMU ÷ cross, P4 image size, P11 (`compile`) a cold release's build ÷ the raw
//! compile, and P7 the registry cache on an empty engine.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use xshell::Shell;

use super::select::Selection;
use super::{secs, timed_runs, Args, Figures, Row};
use crate::commands::plan;
use crate::commands::rehearsal::Rehearsal;
use crate::rules::config::Platform;
use crate::rules::plan::{ImagePlan, Plan};
use crate::steps::build::{self, compiled_crates, Settings, Variant};
use crate::steps::build_record::BuildRecord;
use crate::tools::{self, cargo, debian, engine, engine_dockerfile, oci};

/// The compile stages of docker/Dockerfile: rebuilt for a cold compile with the toolchain cached.
const COMPILE_STAGES: &[&str] = &["deps", "build"];
/// With `--quick`, only the workspace crate's compile (dependencies cached): every row measured,
/// none of the figures meaningful.
const QUICK_STAGES: &[&str] = &["build"];

/// The plan the rows measure: every image, or with `--quick` only the first.
pub fn plan_for(sh: &Shell, quick: bool) -> Result<Plan> {
    let plan = plan::load(sh, &plan::Options::default())?;
    if !quick {
        return Ok(plan);
    }
    let first = plan.images.first().context("no image configured")?.name.clone();
    plan::load(sh, &plan::Options { images: vec![first], ..Default::default() })
}

/// P1, then of P2 (which P7 divides by), P3 with P3q and P4 with P4n those `--only` asks for: P3q
/// alone is a 20-minute emulated build.
pub fn rows(sh: &Shell, args: &Args, runs: usize, selection: &Selection, figures: &mut Figures) -> Result<Vec<Row>> {
    let plan = plan_for(sh, args.quick)?;
    let image = plan.images.first().context("no image configured")?.clone();
    let asked = |ids: &[&str]| ids.iter().any(|id| selection.shows(id));
    let mut rows = vec![p1_no_change(sh, &plan, runs, figures)?];
    if asked(&["P2", "P7"]) {
        rows.push(p2_code_change(sh, &plan, &image, runs, args.quick, figures)?);
    }
    if asked(&["P3", "P3q"]) {
        rows.extend(p3_platforms(sh, &plan, &image, runs, args.quick, figures)?);
    }
    if asked(&["P4", "P4n"]) {
        rows.extend(p4_size(sh, &plan, &image, args.quick)?);
    }
    if asked(&["P11"]) {
        rows.push(super::compile::p11(sh, &plan, &image, runs, figures)?);
    }
    if asked(&["P11r"]) {
        rows.push(super::compile::p11_gateway(sh, runs, args.quick, figures)?);
    }
    Ok(rows)
}

fn p1_no_change(sh: &Shell, plan: &Plan, runs: usize, figures: &mut Figures) -> Result<Row> {
    build::build_all(sh, plan, &Settings::default())?; // warm: cache filled, images loaded
    let took = timed_runs(runs, |_| {
        let started = Instant::now();
        build::build_all(sh, plan, &Settings::default())?;
        Ok(started.elapsed())
    })?;
    figures.add("no change", took);
    let variants: usize = plan.images.iter().map(|i| i.platforms.len()).sum();
    Ok(Row::new(
        "P1",
        "no-change rebuild of every image and platform: inputs hashed, recorded build and engine image checked, record",
        "≤ 2 s",
        secs(took),
        Some(took <= Duration::from_secs(2)),
    )
    .note(format!("{} images, {variants} variants", plan.images.len())))
}

/// `cargo xtask build` as a developer types it with nothing changed: cargo's freshness check,
/// preflight, the build step and the smoke step (verdicts of unchanged digests reused).
pub fn p1_as_typed(sh: &Shell, runs: usize) -> Result<Row> {
    let typed = || tools::xtask::cargo_xtask(sh, &["build"]);
    typed().context("`cargo xtask build` failed in the bench's copy")?; // compiles the xtask, smoke verdicts
    let took = timed_runs(runs, |_| {
        let started = Instant::now();
        typed()?;
        Ok(started.elapsed())
    })?;
    Ok(Row::new(
        "P1t",
        "`cargo xtask build` as typed, nothing changed (cargo's check, preflight, build, smoke)",
        "≤ 3 s",
        secs(took),
        Some(took <= Duration::from_secs(3)),
    ))
}

/// Appends a comment to the image's binary's main source file: a code change that recompiles it.
pub(super) fn change_code(sh: &Shell, image: &ImagePlan, n: usize) -> Result<()> {
    let main = cargo::load(sh)?.binary_source(&image.package, &image.binary)?;
    let mut text = std::fs::read_to_string(&main).with_context(|| format!("cannot read {}", main.display()))?;
    text.push_str(&format!("// bench edit {n} {:?}\n", Instant::now()));
    std::fs::write(&main, text).with_context(|| format!("cannot write {}", main.display()))
}

fn p2_code_change(
    sh: &Shell,
    plan: &Plan,
    image: &ImagePlan,
    runs: usize,
    quick: bool,
    figures: &mut Figures,
) -> Result<Row> {
    let (cold_variant, cold_name) = if quick {
        (Variant::Measure(QUICK_STAGES), "dependencies cached (--quick)")
    } else {
        (Variant::Uncached, "--no-cache")
    };
    let cold = timed_runs(runs, |_| build::measure(sh, plan, image, cold_variant, &[]))?;
    let code = timed_runs(runs, |n| {
        change_code(sh, image, n)?;
        build::measure(sh, plan, image, Variant::Measure(&[]), &[])
    })?;
    figures.add("cold", cold);
    figures.add("code change", code);
    let ratio = code.as_secs_f64() / cold.as_secs_f64();
    Ok(Row::new(
        "P2",
        "code-only change rebuild ÷ cold build (every platform of the image)",
        "≤ 0.15",
        format!("{ratio:.2} ({} ÷ {})", secs(code), secs(cold)),
        Some(ratio <= 0.15),
    )
    .note(format!("{}: {}; cold = {cold_name}", image.name, image.platforms.join(", "))))
}

fn single_platform(image: &ImagePlan, platform: &str) -> ImagePlan {
    ImagePlan { platforms: vec![platform.to_owned()], ..image.clone() }
}

/// P3: the same compile for every platform the build supports, each cross-compiled from this host.
fn p3_platforms(
    sh: &Shell,
    plan: &Plan,
    image: &ImagePlan,
    runs: usize,
    quick: bool,
    figures: &mut Figures,
) -> Result<Vec<Row>> {
    let compile = Variant::Measure(if quick { QUICK_STAGES } else { COMPILE_STAGES });
    let mut rows = Vec::new();
    let mut amd64 = None;
    let mut arm64 = None;
    for platform in Platform::ALL {
        let name = platform.as_str();
        if quick && !matches!(platform, Platform::LinuxAmd64 | Platform::LinuxArm64) {
            rows.push(Row::not_measured(
                "P3",
                &format!("{name} ÷ linux/amd64 build"),
                "--quick measures amd64 and arm64",
            ));
            continue;
        }
        let took = timed_runs(runs, |_| build::measure(sh, plan, &single_platform(image, name), compile, &[]))?;
        figures.add(format!("P3 {name}"), took);
        let Some(base) = amd64 else {
            amd64 = Some(took);
            rows.push(Row::new("P3", "linux/amd64 build (the baseline)", "-", secs(took), None));
            continue;
        };
        if platform == Platform::LinuxArm64 {
            arm64 = Some(took);
        }
        let ratio = took.as_secs_f64() / base.as_secs_f64();
        rows.push(Row::new(
            "P3",
            &format!("{name} ÷ linux/amd64 build, cross-compiled (dependencies + binary, toolchain cached)"),
            "≤ 1.3",
            format!("{ratio:.2} ({} ÷ {})", secs(took), secs(base)),
            Some(ratio <= 1.3),
        ));
    }
    let arm64 = arm64.context("no arm64 figure")?;
    rows.push(if quick {
        Row::not_measured("P3q", "arm64 under QEMU emulation ÷ cross", "--quick skips the emulated build")
    } else {
        let took = emulated_arm64_build(sh, plan, image)?;
        figures.add("cross", arm64);
        figures.add("QEMU", took);
        Row::new(
            "P3q",
            "arm64 under QEMU emulation ÷ arm64 cross-compiled (same compile)",
            "(public reports: 5–10×)",
            format!("{:.1}× ({} ÷ {})", took.as_secs_f64() / arm64.as_secs_f64(), secs(took), secs(arm64)),
            None,
        )
        .note("emulated: one run, on a debootstrap --arch arm64 base with qemu-user-static")
    });
    Ok(rows)
}

/// The naive Dockerfile's compile for arm64 FROM an arm64 base: under QEMU, one run (many minutes).
fn emulated_arm64_build(sh: &Shell, plan: &Plan, image: &ImagePlan) -> Result<Duration> {
    let base = debian::foreign_base(sh, "arm64")?;
    let naive = ImagePlan {
        dockerfile: engine_dockerfile::write_naive(&sh.current_dir())?.into(),
        target: Some("naive".into()),
        ..single_platform(image, "linux/arm64")
    };
    // The toolchain stage first, so that only the compile, not Debian's toolchain install under
    // QEMU, is timed.
    let toolchain = ImagePlan { target: Some("toolchain".into()), ..naive.clone() };
    build::measure(sh, plan, &toolchain, Variant::Measure(&[]), &[("BASE", &base)])?;
    build::measure(sh, plan, &naive, Variant::Measure(&["naive"]), &[("BASE", &base)])
}

/// Sizes of one platform's runtime image from an archive: uncompressed layer bytes, and the bytes
/// of the shipped binary (`/app`) inside them.
fn image_and_binary_bytes(sh: &Shell, archive: &Path, manifest: &str) -> Result<(u64, u64)> {
    let (mut image, mut binary_bytes) = (0u64, 0u64);
    for blob in oci::layer_blobs(sh, archive, manifest)? {
        image += oci::uncompressed_bytes(sh, &blob)?;
        let listing = oci::layer_listing(sh, &blob)?;
        for line in listing.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.last().is_some_and(|name| name.trim_start_matches("./").trim_start_matches('/') == "app") {
                binary_bytes += fields.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
            }
        }
    }
    Ok((image, binary_bytes))
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn p4_size(sh: &Shell, plan: &Plan, image: &ImagePlan, quick: bool) -> Result<Vec<Row>> {
    let root = sh.current_dir();
    let record = BuildRecord::read_for(&root.join(&plan.out_dir), &plan.version.to_string(), &plan.git.sha)?;
    let built = record.images.iter().find(|b| b.name == image.name).context("image missing from the build record")?;
    let amd64 = built.platforms.iter().find(|p| p.platform == "linux/amd64").context("no linux/amd64 variant")?;
    let (image_bytes, binary_bytes) = image_and_binary_bytes(sh, &built.archive, &amd64.digest)?;
    let overhead = image_bytes.saturating_sub(binary_bytes);
    let mut rows = vec![Row::new(
        "P4",
        "runtime image size minus the shipped binary (linux/amd64, uncompressed)",
        "≤ 1 MiB",
        format!("{} ({} image − {} binary)", mib(overhead), mib(image_bytes), mib(binary_bytes)),
        Some(overhead <= 1024 * 1024),
    )
    .note(image.name.clone())];
    rows.push(if quick {
        Row::not_measured("P4n", "naive image of the same binary", "--quick skips the naive build")
    } else {
        let naive = ImagePlan {
            dockerfile: engine_dockerfile::write_naive(&root)?.into(),
            target: Some("naive".into()),
            ..single_platform(image, "linux/amd64")
        };
        build::measure(sh, plan, &naive, Variant::Measure(&[]), &[])?;
        let archive = root.join("target/xtask/bench/measure.oci.tar");
        let index = oci::read_archive(sh, &archive)?;
        let manifest = index.manifests.first().context("the naive build produced no image")?;
        let (naive_bytes, _) = image_and_binary_bytes(sh, &archive, &manifest.digest)?;
        Row::new(
            "P4n",
            "naive image of the same binary (toolchain and sources left in)",
            "(comparison)",
            format!("{} ({:.0}× the runtime image)", mib(naive_bytes), naive_bytes as f64 / image_bytes as f64),
            None,
        )
        .note("the bench's naive Dockerfile (crates/xtask-release/docker/naive.Dockerfile)")
    });
    Ok(rows)
}

/// P7, a fresh CI runner: the build cache exported to a registry (mode=max), the engine's own build
/// cache wiped (`docker buildx prune -af`, so this runs last), then the same build from the registry
/// cache alone, ÷ the cold build of P2.
pub fn p7_registry_cache(sh: &Shell, runs: usize, figures: &mut Figures) -> Result<Row> {
    let measure = "empty-engine rebuild from the registry cache ÷ cold build";
    let plan = plan::load(sh, &plan::Options::default())?;
    let image = plan.images.first().context("no image configured")?;
    let cold = figures.get("cold").context("P2's cold build was not measured")?;
    let registry = Rehearsal::start(sh)?;
    let reference = format!("{}/{}:buildcache", registry.namespace, image.name);
    let export = "mode=max,ignore-error=false,compression=zstd,compression-level=1";
    let cached = ImagePlan {
        cache_from: vec![format!("type=registry,ref={reference}")],
        cache_to: vec![format!("type=registry,ref={reference},{export}")],
        ..image.clone()
    };
    build::measure(sh, &plan, &cached, Variant::Image, &[])?;
    let mut compiled = Vec::new();
    let took = timed_runs(runs, |_| {
        engine::prune_build_cache(sh).context("cannot prune the build cache")?;
        let took = build::measure(sh, &plan, &cached, Variant::Measure(&[]), &[])?;
        let log = std::fs::read_to_string(sh.current_dir().join("target/xtask/bench/measure.log")).unwrap_or_default();
        compiled = compiled_crates(&log);
        Ok(took)
    })?;
    registry.remove()?;
    figures.add("empty engine, registry cache", took);
    let ratio = took.as_secs_f64() / cold;
    Ok(Row::new("P7", measure, "≤ 0.2", format!("{ratio:.2} ({} ÷ {cold:.1} s)", secs(took)), Some(ratio <= 0.2)).note(
        format!(
            "{}; {} crates compiled after the prune; the engine's build cache is gone afterwards",
            image.name,
            compiled.len()
        ),
    ))
}
