//! `cargo xtask doctor`: can this machine run the pipeline? Prints every check of `tools::doctor`
//! with its fix; preflight runs the same checks before a release builds anything.

use anyhow::Result;
use xshell::Shell;

use crate::commands::plan;
use crate::tools::doctor::{builder, checks, fail_on_problems, print};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub plan: plan::Options,
    /// Also check this buildx builder (a docker context of a second engine, a remote or multi-node
    /// BuildKit): its platforms, and whether it reaches the configured registry build cache.
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let plan = plan::load(sh, &args.plan)?;
    let mut checks = checks(sh, &plan);
    if let Some(name) = &args.builder {
        checks.push(builder(sh, name, &plan));
    }
    print(&checks);
    fail_on_problems(&checks)
}
