//! `cargo xtask doctor`: can this machine run the pipeline? Prints every check of `tools::doctor`
//! with its fix; preflight runs the same checks before a release builds anything.

use anyhow::Result;
use xshell::Shell;

use crate::commands::plan;
use crate::tools::doctor::{checks, fail_on_problems, print};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub plan: plan::Options,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let plan = plan::load(sh, &args.plan)?;
    let checks = checks(sh, &plan);
    print(&checks);
    fail_on_problems(&checks)
}
