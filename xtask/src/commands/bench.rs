//! `cargo xtask bench`: the pipeline measured against its goals, in one run on this machine, on a
//! scratch copy of the workspace (so code edits never touch yours). Medians of several runs; ratios
//! from figures taken in the same run. Benchmarks are not tests: nothing here fails on a time.
//!
//! P1 no-change rebuild · P2 code-only rebuild ÷ cold build · P3 arm64 ÷ amd64 cross builds, and
//! QEMU-emulated arm64 ÷ cross arm64 · P4 runtime image minus its binary, and a naive image · P5 cold
//! xtask compile and warm `cargo xtask plan` · P6 re-releasing unchanged content.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::commands::plan;
use crate::commands::rehearsal::Rehearsal;
use crate::commands::release::{self, Pipeline};
use crate::rules::plan::{ImagePlan, Plan};
use crate::steps::build::{self, Settings, Variant};
use crate::tools::{docker, oci};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// One run per figure, no cold `--no-cache` build and no QEMU build: checks every row works.
    #[arg(long)]
    pub quick: bool,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
    /// Runs per timed figure; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    #[command(flatten)]
    pub scan: plan::ScanOverrides,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub id: &'static str,
    pub measure: &'static str,
    pub goal: String,
    pub figure: String,
    /// `None` where the row compares rather than meets a goal, or was not measured.
    pub pass: Option<bool>,
    pub note: String,
}

const ARM64_BASE: &str = "xtask-bench/debian-arm64:trixie";

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    docker::require_engine(sh)?;
    let root = sh.current_dir();
    let runs = if args.quick { 1 } else { args.runs.max(1) };
    let copy = scratch_copy(sh, &root)?;
    let mut rows = Vec::new();
    {
        let _in_copy = sh.push_dir(&copy);
        let plan = plan::load(sh, &plan::Options::default())?;
        let image = plan.images.first().context("no image configured")?.clone();
        rows.push(p1_no_change(sh, &plan, runs)?);
        rows.push(p2_code_change(sh, &plan, &image, runs, args.quick)?);
        rows.extend(p3_arm64(sh, &plan, &image, runs, args.quick)?);
        rows.extend(p4_size(sh, &plan, &image, args.quick)?);
    }
    rows.extend(p5_xtask(sh, &root, &copy, runs)?);
    {
        let _in_copy = sh.push_dir(&copy);
        rows.push(p6_rerelease(sh, &args)?);
    }
    if args.json {
        let machine = machine(sh);
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "machine": machine, "rows": rows }))?);
    } else {
        println!("{}", table(&machine(sh), &rows));
    }
    Ok(())
}

