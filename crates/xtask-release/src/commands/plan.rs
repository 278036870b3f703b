//! `cargo xtask plan`: gathers what decides a release — cargo metadata, each image's dependency
//! graph (`cargo tree`), git, GitHub Actions' variables and flags — and prints the plan the pure
//! `rules::plan::compute` makes of it. `build`, `scan` and `release` load the same plan the same
//! way. It writes nothing but the engine's own Dockerfile under `target/xtask/engine/` and the
//! graphs it read under `target/xtask/dependency-graphs/`, and talks to no daemon or image
//! registry (cargo may fetch the locked crates the first time).

use anyhow::{Context, Result};
use xshell::Shell;

use crate::rules::config::Scanner;
use crate::rules::context::CiEnv;
use crate::rules::dockerfile;
use crate::rules::overrides::ScanChanges;
use crate::rules::plan::{compute, Inputs, Plan};
use crate::rules::plan_text;
use crate::rules::transport;
use crate::steps::dependency_graph;
use crate::tools::{cargo, engine_dockerfile, git, retry, rust_toolchain, secrets};

/// What decides the plan besides the workspace; `build`, `scan` and `release` flatten these.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Options {
    /// Act as if on this git ref instead of the detected one (it decides the tags): refs/tags/vX.Y.Z,
    /// refs/heads/BRANCH or refs/pull/N/merge.
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Use HOST[:PORT]/NAMESPACE in place of each configured repository's registry and namespace,
    /// keeping the image name (e.g. localhost:5000/acme), and of the registry cache's. Default:
    /// $XTASK_REGISTRY.
    #[arg(long, value_name = "HOST[:PORT]/NAMESPACE")]
    pub registry: Option<String>,
    /// Only this image (repeatable; default: every configured image), e.g. one image per CI runner.
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
}

/// Changes to the configured scan policy for one run; the plan applies them and marks them as
/// overrides (`plan`, `scan`, `release` and `ci` take them).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ScanOverrides {
    /// The scanners the scan runs instead of the configured ones (vuln, secret, misconfig), e.g.
    /// `secret,misconfig`.
    #[arg(long, value_delimiter = ',', value_parser = parse_scanner)]
    pub scanners: Option<Vec<Scanner>>,
    /// Where to get trivy's vulnerability DB instead of the configured db-repositories: OCI
    /// repositories REGISTRY/PATH:TAG, comma-separated, tried in order. Default: $XTASK_TRIVY_DB_REPOSITORY.
    #[arg(long, value_name = "REPOSITORY", value_delimiter = ',')]
    pub db_repository: Option<Vec<String>>,
}

/// The variable that names the vulnerability DB sources when `--db-repository` does not.
pub const DB_REPOSITORY_VAR: &str = "XTASK_TRIVY_DB_REPOSITORY";

fn parse_scanner(text: &str) -> Result<Scanner, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("unknown scanner {text:?}: use vuln, secret or misconfig"))
}

impl ScanOverrides {
    fn changes(&self) -> ScanChanges {
        let from_env = || {
            let value = std::env::var(DB_REPOSITORY_VAR).ok().filter(|v| !v.trim().is_empty())?;
            let repositories = value.split(',').map(|r| r.trim().to_owned()).collect();
            Some((repositories, DB_REPOSITORY_VAR.to_owned()))
        };
        ScanChanges {
            scanners: self.scanners.clone(),
            db_repositories: match &self.db_repository {
                Some(repositories) => Some((repositories.clone(), "--db-repository".to_owned())),
                None => from_env(),
            },
        }
    }
}

/// `cargo xtask plan`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub options: Options,
    #[command(flatten)]
    pub scan: ScanOverrides,
    /// Print the plan as JSON (schema_version 1, see docs/src/plan-schema.md).
    #[arg(long)]
    pub json: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let plan = load_with(sh, &args.options, &args.scan)?;
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
    load_with(sh, opts, &ScanOverrides::default())
}

/// [`load`], with this run's changes to the scan policy.
pub fn load_with(sh: &Shell, opts: &Options, scan: &ScanOverrides) -> Result<Plan> {
    with_dockerfiles(sh, compute(&inputs(sh, opts, scan)?)?)
}

/// The plan, once the engine's own Dockerfile is on disk for the images that build with it
/// (`target/xtask/engine/Dockerfile`, where preflight, buildx and trivy read it).
fn with_dockerfiles(sh: &Shell, plan: Plan) -> Result<Plan> {
    if plan.images.iter().any(|image| image.dockerfile == dockerfile::ENGINE_DOCKERFILE_PATH) {
        engine_dockerfile::write(&sh.current_dir())?;
    }
    Ok(plan)
}

/// The plan a rehearsal publishes: a release of the workspace version as a developer would make it
/// here, whatever CI event is running (a pull request rehearses the release it would become).
pub fn load_rehearsal(sh: &Shell, opts: &Options, scan: &ScanOverrides) -> Result<Plan> {
    let mut inputs = inputs(sh, opts, scan)?;
    inputs.ci.github_actions = false;
    inputs.ci.event_name = None;
    inputs.ci.git_ref = None;
    inputs.ref_override = None;
    // A throwaway registry: a retracted workspace version still rehearses (a real release refuses it).
    inputs.git.retracted_tags.clear();
    let mut plan = compute(&inputs)?;
    // Throwaway signatures, made with a throwaway key: never written to the public transparency log.
    plan.signing.tlog_upload = false;
    with_dockerfiles(sh, plan)
}

/// What decides a plan: cargo metadata, git, GitHub Actions' variables, `opts` and the scan overrides.
pub fn inputs(sh: &Shell, opts: &Options, scan: &ScanOverrides) -> Result<Inputs> {
    let workspace = cargo::load(sh)?;
    let git = git::state(sh)?;
    if git.shallow {
        eprintln!(
            "warning: shallow clone: floating tags are decided from the release tags fetched; \
             fetch all tags (actions/checkout `fetch-depth: 0`) so a hotfix can't move `latest`"
        );
    }
    // Secrets (the Actions cache's token) are out of the environment: `tools::secrets` holds them.
    let env = |name: &str| {
        let value = if secrets::is_secret(name) { secrets::get(name) } else { std::env::var(name).ok() };
        value.filter(|value| !value.is_empty())
    };
    let config = workspace.config()?;
    retry::configure(config.retry.policy()?);
    for registry in &config.insecure_registries {
        eprintln!(
            "warning: {registry} is listed in {}: where it does not speak TLS it is reached over plain HTTP, \
             unencrypted and unauthenticated (images, credentials and signatures in clear)",
            transport::SETTING
        );
    }
    let inputs = Inputs {
        version: workspace.version.clone(),
        versioning: workspace.versioning.clone(),
        config: config.clone(),
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
        scan_changes: scan.changes(),
        toolchain: rust_toolchain::facts(&workspace.metadata)?,
        dependency_graphs: dependency_graph::for_images(sh, &workspace.metadata, &config, &opts.images),
    };
    Ok(inputs)
}
