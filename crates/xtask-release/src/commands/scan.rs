//! `cargo xtask scan`: the scan step of a release on its own, against the images the last
//! `cargo xtask build` recorded for this commit. It first checks the ignore file and fetches the
//! vulnerability DB, as a release's preflight does. Holds the workspace lock of its images.

use anyhow::Result;
use xshell::Shell;

use crate::commands::plan;
use crate::console;
use crate::steps::build_record::BuildRecord;
use crate::steps::verdicts::Store;
use crate::steps::{scan, vulndb};
use crate::tools::flock;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    #[command(flatten)]
    pub plan: plan::Options,
    #[command(flatten)]
    pub scan: plan::ScanOverrides,
    /// Print the scan summary (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let plan = plan::load_with(sh, &args.plan, &args.scan)?;
    let root = sh.current_dir();
    let _lock = flock::lock_for(&root, "scan", plan.images.iter().map(|i| i.name.as_str()))?;
    let out = root.join(&plan.out_dir);
    let record = BuildRecord::read_for(&out, &plan.version.to_string(), &plan.git.sha)?;
    let mut verdicts = Store::at(&out);
    let summary = console::run("scan", || {
        scan::valid_exceptions(&root, &plan.scan)?;
        let db = vulndb::fetch(sh, &plan)?;
        scan::scan(sh, &plan, &record, db.as_ref(), &mut verdicts)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}
