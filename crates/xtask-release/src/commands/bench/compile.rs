//! Row P11 of `cargo xtask bench`: a cold release's build step ÷ the raw compile of the same binary.
//!
//! The floor of a release is the compile. Both arms run in the same run, on the first image, with
//! every platform it builds, through the same toolchain (the Dockerfile's `toolchain-target` stage,
//! cached for both: the host's own rustc is another compiler and cannot build the cross targets):
//!
//! * the release: the image's build as the build step runs it, with its compile stages (`deps`,
//!   `build`) not cached — the recipe stubs, both compiles, cargo-auditable, the runtime and the
//!   OCI export;
//! * the raw compile: `cargo build --release --offline -p PACKAGE --bin BIN` of the same sources,
//!   vendored crates and target, in a stage appended to a copy of the image's Dockerfile
//!   ([`RAW_STAGES`]), nothing else.
//!
//! The note breaks the release's build down by Dockerfile stage (`rules::build_log`), so the gap
//! shows where it is.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use xshell::Shell;

use super::{gateway, secs, timed_runs, Figures, Row};
use crate::commands::plan;
use crate::rules::build_log;
use crate::rules::plan::{ImagePlan, Plan};
use crate::steps::build::{self, Variant};

/// The stages of the engine's build contract that compile (as in the `P2` row).
const COMPILE_STAGES: &[&str] = &["deps", "build"];
/// The raw compile's stage, not cached when measured.
const RAW_COMPILE: &[&str] = &["bench-raw-compile"];
/// Appended to a copy of the image's Dockerfile: the same toolchain, sources and vendored crates
/// as the `build` stage, and only `cargo build`.
const RAW_STAGES: &str = r#"
FROM toolchain-target AS bench-raw-compile
COPY --from=source / /src/
ARG PACKAGE
ARG BIN
RUN --network=none --mount=type=bind,from=vendor,target=/vendor \
    --mount=type=bind,from=vendor,source=.cargo/config.toml,target=/.cargo/config.toml \
    . /usr/local/etc/cross.env \
    && env -C /src cargo build --release --offline -p "$PACKAGE" --bin "$BIN" \
    && install -D "$CARGO_TARGET_DIR/$CARGO_BUILD_TARGET/release/$BIN" /out/app

FROM scratch AS bench-raw
COPY --from=bench-raw-compile /out/app /app
"#;

/// Where `build::measure` leaves the last measured build's progress log.
const MEASURE_LOG: &str = "target/xtask/bench/measure.log";

/// P11 on `image` (the example service's first image): medians of `runs` of each arm, side by side
/// in one run.
pub fn p11(sh: &Shell, plan: &Plan, image: &ImagePlan, runs: usize, figures: &mut Figures) -> Result<Row> {
    measure(sh, plan, image, runs, figures, "P11")
}

/// P11r: P11 on the generated gateway (`gateway`): a realistic dependency tree, thin LTO. With
/// `--quick`, its first platform only (each arm compiles ~200 crates).
pub fn p11_gateway(sh: &Shell, runs: usize, quick: bool, figures: &mut Figures) -> Result<Row> {
    let dir = sh.current_dir().join(gateway::DIR);
    gateway::generate(sh, &dir)?;
    let _in_dir = sh.push_dir(&dir);
    let plan = plan::load(sh, &plan::Options::default())?;
    let mut image = plan.images.first().context("the generated gateway has no image")?.clone();
    if quick {
        image.platforms.truncate(1);
    }
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).context("the gateway's Cargo.lock")?;
    let packages = lock.matches("[[package]]").count();
    let row = measure(sh, &plan, &image, runs, figures, "P11r")?;
    let note =
        format!("{}; {packages} packages in its lock file, release profile thin LTO and one codegen unit", row.note);
    Ok(Row { note, ..row })
}

fn measure(sh: &Shell, plan: &Plan, image: &ImagePlan, runs: usize, figures: &mut Figures, id: &str) -> Result<Row> {
    let root = sh.current_dir();
    let raw_image = raw_image(&root, image)?;
    // Warm the cached stages before timing either arm: the toolchain, the vendored crates and the
    // runtime, which the raw arm's copy of the Dockerfile shares (same instructions, same cache).
    build::measure(sh, plan, image, Variant::Measure(&[]), &[])?;
    let mut stages = Vec::new();
    let release = timed_runs(runs, |_| {
        let took = build::measure(sh, plan, image, Variant::Measure(COMPILE_STAGES), &[])?;
        stages = stage_breakdown(&root)?;
        Ok(took)
    })?;
    let raw = timed_runs(runs, |_| build::measure(sh, plan, &raw_image, Variant::Measure(RAW_COMPILE), &[]))?;
    figures.add(format!("{id} release build step"), release);
    figures.add(format!("{id} raw cargo build"), raw);
    Ok(row(id, image, release, raw, &stages))
}

fn row(id: &str, image: &ImagePlan, release: Duration, raw: Duration, stages: &[(String, f64)]) -> Row {
    let ratio = release.as_secs_f64() / raw.as_secs_f64();
    let breakdown: Vec<String> = stages.iter().map(|(stage, s)| format!("{stage} {s:.1} s")).collect();
    Row::new(
        id,
        "cold release build step ÷ raw `cargo build --release` of the same binary, targets and toolchain",
        "≤ 1.3",
        format!("{ratio:.2} ({} ÷ {})", secs(release), secs(raw)),
        Some(ratio <= 1.3),
    )
    .note(format!(
        "{}: {}; the release's build by stage (busy seconds, platforms side by side): {}",
        image.name,
        image.platforms.join(", "),
        breakdown.join(", ")
    ))
}

/// The image built from a copy of its Dockerfile with [`RAW_STAGES`] appended, to `bench-raw`.
fn raw_image(root: &Path, image: &ImagePlan) -> Result<ImagePlan> {
    let original = root.join(&image.dockerfile);
    let text = std::fs::read_to_string(&original).with_context(|| format!("cannot read {}", original.display()))?;
    let dir = root.join("target/xtask/bench/raw");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let copy = dir.join("Dockerfile");
    std::fs::write(&copy, format!("{text}{RAW_STAGES}")).with_context(|| format!("cannot write {}", copy.display()))?;
    let ignore = root.join(format!("{}.dockerignore", image.dockerfile));
    if let Ok(rules) = std::fs::read_to_string(&ignore) {
        let beside = dir.join("Dockerfile.dockerignore");
        std::fs::write(&beside, rules).with_context(|| format!("cannot write {}", beside.display()))?;
    }
    Ok(ImagePlan {
        dockerfile: copy.display().to_string(),
        target: Some("bench-raw".into()),
        service: None,
        ..image.clone()
    })
}

/// The last measured build's seconds per Dockerfile stage.
fn stage_breakdown(root: &Path) -> Result<Vec<(String, f64)>> {
    let log = root.join(MEASURE_LOG);
    let text = std::fs::read_to_string(&log).with_context(|| format!("cannot read the build log {}", log.display()))?;
    Ok(build_log::stage_seconds(&text))
}
