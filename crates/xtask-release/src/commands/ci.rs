//! `cargo xtask ci`: what every CI run does, the same on a laptop and in GitHub Actions — format,
//! clippy with warnings denied, the workspace's test suite (in two lanes at once, see `test_lanes`)
//! and, in one of those lanes, a rehearsal of the whole release (build every platform, smoke, scan,
//! push, verify, sign, move floating tags) against a throwaway registry that it starts on localhost
//! and removes afterwards. Ends with a table of steps and durations.
//!
//! `--compile-only` compiles what those checks run (clippy's analysis, the test binaries) and runs
//! none of them: work a CI script can start while the machine is still being set up (this
//! repository's `.ci/run` does, beside its testbed), which the checks then reuse.
//!
//! `--slow` adds the opt-in tier: the tests marked `#[ignore = "slow tier…"]` and an arm64 build
//! host — the toolchain stage forced to linux/arm64 (under QEMU here, native on an arm64 machine),
//! cross-compiling an image's linux/amd64 variant, which must pass its smoke test.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::commands::pipeline::{self, Pipeline};
use crate::commands::plan;
use crate::commands::rehearsal::Rehearsal;
use crate::commands::test_lanes;
use crate::console;
use crate::rules::plan::Plan;
use crate::steps::build::{self, Settings};
use crate::steps::{record, smoke, verdicts};
use crate::tools::process::Job;
use crate::tools::{cargo_checks, debian};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only rehearse the release (skip fmt, clippy and the test suite).
    #[arg(long)]
    pub rehearsal_only: bool,
    /// The buildx builder the rehearsal builds with instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
    #[command(flatten)]
    pub scan: plan::ScanOverrides,
    /// Also the slow checks: the tests marked #[ignore] (a reproducibility rebuild, the benchmarks'
    /// rows) and a build on an arm64 build host (emulated on amd64). Tens of minutes more.
    #[arg(long, conflicts_with = "rehearsal_only")]
    pub slow: bool,
    /// Only compile what the checks run (clippy's analysis and the test binaries) and run none of
    /// them: for a CI script to start while the machine is still being set up.
    #[arg(long, conflicts_with_all = ["rehearsal_only", "slow"])]
    pub compile_only: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let mut timings: Vec<(String, f64, bool)> = Vec::new();
    let result = run_steps(sh, &args, &mut timings);
    let table = summary(&timings);
    eprint!("{table}");
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|_| console::github_actions()) {
        record::append(std::path::Path::new(&path), &table)?;
    }
    result
}

fn run_steps(sh: &Shell, args: &Args, timings: &mut Vec<(String, f64, bool)>) -> Result<()> {
    let mut timed = |name: &str, grouped: bool, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let started = Instant::now();
        let result = if grouped { console::run(name, f) } else { console::run_ungrouped(name, f) };
        timings.push((name.to_owned(), started.elapsed().as_secs_f64(), result.is_ok()));
        result
    };
    if args.compile_only {
        // Both, whatever clippy says: the checks that follow report it.
        let clippy = timed("clippy", true, &mut || cargo_checks::clippy(sh));
        timed("compile tests", true, &mut || cargo_checks::compile_tests(sh))?;
        return clippy;
    }
    if !args.rehearsal_only {
        timed("fmt", true, &mut || cargo_checks::fmt_check(sh))?;
        timed("clippy", true, &mut || cargo_checks::clippy(sh))?;
        // The rehearsal opens a test lane, beside the other lane's tests (log: target/xtask/ci/rehearsal.log).
        timed("test + rehearsal", true, &mut || test_lanes::run(sh, &[], Some(("rehearsal", rehearsal_only()?))))?;
    }
    if args.slow {
        timed("slow tests", true, &mut || cargo_checks::ignored_tests(sh))?;
        timed("arm64 build host", true, &mut || arm64_build_host(sh))?;
    }
    if !args.rehearsal_only {
        return Ok(());
    }
    // The rehearsal's own steps are the log groups (Actions groups do not nest).
    timed("rehearsal", false, &mut || {
        let rehearsal = Rehearsal::start(sh)?;
        let options = plan::Options { registry: Some(rehearsal.namespace.clone()), ..Default::default() };
        let plan = plan::load_rehearsal(sh, &options, &args.scan)?;
        let pipeline = Pipeline { execute: true, builder: args.builder.clone(), rehearsal: true, ..Default::default() };
        pipeline::publish(sh, &plan, &pipeline)?;
        rehearsal.remove()
    })
}

/// This very `cargo xtask ci` as `--rehearsal-only`, with its other arguments (scan overrides,
/// builder) except `--slow`.
fn rehearsal_only() -> Result<Job> {
    let xtask = std::env::current_exe().context("cannot find the running xtask's executable")?;
    let args = std::env::args_os().skip(1).filter(|arg| arg != "--slow");
    Ok(Job::new(xtask, args.chain(["--rehearsal-only".into()])))
}

/// The toolchain on linux/arm64 building the linux/amd64 variant of the image with the most
/// platforms (the one meant to run everywhere), which then runs its smoke test here.
fn arm64_build_host(sh: &Shell) -> Result<()> {
    let all = plan::load(sh, &plan::Options::default())?;
    let mut image = all.images.iter().max_by_key(|i| i.platforms.len()).context("no image configured")?.clone();
    image.platforms = vec!["linux/amd64".to_owned()];
    let base = debian::foreign_base(sh, "arm64")?;
    let plan = Plan { images: vec![image.clone()], out_dir: "target/xtask/arm64-host".to_owned(), ..all };
    let settings = Settings {
        builder: None,
        build_args: vec![("TOOLCHAIN_PLATFORM".into(), "linux/arm64".into()), ("BUILDER_IMAGE".into(), base)],
        // The build log must be this run's, to prove where the toolchain ran.
        rebuild: true,
        ..Settings::default()
    };
    let record = build::build_all(sh, &plan, &settings)?;
    let log_path = sh.current_dir().join(&plan.out_dir).join("build").join(&image.name).join("build.log");
    let log = std::fs::read_to_string(&log_path).with_context(|| format!("cannot read {}", log_path.display()))?;
    if !log.contains("build=linux/arm64 target=linux/amd64") {
        bail!(
            "the toolchain did not run as linux/arm64 (see {}): the arm64 build host was not tested",
            log_path.display()
        );
    }
    console::progress!("    {}: linux/amd64 cross-compiled on a linux/arm64 toolchain", image.name);
    let mut verdicts = verdicts::Store::at(&sh.current_dir().join(&plan.out_dir));
    smoke::run(sh, &plan, &record, &mut verdicts).map(drop)
}

fn summary(timings: &[(String, f64, bool)]) -> String {
    let mut table = String::from("\n### cargo xtask ci\n\n| step | seconds | result |\n|---|---:|---|\n");
    for (name, seconds, ok) in timings {
        table.push_str(&format!("| {name} | {seconds:.1} | {} |\n", if *ok { "ok" } else { "FAILED" }));
    }
    table
}
