//! `cargo xtask plan`: gathers what decides a release — cargo metadata, git, GitHub Actions'
//! variables and flags — and prints the plan the pure `rules::plan::compute` makes of it. `build`,
//! `scan` and `release` load the same plan the same way. It writes nothing and talks to no daemon
//! or registry.

use anyhow::{Context, Result};
use xshell::Shell;

use crate::rules::context::CiEnv;
use crate::rules::plan::{compute, Inputs, Plan};
use crate::rules::plan_text;
use crate::tools::{cargo, git};

/// What decides the plan besides the workspace; `build`, `scan` and `release` flatten these.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Options {
    /// Plan for this git ref instead of the detected one: refs/tags/vX.Y.Z, refs/heads/BRANCH or
    /// refs/pull/N/merge.
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Push to HOST[:PORT]/NAMESPACE instead of each repository's registry and namespace, keeping the
    /// image name (e.g. localhost:5000/acme). Default: $XTASK_REGISTRY.
    #[arg(long, value_name = "HOST[:PORT]/NAMESPACE")]
    pub registry: Option<String>,
    /// Only this image (repeatable; default: every configured image), e.g. one image per CI runner.
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
}

/// `cargo xtask plan`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub options: Options,
    /// Print the plan as JSON (schema_version 1, see docs/plan-schema.md).
    #[arg(long)]
    pub json: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let plan = load(sh, &args.options)?;
    if args.json {
        let json = serde_json::to_string_pretty(&plan).context("could not serialize the plan")?;
        println!("{json}");
    } else {
        print!("{}", plan_text::render(&plan));
    }
    Ok(())
}

/// Gathers the inputs from cargo metadata, git and the environment, and computes the plan.
pub fn load(sh: &Shell, opts: &Options) -> Result<Plan> {
    compute(&inputs(sh, opts)?)
}

/// The plan a rehearsal publishes: a release of the workspace version as a developer would make it
/// here, whatever CI event is running (a pull request rehearses the release it would become).
pub fn load_rehearsal(sh: &Shell, opts: &Options) -> Result<Plan> {
    let mut inputs = inputs(sh, opts)?;
    inputs.ci.github_actions = false;
    inputs.ci.event_name = None;
    inputs.ci.git_ref = None;
    inputs.ref_override = None;
    // A throwaway registry: a retracted workspace version still rehearses (a real release refuses it).
    inputs.git.retracted_tags.clear();
    compute(&inputs)
}

/// What decides a plan: cargo metadata, git, GitHub Actions' variables and `opts`.
pub fn inputs(sh: &Shell, opts: &Options) -> Result<Inputs> {
    let workspace = cargo::load(sh)?;
    let git = git::state(sh)?;
    if git.shallow {
        eprintln!(
            "warning: shallow clone: floating tags are decided from the release tags fetched; \
             fetch all tags (actions/checkout `fetch-depth: 0`) so a hotfix can't move `latest`"
        );
    }
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let inputs = Inputs {
        version: workspace.version.clone(),
        config: workspace.config()?,
        packages: workspace.packages(),
        git,
        ci: CiEnv {
            github_actions: env("GITHUB_ACTIONS").as_deref() == Some("true"),
            gha_cache: env("ACTIONS_RUNTIME_TOKEN").is_some()
                && (env("ACTIONS_CACHE_URL").is_some() || env("ACTIONS_RESULTS_URL").is_some()),
            event_name: env("GITHUB_EVENT_NAME"),
            git_ref: env("GITHUB_REF"),
        },
        ref_override: opts.git_ref.clone(),
        registry: opts.registry.clone().or_else(|| env("XTASK_REGISTRY")),
        only_images: opts.images.clone(),
    };
    Ok(inputs)
}
