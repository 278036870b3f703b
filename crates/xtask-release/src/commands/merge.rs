//! `cargo xtask release merge DIR…`: the second half of a release built one platform per runner.
//! The per-platform jobs (`release --execute --image I --platform P`) each pushed one variant by
//! digest and wrote its record; this admits them (every configured platform of each selected image,
//! passing verdicts under this run's policy, one DB source, this commit: otherwise nothing is
//! tagged, and the error names each missing, failed or foreign variant), assembles the index a
//! one-engine build would, and runs the rest of the publish path (`commands::pipeline`) on it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::commands::pipeline::{publish, Pipeline};
use crate::commands::plan;
use crate::rules::fanout;
use crate::steps::record;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directories holding the variants' records (a variant job's `OUT_DIR/variant`), or whose
    /// subdirectories do, e.g. the artifacts the variant jobs uploaded.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub plan: plan::Options,
    #[command(flatten)]
    pub scan: plan::ScanOverrides,
    /// Print the release record (JSON) on stdout when the merge completes.
    #[arg(long)]
    pub json: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let plan = fanout::merge_plan(&plan::load_with(sh, &args.plan, &args.scan)?);
    let pipeline = Pipeline { execute: true, variants: args.dirs, ..Default::default() };
    publish(sh, &plan, &pipeline)?;
    if args.json {
        let path = sh.current_dir().join(&plan.out_dir).join(record::FILE);
        print!("{}", std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?);
    }
    Ok(())
}
