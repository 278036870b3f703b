//! `cargo xtask build`: the plan's images built, loaded and smoke-tested, optionally twice to prove
//! the build reproducible (the build and smoke steps of a release, on their own), after the
//! configuration checks of a release's preflight (files, stages, a builder with the needed Rust).
//! Holds the workspace lock of its images (`tools::flock`) throughout.

use anyhow::Result;
use xshell::Shell;

use crate::commands::plan;
use crate::console;
use crate::steps::build::{self, Settings};
use crate::steps::preflight;
use crate::steps::smoke;
use crate::steps::verdicts::Store;
use crate::tools::flock;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub plan: plan::Options,
    /// The buildx builder to build with instead of the current one: a docker context of a second
    /// engine, or a remote or multi-node BuildKit.
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
    /// Build every image even where nothing it is built from changed since its last recorded build
    /// (by default such an image's recorded build is reused).
    #[arg(long)]
    pub rebuild: bool,
    /// Rebuild every image without cache and fail, showing both digests, if the index differs.
    #[arg(long)]
    pub check_reproducible: bool,
    /// Print the build record (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let plan = plan::load(sh, &args.plan)?;
    let _lock = flock::lock_for(&sh.current_dir(), "build", plan.images.iter().map(|i| i.name.as_str()))?;
    let settings = Settings { builder: args.builder, rebuild: args.rebuild, ..Default::default() };
    let mut verdicts = Store::at(&sh.current_dir().join(&plan.out_dir));
    console::run("preflight", || preflight::check_configuration(&sh.current_dir(), &plan))?;
    let record = console::run("build", || build::build_all(sh, &plan, &settings))?;
    console::run("smoke", || smoke::run(sh, &plan, &record, &mut verdicts))?;
    if args.check_reproducible {
        console::run("check reproducible", || build::check_reproducible(sh, &plan, &settings, &record))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    }
    Ok(())
}
