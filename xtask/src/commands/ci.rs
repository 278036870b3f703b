//! `cargo xtask ci`: what every CI run does, the same on a laptop and in GitHub Actions — format,
//! clippy with warnings denied, the test suite, then a rehearsal of the whole release (build every
//! platform, smoke, scan, push, verify, sign, move floating tags) against a throwaway registry that
//! it starts on localhost and removes afterwards. Ends with a table of steps and durations.

use std::time::Instant;

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::commands::plan;
use crate::commands::rehearsal::Rehearsal;
use crate::commands::release::{self, Pipeline};
use crate::console;
use crate::steps::record;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only rehearse the release (skip fmt, clippy and the test suite).
    #[arg(long)]
    pub rehearsal_only: bool,
    /// The buildx builder to use.
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
    #[command(flatten)]
    pub scan: plan::ScanOverrides,
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
    if !args.rehearsal_only {
        timed("fmt", true, &mut || Ok(cmd!(sh, "cargo fmt --all -- --check").run()?))?;
        timed("clippy", true, &mut || {
            Ok(cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings").run()?)
        })?;
        timed("test", true, &mut || Ok(cmd!(sh, "cargo test --workspace --locked").run()?))?;
    }
    // The rehearsal's own steps are the log groups (Actions groups do not nest).
    timed("rehearsal", false, &mut || {
        let rehearsal = Rehearsal::start(sh)?;
        let options = plan::Options { registry: Some(rehearsal.namespace.clone()), ..Default::default() };
        let plan = plan::load_rehearsal(sh, &options, &args.scan)?;
        let pipeline = Pipeline { execute: true, builder: args.builder.clone(), rehearsal: true };
        release::publish(sh, &plan, &pipeline)?;
        rehearsal.remove()
    })
}

fn summary(timings: &[(String, f64, bool)]) -> String {
    let mut table = String::from("\n### cargo xtask ci\n\n| step | seconds | result |\n|---|---:|---|\n");
    for (name, seconds, ok) in timings {
        table.push_str(&format!("| {name} | {seconds:.1} | {} |\n", if *ok { "ok" } else { "FAILED" }));
    }
    table
}