/// A committed copy of the workspace under target/, sharing the build cache directory.
fn scratch_copy(sh: &Shell, root: &Path) -> Result<PathBuf> {
    let copy = root.join("target/xtask/bench/workspace");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(copy.join("target/xtask"))?;
    for entry in ["Cargo.toml", "Cargo.lock", ".dockerignore", ".cargo", "crates", "docker", "xtask"] {
        let from = root.join(entry);
        cmd!(sh, "cp -a {from} {copy}").quiet().run().with_context(|| format!("cannot copy {entry}"))?;
    }
    let cache = root.join("target/xtask/cache");
    std::fs::create_dir_all(&cache)?;
    std::os::unix::fs::symlink(&cache, copy.join("target/xtask/cache"))?;
    std::fs::write(copy.join(".gitignore"), "/target\n")?;
    let _in_copy = sh.push_dir(&copy);
    let _identity = [
        sh.push_env("GIT_AUTHOR_NAME", "bench"),
        sh.push_env("GIT_AUTHOR_EMAIL", "bench@localhost"),
        sh.push_env("GIT_COMMITTER_NAME", "bench"),
        sh.push_env("GIT_COMMITTER_EMAIL", "bench@localhost"),
    ];
    cmd!(sh, "git init --quiet --initial-branch=main").quiet().run()?;
    cmd!(sh, "git add --all").quiet().run()?;
    cmd!(sh, "git commit --quiet --message bench").quiet().run()?;
    Ok(copy)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn timed_runs(runs: usize, mut f: impl FnMut(usize) -> Result<Duration>) -> Result<Duration> {
    Ok(median((0..runs).map(&mut f).collect::<Result<Vec<_>>>()?))
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn p1_no_change(sh: &Shell, plan: &Plan, runs: usize) -> Result<Row> {
    build::build_all(sh, plan, &Settings::default())?; // warm: cache filled, image loaded
    let took = timed_runs(runs, |_| {
        let started = Instant::now();
        build::build_all(sh, plan, &Settings::default())?;
        Ok(started.elapsed())
    })?;
    Ok(Row {
        id: "P1",
        measure: "no-change rebuild of every platform (cache hit): build, provenance, load, record",
        goal: "≤ 3 s".into(),
        figure: secs(took),
        pass: Some(took <= Duration::from_secs(3)),
        note: String::new(),
    })
}

/// Appends a comment to the service's main.rs: a one-line code change that recompiles it.
fn touch_service(sh: &Shell, image: &ImagePlan, n: usize) -> Result<()> {
    let main = sh.current_dir().join("crates").join(&image.package).join("src/main.rs");
    let mut text = std::fs::read_to_string(&main).with_context(|| format!("cannot read {}", main.display()))?;
    text.push_str(&format!("// bench edit {n} {:?}\n", Instant::now()));
    std::fs::write(&main, text)?;
    Ok(())
}

fn p2_code_change(sh: &Shell, plan: &Plan, image: &ImagePlan, runs: usize, quick: bool) -> Result<Row> {
    let (cold_variant, cold_name) = if quick {
        (Variant::Measure(&["deps", "build"]), "toolchain cached (--quick)")
    } else {
        (Variant::Uncached, "--no-cache")
    };
    let cold = timed_runs(runs, |_| build::measure(sh, plan, image, cold_variant, &[]))?;
    let code = timed_runs(runs, |n| {
        touch_service(sh, image, n)?;
        build::measure(sh, plan, image, Variant::Measure(&[]), &[])
    })?;
    let ratio = code.as_secs_f64() / cold.as_secs_f64();
    Ok(Row {
        id: "P2",
        measure: "code-only change rebuild ÷ cold build (both platforms)",
        goal: "≤ 0.25".into(),
        figure: format!("{ratio:.2} ({} ÷ {})", secs(code), secs(cold)),
        pass: Some(ratio <= 0.25),
        note: format!("cold = {cold_name}"),
    })
}

fn single_platform(image: &ImagePlan, platform: &str) -> ImagePlan {
    ImagePlan { platforms: vec![platform.to_owned()], ..image.clone() }
}

fn p3_arm64(sh: &Shell, plan: &Plan, image: &ImagePlan, runs: usize, quick: bool) -> Result<Vec<Row>> {
    let compile = Variant::Measure(&["deps", "build"]);
    let amd64 = timed_runs(runs, |_| build::measure(sh, plan, &single_platform(image, "linux/amd64"), compile, &[]))?;
    let arm64 = timed_runs(runs, |_| build::measure(sh, plan, &single_platform(image, "linux/arm64"), compile, &[]))?;
    let ratio = arm64.as_secs_f64() / amd64.as_secs_f64();
    let mut rows = vec![Row {
        id: "P3",
        measure: "arm64 ÷ amd64 build, cross-compiled (dependencies + service, toolchain cached)",
        goal: "≤ 1.3".into(),
        figure: format!("{ratio:.2} ({} ÷ {})", secs(arm64), secs(amd64)),
        pass: Some(ratio <= 1.3),
        note: String::new(),
    }];
    let emulated = if quick {
        None
    } else {
        ensure_arm64_base(sh)?;
        let naive = ImagePlan {
            dockerfile: "docker/bench/naive.Dockerfile".into(),
            target: Some("naive".into()),
            ..single_platform(image, "linux/arm64")
        };
        // The toolchain stage first, so that only the compile, not Debian's toolchain install under
        // QEMU, is timed; and one timed run: emulated, it takes many minutes.
        let toolchain = ImagePlan { target: Some("toolchain".into()), ..naive.clone() };
        build::measure(sh, plan, &toolchain, Variant::Measure(&[]), &[("BASE", ARM64_BASE)])?;
        Some(build::measure(sh, plan, &naive, Variant::Measure(&["naive"]), &[("BASE", ARM64_BASE)])?)
    };
    rows.push(match emulated {
        Some(took) => Row {
            id: "P3q",
            measure: "arm64 under QEMU emulation ÷ arm64 cross-compiled (same compile)",
            goal: "(public reports: 5–10×)".into(),
            figure: format!("{:.1}× ({} ÷ {})", took.as_secs_f64() / arm64.as_secs_f64(), secs(took), secs(arm64)),
            pass: None,
            note: "emulated: one run, on a debootstrap --arch arm64 base with qemu-user-static".into(),
        },
        None => Row {
            id: "P3q",
            measure: "arm64 under QEMU emulation ÷ cross",
            goal: "-".into(),
            figure: "not measured".into(),
            pass: None,
            note: "--quick skips the emulated build".into(),
        },
    });
    Ok(rows)
}

/// Debian trixie for arm64 as a local base image, made with debootstrap (nothing can be pulled).
fn ensure_arm64_base(sh: &Shell) -> Result<()> {
    if cmd!(sh, "docker image inspect {ARM64_BASE}").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        return Ok(());
    }
    let rootfs = sh.current_dir().join("target/xtask/bench/arm64-rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    eprintln!("    making {ARM64_BASE} with debootstrap --arch arm64 (once; several minutes under QEMU)");
    cmd!(sh, "debootstrap --arch=arm64 --variant=minbase trixie {rootfs} http://deb.debian.org/debian")
        .quiet()
        .ignore_stdout()
        .run()
        .context("debootstrap --arch arm64 failed: it needs root, debootstrap and qemu-user-static with binfmt")?;
    let tarball = rootfs.with_extension("tar");
    cmd!(sh, "tar -C {rootfs} -cf {tarball} .").quiet().run()?;
    cmd!(sh, "docker import --platform linux/arm64 {tarball} {ARM64_BASE}").quiet().ignore_stdout().run()?;
    let _ = std::fs::remove_dir_all(&rootfs);
    let _ = std::fs::remove_file(&tarball);
    Ok(())
}

/// Sizes of one platform's runtime image from the build record's archive: uncompressed layer
/// bytes, and the bytes of the service binary inside them.
fn image_and_binary_bytes(sh: &Shell, archive: &Path, manifest: &str, binary: &str) -> Result<(u64, u64)> {
    let (mut image, mut binary_bytes) = (0u64, 0u64);
    for blob in oci::layer_blobs(sh, archive, manifest)? {
        image += cmd!(sh, "gzip -dc").stdin(&blob).quiet().output()?.stdout.len() as u64;
        let listing = cmd!(sh, "tar -tvzf -").stdin(&blob).quiet().read()?;
        for line in listing.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.last().is_some_and(|name| name.trim_start_matches("./") == binary) {
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
    let record = crate::steps::build_record::BuildRecord::read_for(&root, &plan.version.to_string(), &plan.git.sha)?;
    let built = record.images.iter().find(|b| b.name == image.name).context("image missing from the build record")?;
    let amd64 = built.platforms.iter().find(|p| p.platform == "linux/amd64").context("no linux/amd64 variant")?;
    let (image_bytes, binary_bytes) = image_and_binary_bytes(sh, &built.archive, &amd64.digest, &image.package)?;
    let overhead = image_bytes.saturating_sub(binary_bytes);
    let mut rows = vec![Row {
        id: "P4",
        measure: "runtime image size minus the service binary (linux/amd64, uncompressed)",
        goal: "≤ 1 MiB".into(),
        figure: format!("{} ({} image − {} binary)", mib(overhead), mib(image_bytes), mib(binary_bytes)),
        pass: Some(overhead <= 1024 * 1024),
        note: String::new(),
    }];
    rows.push(if quick {
        Row {
            id: "P4n",
            measure: "naive image of the same service",
            goal: "-".into(),
            figure: "not measured".into(),
            pass: None,
            note: "--quick skips the naive build".into(),
        }
    } else {
        let naive = ImagePlan {
            dockerfile: "docker/bench/naive.Dockerfile".into(),
            target: Some("naive".into()),
            ..single_platform(image, "linux/amd64")
        };
        build::measure(sh, plan, &naive, Variant::Measure(&[]), &[])?;
        let archive = root.join("target/xtask/bench/measure.oci.tar");
        let index = oci::read_archive(sh, &archive)?;
        let manifest = index.manifests.first().context("the naive build produced no image")?;
        let (naive_bytes, _) = image_and_binary_bytes(sh, &archive, &manifest.digest, &image.package)?;
        Row {
            id: "P4n",
            measure: "naive image of the same service (toolchain and sources left in)",
            goal: "(comparison)".into(),
            figure: format!("{} ({:.0}× the runtime image)", mib(naive_bytes), naive_bytes as f64 / image_bytes as f64),
            pass: None,
            note: "docker/bench/naive.Dockerfile".into(),
        }
    });
    Ok(rows)
}

fn p5_xtask(sh: &Shell, root: &Path, copy: &Path, runs: usize) -> Result<Vec<Row>> {
    let target = copy.join("target/cold-xtask");
    let cold = timed_runs(runs, |_| {
        let _ = std::fs::remove_dir_all(&target);
        let started = Instant::now();
        cmd!(sh, "cargo build --quiet --offline --package xtask").env("CARGO_TARGET_DIR", &target).run()?;
        Ok(started.elapsed())
    })?;
    let _ = std::fs::remove_dir_all(&target);
    let _in_root = sh.push_dir(root);
    cmd!(sh, "cargo xtask plan").quiet().ignore_stdout().ignore_stderr().run()?;
    let plan = timed_runs(runs.max(5) * 2, |_| {
        let started = Instant::now();
        cmd!(sh, "cargo xtask plan").quiet().ignore_stdout().ignore_stderr().run()?;
        Ok(started.elapsed())
    })?;
    Ok(vec![
        Row {
            id: "P5",
            measure: "cold compile of the xtask (`cargo build -p xtask`, crates already downloaded)",
            goal: "≤ 25 s".into(),
            figure: secs(cold),
            pass: Some(cold <= Duration::from_secs(25)),
            note: String::new(),
        },
        Row {
            id: "P5p",
            measure: "warm `cargo xtask plan`, as typed (cargo's freshness check included)",
            goal: "≤ 150 ms".into(),
            figure: format!("{} ms", plan.as_millis()),
            pass: Some(plan <= Duration::from_millis(150)),
            note: String::new(),
        },
    ])
}

fn p6_rerelease(sh: &Shell, args: &Args) -> Result<Row> {
    let rehearsal = Rehearsal::start(sh)?;
    let options = plan::Options { git_ref: None, registry: Some(rehearsal.namespace.clone()) };
    let pipeline = Pipeline { execute: true, builder: None, rehearsal: true };
    // The scratch copy has uncommitted bench edits: commit them so both releases are of one commit.
    cmd!(sh, "git commit --quiet --all --allow-empty --message bench-release")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@localhost")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@localhost")
        .quiet()
        .run()?;
    let plan = plan::load_rehearsal(sh, &options, &args.scan)?;
    release::publish(sh, &plan, &pipeline)?;
    let (bytes, uploads) = (rehearsal.stored_bytes()?, rehearsal.blob_uploads()?);
    let started = Instant::now();
    release::publish(sh, &plan, &pipeline)?;
    let took = started.elapsed();
    let (added, more_uploads) = (rehearsal.stored_bytes()?.saturating_sub(bytes), rehearsal.blob_uploads()? - uploads);
    rehearsal.remove()?;
    Ok(Row {
        id: "P6",
        measure: "re-release of unchanged content to a local registry: bytes stored, wall time",
        goal: "0 B and ≤ 5 s".into(),
        figure: format!("{added} B in {more_uploads} blob uploads, {}", secs(took)),
        pass: Some(added == 0 && took <= Duration::from_secs(5)),
        note: "the whole pipeline runs again: build (cache hit), smoke, scan, then every push and signature is found in place".into(),
    })
}

fn machine(sh: &Shell) -> serde_json::Value {
    let read = |c: xshell::Cmd<'_>| c.quiet().ignore_stderr().read().unwrap_or_default();
    let format = "{{.Server.Version}}";
    serde_json::json!({
        "date": read(cmd!(sh, "date -u +%Y-%m-%d")),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory": read(cmd!(sh, "free -h")).lines().nth(1).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("").to_owned(),
        "kernel": read(cmd!(sh, "uname -r")),
        "docker": read(cmd!(sh, "docker version --format {format}")),
        "buildx": read(cmd!(sh, "docker buildx version")).split_whitespace().nth(1).unwrap_or("").to_owned(),
    })
}

fn table(machine: &serde_json::Value, rows: &[Row]) -> String {
    let mut out = format!(
        "machine: {} cores, {} memory, kernel {}, docker {}, buildx {} — {}\n\n| id | measure | goal | figure | result |\n|---|---|---|---|---|\n",
        machine["cores"], machine["memory"].as_str().unwrap_or(""), machine["kernel"].as_str().unwrap_or(""),
        machine["docker"].as_str().unwrap_or(""), machine["buildx"].as_str().unwrap_or(""), machine["date"].as_str().unwrap_or("")
    );
    for row in rows {
        let result = match row.pass {
            Some(true) => "pass",
            Some(false) => "MISS",
            None => "-",
        };
        let note = if row.note.is_empty() { String::new() } else { format!(" ({})", row.note) };
        out.push_str(&format!("| {} | {}{note} | {} | {} | {result} |\n", row.id, row.measure, row.goal, row.figure));
    }
    out
}
